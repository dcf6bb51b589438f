"""The small Japanese BERT: its architecture, labels, training and the chABSA model.

The offline models are built to look exactly like the hub model
(``daigo/bert-base-japanese-sentiment``) from the outside:

* the same tokenizer class, ``BertJapaneseTokenizer`` (MeCab + WordPiece,
  :func:`helpers.ja.corpus.make_japanese_tokenizer`);
* the same model class, ``BertForSequenceClassification`` (a few layers,
  :func:`build_japanese_model`);
* saved with ``save_pretrained`` and loaded back with
  :func:`helpers.models.load_model`, like every model of the book;
* trained with :func:`helpers.train.train_classifier` (full fine-tuning,
  :func:`fine_tune`).

:func:`load_offline_model` trains (once, cached) the model of chABSA alone;
:func:`positive_label_id` reads which output is *positive* from the label
names of :func:`helpers.inputs.label_names`, since the hub model and ours may
order their labels differently.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification

from ..config import data_dir
from ..data import ReviewSet, train_val_split
from ..inputs import label_names
from ..models import load_model
from ..train import (
    ensure_checkpoint,
    evaluate,
    read_training_info,
    save_checkpoint,
    train_classifier,
)
from .baselines import bow_logistic_regression, majority_baseline
from .corpus import (
    CHABSA_SOURCE,
    build_vocab,
    find_chabsa,
    load_chabsa,
    make_japanese_tokenizer,
)
from .settings import DEFAULTS, JapaneseSettings, model_positions

POSITIVE_NAMES = {"positive", "pos", "ポジティブ", "肯定", "肯定的", "label_pos"}
NEGATIVE_NAMES = {"negative", "neg", "ネガティブ", "否定", "否定的", "label_neg"}


def build_japanese_model(vocab_size: int, settings: JapaneseSettings = DEFAULTS):
    """A freshly initialised (seeded) ``BertForSequenceClassification`` of that size.

    Labels: 0 = negative, 1 = positive (``config.id2label``).
    """
    if settings.hidden % settings.heads:
        raise ValueError(
            f"hidden ({settings.hidden}) must be a multiple of heads "
            f"({settings.heads})."
        )
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=settings.hidden,
        num_hidden_layers=settings.layers,
        num_attention_heads=settings.heads,
        intermediate_size=settings.intermediate,
        max_position_embeddings=model_positions(settings),
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
        pad_token_id=0,
        tokenizer_class="BertJapaneseTokenizer",
    )
    torch.manual_seed(settings.seed)
    return BertForSequenceClassification(config)


def positive_label_id(model) -> int:
    """Index of the *positive* class in ``model``'s output.

    Read from the label names of :func:`helpers.inputs.label_names` (the one
    source of label names: ``"positive"``, ``"ポジティブ"``...; when only the
    negative class is named, the other one). Generic names (``LABEL_0``/
    ``LABEL_1``) are the book's convention there: 1 = positive. Use it to
    name the predicted class correctly for both the hub model and ours.
    """
    names = [str(n).strip().lower() for n in label_names(model)]
    for idx, name in enumerate(names):
        if name in POSITIVE_NAMES:
            return idx
    if len(names) == 2:
        for idx, name in enumerate(names):
            if name in NEGATIVE_NAMES:
                return 1 - idx
    return 1


def label_name(model, label_id: int) -> str:
    """``"positive"`` or ``"negative"`` for an output index of ``model``."""
    return "positive" if int(label_id) == positive_label_id(model) else "negative"


# --------------------------------------------------------------------------- #
# Training and caching
# --------------------------------------------------------------------------- #
#: Bumped when what a cached model records changes (2: measured baselines).
_RECORD_VERSION = 2


def _fingerprint(settings: JapaneseSettings, folder: Path) -> str:
    record = {"settings": asdict(settings), "record": _RECORD_VERSION}
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode())
    for split in ("train", "test"):
        digest.update((folder / f"{split}.tsv").read_bytes())
    return digest.hexdigest()[:10]


def japanese_checkpoint_path(
    settings: JapaneseSettings = DEFAULTS, chabsa_path=None
) -> Path:
    """Cache folder of the offline model.

    ``<data_dir>/checkpoints/japanese-chabsa-L<l>-H<h>-<hash>``.

    The hash covers the settings and the chABSA files, so other data or
    settings train a new model instead of reusing a stale one.
    """
    folder = find_chabsa(chabsa_path)
    size = f"L{settings.layers}-H{settings.hidden}"
    name = f"japanese-chabsa-{size}-{_fingerprint(settings, folder)}"
    return data_dir() / "checkpoints" / name


def fine_tune(model, tokenizer, train_set, val_set, settings: JapaneseSettings):
    """Full fine-tuning of a small Japanese BERT on the CPU, best epoch on ``val_set``.

    :func:`helpers.train.train_classifier` with ``settings``' epochs, rate,
    batch size, length and seed (no feature cache: every layer learns).
    """
    return train_classifier(
        model,
        tokenizer,
        train_set,
        val_set,
        settings.training(),
        device=torch.device("cpu"),
    )


def train_japanese_model(
    out_dir: str | os.PathLike,
    train_set: ReviewSet,
    test_set: ReviewSet,
    settings: JapaneseSettings = DEFAULTS,
) -> dict:
    """Build a vocabulary, train a small BERT from scratch, test it, save it.

    A seeded, stratified validation part of ``train_set`` picks the best epoch
    (:func:`helpers.train.train_classifier`, full fine-tuning). The tokenizer
    and model are saved with :func:`helpers.train.save_checkpoint` (atomic),
    with the metrics (test accuracy, majority baseline, history, sizes, training
    seconds) in its ``training_info.json``; returns the metrics.
    """
    train_part, val_part = train_val_split(
        train_set, settings.val_fraction, settings.seed
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        vocab = build_vocab(train_part.texts, settings.min_freq, settings.base_chars)
        tokenizer = make_japanese_tokenizer(
            vocab, tmp, model_max_length=model_positions(settings)
        )
    model = build_japanese_model(len(tokenizer.vocab), settings)
    result = fine_tune(model, tokenizer, train_part, val_part, settings)
    seconds = time.perf_counter() - start
    test = evaluate(model, tokenizer, test_set, max_length=settings.max_length)
    bow = bow_logistic_regression(train_part, val_part, test_set)
    metrics = {
        "test_accuracy": float(test["accuracy"]),
        "test_sentences": len(test_set),
        # baselines measured on the same test sentences, chosen without them
        "majority_accuracy": majority_baseline(train_part, test_set)["accuracy"],
        "bow_accuracy": float(bow["accuracy"]),
        "bow_C": float(bow["C"]),
        "confusion": test["confusion"].tolist(),
        "best_epoch": result.best_epoch,
        "history": result.history,
        "train_sentences": len(train_part),
        "val_sentences": len(val_part),
        "vocab_size": len(tokenizer.vocab),
        "train_seconds": round(seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "settings": asdict(settings),
        "train_source": train_set.source,
        "test_source": test_set.source,
        "sources": [CHABSA_SOURCE],
    }
    save_checkpoint(model, tokenizer, out_dir, info=metrics)
    return metrics


def read_metrics(folder: str | os.PathLike) -> dict:
    """The metrics saved beside an offline model (empty dict when there are none)."""
    return read_training_info(folder)


def describe_offline_model(model, metrics: dict) -> str:
    """One line saying which offline model this is and how well it does."""
    cfg = model.config
    text = (
        f"offline: {cfg.num_hidden_layers}-layer BERT (hidden {cfg.hidden_size}, "
        f"{cfg.num_attention_heads} heads) trained from scratch on {CHABSA_SOURCE}"
    )
    if "test_accuracy" in metrics:
        bow = metrics.get("bow_accuracy", float("nan"))
        text += (
            f", test accuracy {metrics['test_accuracy']:.3f} on "
            f"{metrics['test_sentences']} sentences"
            f" (measured on the same sentences: majority class of the training "
            f"labels {metrics['majority_accuracy']:.3f}, bag-of-words logistic "
            f"regression on the same MeCab words {bow:.3f})"
        )
    return text


def load_offline_model(
    chabsa_path=None,
    settings: JapaneseSettings = DEFAULTS,
    attn_implementation: str | None = None,
):
    """``(tokenizer, model, description)`` of the offline chABSA model.

    Trains and caches it when needed.

    The first call trains (a few minutes on 2 CPU cores) and saves under
    :func:`japanese_checkpoint_path`; later calls only load it through
    :func:`helpers.models.load_model` (a missing or corrupt folder is trained
    again: :func:`helpers.train.ensure_checkpoint`).
    """
    folder = japanese_checkpoint_path(settings, chabsa_path)
    ensure_checkpoint(
        folder,
        lambda out: train_japanese_model(
            out,
            load_chabsa("train", chabsa_path),
            load_chabsa("test", chabsa_path),
            settings,
        ),
    )
    tokenizer, model = load_model(
        folder, num_labels=2, attn_implementation=attn_implementation
    )
    return tokenizer, model, describe_offline_model(model, read_metrics(folder))


def data_sources(model) -> list[str]:
    """Citations and licences of the data ``model`` was trained on.

    Read from the ``training_info.json`` saved beside an offline model; for a
    hub model (or a model without that file), its name.
    """
    folder = Path(str(getattr(model, "name_or_path", "") or ""))
    sources = read_training_info(folder).get("sources") if folder.is_dir() else None
    return list(sources) if sources else [str(folder) or "unknown"]


#: The two example sentences of chapter 4 and the class a reader expects.
EXAMPLES = (
    ("私は不運な人間です。", "negative"),
    ("今日は最高の一日で、とても幸せです。", "positive"),
)


def judge_predictions(
    model, texts, probabilities, expected, confident: float = 0.8
) -> list[str]:
    """One markdown line per sentence: predicted class, p, and whether it is right.

    ``probabilities``: ``[n, 2]`` (or one row per text); ``expected``:
    ``"positive"``/``"negative"`` per text. A prediction is *confident* when
    its probability is at least ``confident``. The last line says whether the
    explanations shown explain confident, correct predictions.
    """
    if len(texts) != len(probabilities) or len(texts) != len(expected):
        raise ValueError("Pass one probability row and one expected label per text.")
    lines, all_good = [], True
    for text, probs, want in zip(texts, probabilities, expected, strict=True):
        if want not in ("positive", "negative"):
            raise ValueError(
                f"expected labels are 'positive' or 'negative', not {want!r}"
            )
        probs = [float(p) for p in probs]
        pred = max(range(len(probs)), key=probs.__getitem__)
        name, p = label_name(model, pred), probs[pred]
        right = name == want
        sure = p >= confident
        all_good &= right and sure
        verdict = ("correct" if right else "wrong") + (
            ", confident" if sure else f", unsure (p < {confident:g})"
        )
        lines.append(
            f"- {text}: {name}, p = {p:.2f} (a reader says {want}): {verdict}."
        )
    if all_good:
        lines.append(
            "Every map above explains a confident, correct prediction: the colours "
            "show which tokens the model used to reach a verdict a reader shares."
        )
    else:
        lines.append(
            "Not every map above explains a confident, correct prediction: where "
            "the verdict is wrong or unsure, the colours show how the model went "
            "wrong or why it hesitated, not why the sentence is positive or negative."
        )
    return lines
