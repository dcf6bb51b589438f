"""A small Japanese BERT for everyday Japanese: masked-LM pretraining, then sentiment.

No pretrained Japanese weights are available offline, so the book builds its
own, in two stages, from the Japanese text on hand:

1. **Pretraining** (:func:`pretrain_mlm`): masked-language modelling
   (``BertForMaskedLM``; 15 % of the tokens chosen, of which 80 % become
   ``[MASK]``, 10 % a random token, 10 % stay; new masks every batch, seeded)
   on :func:`train_only_corpus`: every utterance and emotion transcription of
   the ETC Dataset's *train* dialogues, plus chABSA's *train* sentences (minus
   the part held out for validation). No validation or test text goes in, not
   even unlabelled: the function removes any training sentence that also
   occurs in a held-out split and asserts that none is left.
2. **Fine-tuning** (:func:`train_everyday_model`): sentiment on ETC train
   utterances and their emotion transcriptions (labels of
   :func:`helpers.data.etc.utterance_label`) plus chABSA's train part; the epoch
   is chosen on ETC valid utterances plus chABSA's validation part
   (:func:`helpers.train.train_classifier`), then both test splits are
   scored once.

The vocabulary is built from the same corpus by
:func:`helpers.ja.corpus.build_vocab` with ``min_freq=1``, so every word of
the training text (不運, 人間, 幸せ, 最高 ...) is one token; tokenizer and model
are the ones of :mod:`helpers.ja.model`. The same model *without* stage 1
(``pretrained=False``) measures what pretraining buys.

The MLM head scores only the tokens that occur in the corpus (13,082 of the
54,970 vocabulary entries with the defaults; most of the others are CJK
characters kept for display): the loss of a masked token is the
cross-entropy restricted to those candidates, and the output layer costs a
quarter of the full one. Models are cached under
:func:`helpers.config.data_dir` in folders whose names end with a
fingerprint of the settings and of the data (ETC content digest, chABSA
files), so a stale model is never reused.

Data: ETC Dataset (:data:`helpers.data.etc.LICENCE`, CC BY-NC 4.0, cite
:data:`helpers.data.etc.CITATION`) and chABSA (CC BY 4.0).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import (
    BertForMaskedLM,
    BertJapaneseTokenizer,
    get_linear_schedule_with_warmup,
)

from ..config import data_dir, display_path, seed_everything
from ..data import etc
from ..inputs import batches_by_length
from ..models import load_model
from ..tokens import encode
from ..train import ensure_checkpoint, evaluate, read_training_info, save_checkpoint
from .baselines import bow_accuracy, bow_logistic_regression, majority_baseline
from .corpus import (
    CHABSA_SOURCE,
    Corpus,
    build_vocab,
    find_chabsa,
    make_japanese_tokenizer,
    sentiment_data,
    train_only_corpus,
)
from .model import build_japanese_model, fine_tune
from .settings import JapaneseSettings, PretrainSettings, model_positions

__all__ = [
    "classifier_from_mlm",
    "describe_everyday_model",
    "everyday_checkpoint_path",
    "get_mlm",
    "load_everyday_model",
    "mask_tokens",
    "mlm_checkpoint_path",
    "mlm_loss",
    "mlm_schedule",
    "pretrain_mlm",
    "train_everyday_model",
]

#: Bump when the training code changes what a cached model would be
#: (3: the warm-up of transformers.get_linear_schedule_with_warmup).
FORMAT_VERSION = 3
IGNORE = -100


# --------------------------------------------------------------------------- #
# Masked-language modelling
# --------------------------------------------------------------------------- #
def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    *,
    mask_id: int,
    replacement_ids: torch.Tensor,
    prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: each maskable token is chosen with ``prob``; 80/10/10.

    ``input_ids``: long ``[batch, seq]``; ``maskable``: bool ``[batch, seq]``
    (False at special tokens and padding, which are never chosen).
    Of the chosen tokens 80 % become ``mask_id``, 10 % a token drawn from
    ``replacement_ids`` (long ``[n]``), 10 % stay. Returns ``(inputs, labels)``,
    both ``[batch, seq]``; ``labels`` holds the original id where a token was
    chosen and -100 elsewhere.
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must be between 0 and 1, got {prob}")
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & maskable
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    draw = torch.rand(input_ids.shape, generator=generator)
    inputs = input_ids.clone()
    inputs[chosen & (draw < 0.8)] = mask_id
    random_pos = chosen & (draw >= 0.8) & (draw < 0.9)
    picks = torch.randint(
        len(replacement_ids), (int(random_pos.sum()),), generator=generator
    )
    inputs[random_pos] = replacement_ids[picks]
    return inputs, labels


def mlm_loss(
    model, inputs: dict, labels: torch.Tensor, candidates: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the masked tokens over ``candidates`` only; also the hits.

    ``model``: a ``BertForMaskedLM``; ``inputs``: ``input_ids`` and
    ``attention_mask`` ``[batch, seq]``; ``labels``: ``[batch, seq]`` (-100 =
    not masked); ``candidates``: sorted long ``[c]`` holding every label.
    Returns the mean loss (scalar) and bool ``[n_masked]`` (correct guesses).
    """
    hidden = model.bert(**inputs).last_hidden_state
    chosen = labels != IGNORE
    head = model.cls.predictions
    h = head.transform(hidden[chosen])
    logits = F.linear(h, head.decoder.weight[candidates], head.decoder.bias[candidates])
    target = torch.searchsorted(candidates, labels[chosen])
    return F.cross_entropy(logits, target), logits.argmax(-1) == target


def _pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    return ids, ids != pad_id


def _adamw(params, lr: float, weight_decay: float):
    """AdamW, fused where this torch supports it (several times faster on CPU)."""
    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def mlm_schedule(optimizer, total: int, warmup_fraction: float):
    """Linear warm-up over ``warmup_fraction`` of the ``total`` steps, then decay.

    ``transformers.get_linear_schedule_with_warmup`` with
    ``int(warmup_fraction * total)`` warm-up steps, the rule of
    :func:`helpers.train.make_scheduler`.
    """
    warmup = int(warmup_fraction * total)
    return get_linear_schedule_with_warmup(optimizer, warmup, total)


def _encode(tokenizer, texts, max_length: int):
    """Token ids and special-token masks of ``texts``, and the MLM candidates.

    The candidates: sorted long ``[c]``, every non-special id of the corpus.
    """
    enc = encode(
        tokenizer,
        list(texts),
        truncation=True,
        max_length=max_length,
        return_special_tokens_mask=True,
    )
    rows, specials = enc["input_ids"], enc["special_tokens_mask"]
    words = {
        i
        for r, s in zip(rows, specials, strict=True)
        for i, sp in zip(r, s, strict=True)
        if not sp
    }
    return rows, specials, torch.tensor(sorted(words), dtype=torch.long)


def _mlm_step(model, optimizer, inputs, labels, candidates):
    """One optimizer step on a masked batch; ``(loss, correct)``."""
    loss, correct = mlm_loss(model, inputs, labels, candidates)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(loss.detach()), correct


def _mlm_epoch(model, tokenizer, data, batches, train, mask_prob, bar) -> dict:
    """One epoch over ``batches``; its history row (without epoch and seconds)."""
    rows, specials, candidates = data
    optimizer, scheduler, generator = train
    loss_sum, hits, n_masked, n_tokens = 0.0, 0, 0, 0
    model.train()
    for idx in bar(batches):
        ids, mask = _pad([rows[i] for i in idx], tokenizer.pad_token_id)
        special, _ = _pad([specials[i] for i in idx], 1)
        maskable = mask & (special == 0)
        inputs, labels = mask_tokens(
            ids,
            maskable,
            mask_id=tokenizer.mask_token_id,
            replacement_ids=candidates,
            prob=mask_prob,
            generator=generator,
        )
        n_tokens += int(maskable.sum())
        if (labels != IGNORE).any():
            inputs = {"input_ids": inputs, "attention_mask": mask.long()}
            loss, correct = _mlm_step(model, optimizer, inputs, labels, candidates)
            loss_sum += loss * len(correct)
            hits += int(correct.sum())
            n_masked += len(correct)
        scheduler.step()
    return {
        "loss": loss_sum / max(n_masked, 1),
        "accuracy": hits / max(n_masked, 1),
        "masked": n_masked / max(n_tokens, 1),
    }


def _save_state(path: Path, settings: PretrainSettings, model, train, history):
    """Save the state after an epoch: weights, optimizer, schedule, generators."""
    optimizer, scheduler, generator = train
    state = {
        "format": FORMAT_VERSION,
        "settings": asdict(settings),
        "history": history,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
    }
    part = path.with_name(f"{path.name}.part")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.save(state, part)
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _resume(path: Path, settings: PretrainSettings, model, train) -> list[dict]:
    """Restore the state that :func:`_save_state` left in ``path``; its history.

    ``[]`` (start afresh) when there is none, or it is unreadable or of other
    settings.
    """
    if not path.is_file():
        return []
    try:
        state = torch.load(path, weights_only=True)
        saved = state["format"], state["settings"]
    except Exception as err:  # any unreadable or foreign file: start afresh
        print(f"Pretraining afresh: {display_path(path)} is unreadable ({err}).")
        return []
    if saved != (FORMAT_VERSION, asdict(settings)):
        print(f"Pretraining afresh: {display_path(path)} has other settings.")
        return []
    optimizer, scheduler, generator = train
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    done = len(state["history"])
    print(f"Resuming pretraining after epoch {done}, saved in {display_path(path)}.")
    return state["history"]


def pretrain_mlm(
    model,
    tokenizer,
    texts,
    settings: PretrainSettings,
    *,
    progress: bool = True,
    resume: str | Path | None = None,
) -> list[dict]:
    """Masked-LM training of a ``BertForMaskedLM`` on ``texts``; returns the history.

    ``settings``: the ``mlm_*`` fields, ``mask_prob``, ``warmup_fraction``,
    ``weight_decay`` and ``model.seed``. Texts are tokenized once (truncated to
    ``mlm_max_length``); each batch gets new masks (:func:`mask_tokens`,
    seeded). Batches group similar lengths
    (:func:`helpers.inputs.batches_by_length`, seeded per epoch); the rate
    follows :func:`mlm_schedule`. One history row per epoch: ``loss`` and
    ``accuracy`` over the masked tokens, ``masked`` (their share of the real
    non-special tokens), ``seconds``. The model is left in eval mode.

    ``resume``: a file to which the whole training state is saved after each
    epoch. When it holds the state of an interrupted run with the same
    settings (on the same texts: the caller's to ensure), training goes on
    after that run's last epoch, and ends with the weights that an
    uninterrupted run would have.
    """
    seed, epochs = settings.model.seed, settings.mlm_epochs
    seed_everything(seed)
    data = _encode(tokenizer, texts, settings.mlm_max_length)
    lengths = [len(r) for r in data[0]]
    plan = [
        batches_by_length(
            lengths, settings.mlm_batch_size, shuffle=True, seed=seed, epoch=e
        )
        for e in range(1, epochs + 1)
    ]
    optimizer = _adamw(model.parameters(), settings.mlm_lr, settings.weight_decay)
    scheduler = mlm_schedule(optimizer, sum(map(len, plan)), settings.warmup_fraction)
    train = (optimizer, scheduler, torch.Generator().manual_seed(seed))
    history = _resume(Path(resume), settings, model, train) if resume else []
    for epoch, batches in enumerate(plan, start=1):
        if epoch <= len(history):
            continue
        desc = f"MLM epoch {epoch}/{epochs}"
        start = time.perf_counter()
        row = _mlm_epoch(
            model,
            tokenizer,
            data,
            batches,
            train,
            settings.mask_prob,
            lambda b, d=desc: tqdm(b, desc=d, disable=not progress),
        )
        seconds = round(time.perf_counter() - start, 1)
        history.append({"epoch": epoch, **row, "seconds": seconds})
        if resume:
            _save_state(Path(resume), settings, model, train, history)
    model.eval()
    return history


# --------------------------------------------------------------------------- #
# Fine-tuning for sentiment
# --------------------------------------------------------------------------- #
def _finetune(model, tokenizer, data: dict, settings: JapaneseSettings):
    return fine_tune(model, tokenizer, data["train"], data["valid"], settings)


def _scores(model, tokenizer, data: dict, max_length: int) -> dict:
    out = {}
    for name in ("etc_valid", "chabsa_valid", "etc_test", "chabsa_test"):
        result = evaluate(model, tokenizer, data[name], max_length=max_length)
        out[name] = {"accuracy": result["accuracy"], "n": len(data[name])}
    return out


def _baselines(data: dict) -> dict:
    """Majority class and bag of words per test set, on its own data and on the model's.

    ``bow``: trained on that data set's train split, ``C`` chosen on its
    validation split; ``bow_same_data``: trained on ``train`` (the model's
    fine-tuning data), ``C`` chosen on ``valid`` (the model's validation).
    """
    same = bow_logistic_regression(data["train"], data["valid"], data["etc_test"])
    out = {}
    for name in ("etc", "chabsa"):
        train, valid, test = (data[f"{name}_{s}"] for s in ("train", "valid", "test"))
        own = bow_logistic_regression(train, valid, test)
        out[name] = {
            "majority": majority_baseline(train, test),
            "bow": {k: v for k, v in own.items() if k != "model"},
            "bow_same_data": {**bow_accuracy(same["model"], test), "C": same["C"]},
        }
    return out


# --------------------------------------------------------------------------- #
# Caching: folders named by a fingerprint of settings and data
# --------------------------------------------------------------------------- #
def _fingerprint(parts: dict, etc_path, chabsa_path) -> str:
    digest = hashlib.sha256(
        json.dumps({**parts, "format": FORMAT_VERSION}, sort_keys=True).encode()
    )
    digest.update(etc.etc_content_digest(etc.find_etc(etc_path)).encode())
    folder = find_chabsa(chabsa_path)
    for split in ("train", "test"):
        digest.update((folder / f"{split}.tsv").read_bytes())
    return digest.hexdigest()[:10]


#: Fine-tuning settings, which do not change the masked LM.
_FINETUNE_ONLY = ("epochs", "lr", "batch_size")
#: Settings used by pretraining only.
_MLM_ONLY = (
    "mlm_epochs",
    "mlm_lr",
    "mlm_batch_size",
    "mlm_max_length",
    "mask_prob",
    "warmup_fraction",
    "weight_decay",
)


def _mlm_parts(settings: PretrainSettings) -> dict:
    """What the masked LM depends on: size, vocabulary, corpus carve, MLM settings."""
    model = asdict(settings.model)
    for name in _FINETUNE_ONLY:
        model.pop(name)
    return {**{k: getattr(settings, k) for k in _MLM_ONLY}, "model": model}


def _model_parts(settings: PretrainSettings, pretrained: bool) -> dict:
    """What a fine-tuned model depends on (the MLM settings only when pretrained)."""
    parts = asdict(settings)
    if not pretrained:
        for name in _MLM_ONLY:
            parts.pop(name)
    return {**parts, "pretrained": pretrained}


def mlm_checkpoint_path(
    settings: PretrainSettings | None = None, etc_path=None, chabsa_path=None
) -> Path:
    """Cache folder of the pretrained masked LM: ``japanese-mlm-L<l>-H<h>-<hash>``."""
    settings = settings or PretrainSettings()
    m = settings.model
    key = _fingerprint({"mlm": _mlm_parts(settings)}, etc_path, chabsa_path)
    return data_dir() / "checkpoints" / f"japanese-mlm-L{m.layers}-H{m.hidden}-{key}"


def everyday_checkpoint_path(
    settings: PretrainSettings | None = None,
    pretrained: bool = True,
    etc_path=None,
    chabsa_path=None,
) -> Path:
    """Folder of a fine-tuned model: ``japanese-everyday-<kind>-L<l>-H<h>-<hash>``.

    ``kind`` is ``pretrained`` or ``scratch``; the hash covers the settings
    (the MLM ones only for ``pretrained``), the ETC content digest and the
    chABSA files.
    """
    settings = settings or PretrainSettings()
    m = settings.model
    kind = "pretrained" if pretrained else "scratch"
    key = _fingerprint(_model_parts(settings, pretrained), etc_path, chabsa_path)
    name = f"japanese-everyday-{kind}-L{m.layers}-H{m.hidden}-{key}"
    return data_dir() / "checkpoints" / name


def _tokenizer(corpus: Corpus, settings: JapaneseSettings, folder: Path):
    vocab = build_vocab(corpus.texts, settings.min_freq, settings.base_chars)
    return make_japanese_tokenizer(
        vocab, folder, model_max_length=model_positions(settings)
    )


def _train_mlm(folder: Path, settings: PretrainSettings, etc_path, chabsa_path):
    """Pretrain the masked LM of ``settings`` and save it to ``folder``.

    An interrupted run resumes after its last epoch: the state is kept in
    ``.<folder name>.resume.pt`` beside ``folder`` (whose name is the
    fingerprint of settings and data) and deleted once the model is saved.
    """
    corpus = train_only_corpus(etc_path, chabsa_path, settings)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = _tokenizer(corpus, settings.model, Path(tmp))
    config = build_japanese_model(len(tokenizer.vocab), settings.model).config
    seed_everything(settings.model.seed)
    model = BertForMaskedLM(config)
    start = time.perf_counter()
    resume = folder.with_name(f".{folder.name}.resume.pt")
    history = pretrain_mlm(model, tokenizer, corpus.texts, settings, resume=resume)
    info = {
        "history": history,
        "corpus_counts": corpus.counts,
        "removed_held_out": corpus.removed_held_out,
        "vocab_size": len(tokenizer.vocab),
        "seconds": round(time.perf_counter() - start, 1),
        "torch_threads": torch.get_num_threads(),
        "settings": asdict(settings),
        "etc_commit": etc.ETC_COMMIT,
    }
    save_checkpoint(model, tokenizer, folder, info=info)
    resume.unlink(missing_ok=True)


def get_mlm(settings: PretrainSettings | None = None, etc_path=None, chabsa_path=None):
    """``(tokenizer, BertForMaskedLM, info)``: the masked LM, trained once, cached.

    Cached in :func:`mlm_checkpoint_path` apart from the fine-tuned model, so
    a build interrupted during fine-tuning resumes after pretraining, and one
    interrupted during pretraining after its last finished epoch.
    """
    settings = settings or PretrainSettings()
    folder = mlm_checkpoint_path(settings, etc_path, chabsa_path)
    ensure_checkpoint(
        folder, lambda out: _train_mlm(out, settings, etc_path, chabsa_path)
    )
    tokenizer = BertJapaneseTokenizer.from_pretrained(folder)
    model = BertForMaskedLM.from_pretrained(folder).eval()
    return tokenizer, model, read_training_info(folder)


def classifier_from_mlm(mlm, settings: JapaneseSettings):
    """A ``BertForSequenceClassification`` whose embeddings and encoder are ``mlm``'s.

    The pooler and the classification head are new (seeded by ``settings``);
    ``mlm`` is a ``BertForMaskedLM`` of the same size.
    """
    model = build_japanese_model(mlm.config.vocab_size, settings)
    problem = f"The masked LM does not fit a {settings.layers}-layer, hidden "
    problem += f"{settings.hidden} model: pretrain it with the same settings"
    try:
        missing, unexpected = model.bert.load_state_dict(
            mlm.bert.state_dict(), strict=False
        )
    except RuntimeError as err:  # a size mismatch
        raise ValueError(f"{problem} ({str(err).splitlines()[0]}).") from err
    if unexpected or any(not k.startswith("pooler.") for k in missing):
        raise ValueError(f"{problem} (missing {missing}, unexpected {unexpected}).")
    return model


def train_everyday_model(
    out_dir,
    settings: PretrainSettings | None = None,
    pretrained: bool = True,
    etc_path=None,
    chabsa_path=None,
) -> dict:
    """Fine-tune for sentiment (from the masked LM or from scratch), test, save.

    Both kinds use the same vocabulary (built from :func:`train_only_corpus`),
    data (:func:`sentiment_data`), settings and seed; only the starting
    weights of the encoder differ. The best epoch on ``valid`` is kept; the
    test splits are scored once. The metrics (validation and test accuracy
    per data set, baselines, history, provenance) go to
    ``training_info.json`` and are returned.
    """
    settings = settings or PretrainSettings()
    m = settings.model
    data = sentiment_data(etc_path, chabsa_path, settings)
    mlm_info = {}
    if pretrained:
        tokenizer, mlm, mlm_info = get_mlm(settings, etc_path, chabsa_path)
        model = classifier_from_mlm(mlm, m)
    else:
        corpus = train_only_corpus(etc_path, chabsa_path, settings)
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer = _tokenizer(corpus, m, Path(tmp))
        model = build_japanese_model(len(tokenizer.vocab), m)
    start = time.perf_counter()
    result = _finetune(model, tokenizer, data, m)
    seconds = round(time.perf_counter() - start, 1)
    metrics = {
        "kind": "pretrained" if pretrained else "scratch",
        "scores": _scores(model, tokenizer, data, m.max_length),
        "baselines": _baselines(data),
        "best_epoch": result.best_epoch,
        "history": result.history,
        "finetune_seconds": seconds,
        "mlm": {k: mlm_info.get(k) for k in ("history", "corpus_counts", "seconds")},
        "sizes": {k: len(v) for k, v in data.items()},
        "vocab_size": len(tokenizer.vocab),
        "settings": asdict(settings),
        "etc_commit": etc.ETC_COMMIT,
        "sources": [etc.CITATION, etc.LICENCE, CHABSA_SOURCE],
    }
    save_checkpoint(model, tokenizer, out_dir, info=metrics)
    return metrics


def describe_everyday_model(model, metrics: dict) -> str:
    """One line: which model, how it was trained, test accuracy beside the baselines."""
    cfg = model.config
    kind = metrics.get("kind", "pretrained")
    how = (
        "masked-LM pretrained on the train text of ETC and chABSA, then fine-tuned"
        if kind == "pretrained"
        else "trained from scratch"
    )
    text = (
        f"offline: {cfg.num_hidden_layers}-layer BERT (hidden {cfg.hidden_size}, "
        f"{cfg.num_attention_heads} heads) {how} for sentiment on ETC + chABSA train"
    )
    names = {"etc": "ETC", "chabsa": "chABSA"}
    parts = []
    for name, label in names.items():
        score = metrics.get("scores", {}).get(f"{name}_test")
        base = metrics.get("baselines", {}).get(name)
        if score and base:
            parts.append(
                f"{label} {score['accuracy']:.3f} on {score['n']} (bag of words "
                f"on the same data {base['bow_same_data']['accuracy']:.3f}, "
                f"majority class {base['majority']['accuracy']:.3f})"
            )
    if parts:
        text += "; test accuracy " + ", ".join(parts)
    return text + ". Data: ETC Dataset (CC BY-NC 4.0), chABSA (CC BY 4.0)."


def load_everyday_model(
    settings: PretrainSettings | None = None,
    pretrained: bool = True,
    etc_path=None,
    chabsa_path=None,
    attn_implementation: str | None = None,
):
    """``(tokenizer, model, description)`` of the everyday model (trained once, cached).

    Trains (MLM then fine-tuning, see :func:`train_everyday_model`) unless the
    fingerprinted folder of :func:`everyday_checkpoint_path` holds an intact
    checkpoint (:func:`helpers.train.ensure_checkpoint`); loads it through
    :func:`helpers.models.load_model`.
    """
    settings = settings or PretrainSettings()
    folder = everyday_checkpoint_path(settings, pretrained, etc_path, chabsa_path)
    ensure_checkpoint(
        folder,
        lambda out: train_everyday_model(
            out, settings, pretrained, etc_path, chabsa_path
        ),
    )
    tokenizer, model = load_model(
        folder, num_labels=2, attn_implementation=attn_implementation
    )
    return tokenizer, model, describe_everyday_model(model, read_training_info(folder))
