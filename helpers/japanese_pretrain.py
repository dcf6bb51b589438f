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
   :func:`helpers.etc.utterance_label`) plus chABSA's train part; the epoch
   is chosen on ETC valid utterances plus chABSA's validation part
   (:func:`helpers.train.train_classifier`), then both test splits are
   scored once.

The vocabulary is built from the same corpus by
:func:`helpers.japanese.build_vocab` with ``min_freq=1``, so every word of
the training text (不運, 人間, 幸せ, 最高 ...) is one token; tokenizer and model
are the ones of :mod:`helpers.japanese`. The same model *without* stage 1
(``pretrained=False``) measures what pretraining buys.

The MLM head scores only the tokens that occur in the corpus (13,082 of the
54,970 vocabulary entries with the defaults; most of the others are CJK
characters kept for display): the loss of a masked token is the
cross-entropy restricted to those candidates, and the output layer costs a
quarter of the full one. Models are cached under
:func:`helpers.config.data_dir` in folders whose names end with a
fingerprint of the settings and of the data (ETC content digest, chABSA
files), so a stale model is never reused.

Data: ETC Dataset (:data:`helpers.etc.LICENCE`, CC BY-NC 4.0, cite
:data:`helpers.etc.CITATION`) and chABSA (CC BY 4.0).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from . import etc
from .config import data_dir, seed_everything
from .data import ReviewSet, train_val_split
from .inputs import batches_by_length
from .japanese import (
    CHABSA_SOURCE,
    JapaneseSettings,
    build_japanese_model,
    build_vocab,
    find_chabsa,
    fine_tune,
    load_chabsa,
    make_japanese_tokenizer,
    model_positions,
)

__all__ = [
    "Corpus",
    "HeldOutTextError",
    "PretrainSettings",
    "check_no_held_out",
    "classifier_from_mlm",
    "describe_everyday_model",
    "everyday_checkpoint_path",
    "get_mlm",
    "load_everyday_model",
    "mask_tokens",
    "mlm_checkpoint_path",
    "mlm_loss",
    "pretrain_mlm",
    "sentiment_data",
    "train_everyday_model",
    "train_only_corpus",
]

#: Bump when the training code changes what a cached model would be.
FORMAT_VERSION = 2
IGNORE = -100


class HeldOutTextError(AssertionError):
    """A validation or test sentence was found in a pretraining corpus."""


@dataclass(frozen=True)
class PretrainSettings:
    """Settings of the everyday Japanese model: architecture and fine-tuning, then MLM.

    ``model``: size, vocabulary (``min_freq=1``: every training word is a
    token), fine-tuning epochs (the best on validation is kept), learning
    rate, ``val_fraction`` of chABSA train held out, ``seed``.
    ``train_transcriptions``: also fine-tune on the emotion transcriptions of
    ETC train (the texts the annotators labelled). ``mlm_*``:
    masked-LM pretraining (AdamW, linear warm-up over ``warmup_fraction`` of
    the steps then linear decay).

    Measured on validation (ETC valid + chABSA validation part; 2026-11-29,
    one seed each, so differences of about 1 point are noise): fine-tuning
    at 5e-4 peaked at epoch 2-3, so 3 epochs are run (0.827 after 12 MLM
    epochs; 0.825 at 2e-4; 1e-3 overfits by epoch 2); the transcriptions
    raised the bag of words' ETC validation accuracy from 0.796 to 0.813;
    freezing the pretrained embeddings during fine-tuning fell to 0.72.
    12 MLM epochs gave 0.827, 4 gave 0.814, within the noise; 4 are kept
    because 12 take about 9 minutes on a shared 2-core machine
    (``PretrainSettings(mlm_epochs=12)`` for more).
    """

    model: JapaneseSettings = field(
        default_factory=lambda: JapaneseSettings(min_freq=1, epochs=3, lr=5e-4)
    )
    train_transcriptions: bool = True
    mlm_epochs: int = 4
    mlm_lr: float = 1e-3
    mlm_batch_size: int = 64
    mlm_max_length: int = 64
    mask_prob: float = 0.15
    warmup_fraction: float = 0.06
    weight_decay: float = 0.01


# --------------------------------------------------------------------------- #
# The corpus: train splits only
# --------------------------------------------------------------------------- #
@dataclass
class Corpus:
    """Pretraining sentences, how many of each source, how many were left out."""

    texts: list[str]
    counts: dict[str, int]
    removed_held_out: int


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def check_no_held_out(texts, held_out) -> None:
    """Raise :class:`HeldOutTextError` if a text equals a held-out one (after NFKC)."""
    held = {_key(t) for t in held_out}
    leaked = [t for t in texts if _key(t) in held]
    if leaked:
        raise HeldOutTextError(
            f"{len(leaked)} held-out sentence(s) in the pretraining corpus, "
            f"e.g. {leaked[0]!r}: build it with train_only_corpus()."
        )


def train_only_corpus(
    etc_path=None, chabsa_path=None, settings: PretrainSettings | None = None
) -> Corpus:
    """The MLM corpus: ETC train utterances + transcriptions, chABSA train part.

    Held out, and never in the corpus: ETC valid and test (all text, labelled
    or not), chABSA test, and the chABSA validation part that
    :func:`sentiment_data` carves from chABSA train. A training sentence equal
    to a held-out one (ETC has a few, such as こんにちは) is removed and
    counted; the result is checked with :func:`check_no_held_out`.
    """
    settings = settings or PretrainSettings()
    chabsa_train, chabsa_valid = _chabsa_parts(chabsa_path, settings.model)
    sources = {
        "ETC train": etc.all_text("train", etc_path),
        "chABSA train part": chabsa_train.texts,
    }
    held_out = (
        etc.all_text("valid", etc_path)
        + etc.all_text("test", etc_path)
        + load_chabsa("test", chabsa_path).texts
        + chabsa_valid.texts
    )
    held = {_key(t) for t in held_out}
    texts, counts, removed = [], {}, 0
    for name, part in sources.items():
        kept = [t for t in part if _key(t) and _key(t) not in held]
        removed += len(part) - len(kept)
        counts[name] = len(kept)
        texts += kept
    check_no_held_out(texts, held_out)
    return Corpus(texts, counts, removed)


def _chabsa_parts(chabsa_path, model: JapaneseSettings):
    return train_val_split(
        load_chabsa("train", chabsa_path), model.val_fraction, model.seed
    )


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


def _schedule(optimizer, total: int, warmup_fraction: float):
    warmup = max(1, math.ceil(total * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def pretrain_mlm(
    model,
    tokenizer,
    texts,
    *,
    epochs: int = 4,
    lr: float = 1e-3,
    batch_size: int = 64,
    max_length: int = 64,
    mask_prob: float = 0.15,
    warmup_fraction: float = 0.06,
    weight_decay: float = 0.01,
    seed: int = 1234,
    progress: bool = True,
) -> list[dict]:
    """Masked-LM training of a ``BertForMaskedLM`` on ``texts``; returns the history.

    Texts are tokenized once (truncated to ``max_length``); each batch gets new
    masks (:func:`mask_tokens`, seeded). Batches group similar lengths
    (:func:`helpers.inputs.batches_by_length`, seeded per epoch). One history
    row per epoch: ``loss`` and ``accuracy`` over the masked tokens,
    ``masked`` (their share of the real non-special tokens), ``seconds``.
    The model is left in eval mode.
    """
    from tqdm.auto import tqdm

    seed_everything(seed)
    enc = tokenizer(
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
    candidates = torch.tensor(sorted(words), dtype=torch.long)
    optimizer = _adamw(model.parameters(), lr, weight_decay)
    plan = [
        batches_by_length(
            [len(r) for r in rows], batch_size, shuffle=True, seed=seed, epoch=e
        )
        for e in range(1, epochs + 1)
    ]
    scheduler = _schedule(optimizer, sum(map(len, plan)), warmup_fraction)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for epoch, batches in enumerate(plan, start=1):
        model.train()
        start, loss_sum, hits, n_masked, n_tokens = time.perf_counter(), 0.0, 0, 0, 0
        bar = tqdm(batches, desc=f"MLM epoch {epoch}/{epochs}", disable=not progress)
        for idx in bar:
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
            if not (labels != IGNORE).any():
                scheduler.step()
                continue
            loss, correct = mlm_loss(
                model,
                {"input_ids": inputs, "attention_mask": mask.long()},
                labels,
                candidates,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach()) * len(correct)
            hits += int(correct.sum())
            n_masked += len(correct)
            bar.set_postfix(loss=f"{loss_sum / n_masked:.3f}")
        history.append(
            {
                "epoch": epoch,
                "loss": loss_sum / max(n_masked, 1),
                "accuracy": hits / max(n_masked, 1),
                "masked": n_masked / max(n_tokens, 1),
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
    model.eval()
    return history


# --------------------------------------------------------------------------- #
# Sentiment data and fine-tuning
# --------------------------------------------------------------------------- #
def _concat(parts: list[ReviewSet], source: str) -> ReviewSet:
    return ReviewSet(
        [t for p in parts for t in p.texts],
        [y for p in parts for y in p.labels],
        source,
        [i for p in parts for i in p.ids],
    )


def sentiment_data(
    etc_path=None, chabsa_path=None, settings: PretrainSettings | None = None
) -> dict[str, ReviewSet]:
    """Labelled splits: ``etc_<split>``, ``chabsa_<split>``, ``train``, ``valid``.

    ``etc_<split>``: utterances of both roles (:func:`helpers.etc.load_etc`).
    ``chabsa_train``/``chabsa_valid`` are chABSA train carved by
    ``settings.model`` (``val_fraction``, ``seed``; stratified). ``train`` =
    ETC train utterances (+ their emotion transcriptions, ``etc_train_notes``,
    when ``settings.train_transcriptions``) + chABSA train part; ``valid`` =
    ETC valid utterances + chABSA validation part.
    """
    settings = settings or PretrainSettings()
    data = {f"etc_{s}": etc.load_etc(s, etc_path) for s in etc.SPLITS}
    data["etc_train_notes"] = etc.load_etc(
        "train", etc_path, text="emotion_transcription"
    )
    data["chabsa_train"], data["chabsa_valid"] = _chabsa_parts(
        chabsa_path, settings.model
    )
    data["chabsa_test"] = load_chabsa("test", chabsa_path)
    train, name = [data["etc_train"], data["chabsa_train"]], "ETC train utterances"
    if settings.train_transcriptions:
        train.insert(1, data["etc_train_notes"])
        name += " + emotion transcriptions"
    data["train"] = _concat(train, f"{name} + chABSA train part")
    data["valid"] = _concat(
        [data["etc_valid"], data["chabsa_valid"]], "ETC valid + chABSA valid part"
    )
    return data


def _finetune(model, tokenizer, data: dict, settings: JapaneseSettings):
    return fine_tune(model, tokenizer, data["train"], data["valid"], settings)


def _scores(model, tokenizer, data: dict, max_length: int) -> dict:
    from .train import evaluate

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
    from .japanese_baselines import (
        bow_accuracy,
        bow_logistic_regression,
        majority_baseline,
    )

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


def get_mlm(settings: PretrainSettings | None = None, etc_path=None, chabsa_path=None):
    """``(tokenizer, BertForMaskedLM, info)``: the masked LM, trained once, cached."""
    from transformers import BertForMaskedLM, BertJapaneseTokenizer

    from .train import read_training_info, save_checkpoint

    settings = settings or PretrainSettings()
    folder = mlm_checkpoint_path(settings, etc_path, chabsa_path)
    if not (folder / "config.json").is_file():
        corpus = train_only_corpus(etc_path, chabsa_path, settings)
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer = _tokenizer(corpus, settings.model, Path(tmp))
        config = build_japanese_model(len(tokenizer.vocab), settings.model).config
        seed_everything(settings.model.seed)
        model = BertForMaskedLM(config)
        start = time.perf_counter()
        history = pretrain_mlm(
            model,
            tokenizer,
            corpus.texts,
            epochs=settings.mlm_epochs,
            lr=settings.mlm_lr,
            batch_size=settings.mlm_batch_size,
            max_length=settings.mlm_max_length,
            mask_prob=settings.mask_prob,
            warmup_fraction=settings.warmup_fraction,
            weight_decay=settings.weight_decay,
            seed=settings.model.seed,
        )
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
    from .train import save_checkpoint

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

    Trains (MLM then fine-tuning, see :func:`train_everyday_model`) when the
    fingerprinted folder of :func:`everyday_checkpoint_path` does not exist;
    loads it through :func:`helpers.models.load_model` otherwise.
    """
    from .models import load_model
    from .train import read_training_info

    settings = settings or PretrainSettings()
    folder = everyday_checkpoint_path(settings, pretrained, etc_path, chabsa_path)
    if not (folder / "config.json").is_file():
        train_everyday_model(folder, settings, pretrained, etc_path, chabsa_path)
    tokenizer, model = load_model(
        folder, num_labels=2, attn_implementation=attn_implementation
    )
    return tokenizer, model, describe_everyday_model(model, read_training_info(folder))
