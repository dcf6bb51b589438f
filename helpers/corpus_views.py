"""What a model learned across a corpus: global views of :mod:`helpers.corpus` runs.

The rules, stated once:

* **Words** are the runner's words, compared in lower case (``"Great"`` and
  ``"great"`` are one word). A word's **relevance in a text** is the sum of
  its word scores there (a word written twice counts twice). Texts are
  grouped by the **class explained** (the ``target`` column).
* For each class and word: ``n_texts`` (texts of that class holding it),
  ``total`` (the sum of its relevance over those texts) and ``mean`` (total
  / n_texts), with a bootstrap interval over texts
  (:func:`helpers.stats.bootstrap_ci`; the total's interval is the mean's
  times ``n_texts``). Words in fewer than ``min_texts`` texts are left out.
* **Shortcut candidates** (:func:`shortcut_kind`): a word is a *number* when
  it holds a digit (``7``, ``10``, ``7/10``, ``1950s``); *punctuation* when
  every character is punctuation or a symbol; a *name* when it is
  alphabetic, at least two letters long, and written with a capital first
  letter in at least 90 % of its occurrences (a word capitalised only at
  the start of sentences stays below that). Nothing here knows sentiment
  words: a candidate is a token that carries relevance while being one of
  these kinds, and :func:`counterfactual` tests whether the model uses it.
* **Counterfactual**: every occurrence of the word (the tokenizer's words,
  :func:`helpers.align.word_map`, compared in lower case) is replaced by
  ``replacement`` (default: removed) in every text holding it, and both
  versions are classified (:func:`helpers.windows.classify_long`, nothing
  cut). The change is in the probability of the class predicted for the
  original text; accuracy is compared when labels are given. Given the
  run's folder, the original texts are not classified again: their
  probabilities are the run's (the same model, windows and pooling), once
  its manifest shows it was made from these texts with this model.
"""

from __future__ import annotations

import os
import unicodedata
from array import array
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .align import word_map
from .corpus import corpus_texts, fingerprint, iter_shards, manifest_of, read_corpus
from .inputs import check_int
from .stats import ConfidenceInterval, bootstrap_ci, wilson_interval
from .windows import classify_long, window_for

#: The share of capitalised occurrences from which a word counts as a name.
NAME_SHARE = 0.9


@dataclass(frozen=True)
class WordRelevance:
    """One word's relevance for one class across a corpus (the module's rules).

    ``label``: the class explained; ``mean``: a :class:`ConfidenceInterval`
    over the texts holding the word; ``total``: ``mean.mean * n_texts``
    (``total_low``/``total_high`` its interval); ``capitalised``: the share
    of occurrences written with a capital first letter; ``kind``:
    :func:`shortcut_kind`.
    """

    word: str
    label: str
    n_texts: int
    total: float
    total_low: float
    total_high: float
    mean: ConfidenceInterval
    capitalised: float
    kind: str | None


def shortcut_kind(word: str, capitalised: float = 0.0) -> str | None:
    """``"number"``, ``"punctuation"``, ``"name"`` or ``None`` (the module's rule).

    ``capitalised``: the share of the word's occurrences written with a
    capital first letter (only names need it).
    """
    if any(c.isdigit() for c in word):
        return "number"
    if word and all(unicodedata.category(c)[0] in "PS" for c in word):
        return "punctuation"
    if word.isalpha() and len(word) >= 2 and capitalised >= NAME_SHARE:
        return "name"
    return None


def _relevance(out) -> tuple[dict, dict]:
    """``{(target, word): array of per-text relevance}`` and ``{word: [caps, n]}``,
    read shard by shard."""
    per_text: dict = defaultdict(lambda: array("d"))
    case: dict = defaultdict(lambda: [0, 0])
    for table in iter_shards(out):
        columns = table.select(["target", "words", "scores"]).to_pydict()
        for target, words, scores in zip(*columns.values(), strict=True):
            sums: dict[str, float] = defaultdict(float)
            for word, score in zip(words, scores, strict=True):
                key = word.lower()
                sums[key] += score
                case[key][0] += word[:1].isupper()
                case[key][1] += 1
            for key, value in sums.items():
                per_text[(target, key)].append(value)
    return per_text, case


def word_relevance(
    out: str | os.PathLike,
    *,
    min_texts: int = 5,
    n_resamples: int = 1000,
    seed: int = 1234,
) -> list[WordRelevance]:
    """Every (class, word) of a finished run held by at least ``min_texts`` texts.

    ``out``: the folder of :func:`helpers.corpus.explain_corpus`. Unordered
    (sort it, or use :func:`top_words`); the intervals are seeded.
    """
    check_int("min_texts", min_texts)
    labels = manifest_of(out)["labels"]
    per_text, case = _relevance(out)
    found = []
    for (target, word), values in per_text.items():
        if len(values) < min_texts:
            continue
        ci = bootstrap_ci(values, n_resamples=n_resamples, seed=seed)
        caps = case[word][0] / case[word][1]
        found.append(
            WordRelevance(
                word=word,
                label=labels[target] if target < len(labels) else str(target),
                n_texts=ci.n,
                total=float(sum(values)),
                total_low=ci.low * ci.n,
                total_high=ci.high * ci.n,
                mean=ci,
                capitalised=caps,
                kind=shortcut_kind(word, caps),
            )
        )
    return found


def top_words(
    out: str | os.PathLike,
    *,
    by: str = "total",
    k: int = 20,
    min_texts: int = 5,
    n_resamples: int = 1000,
    seed: int = 1234,
) -> dict[str, list[WordRelevance]]:
    """Per class explained, the ``k`` words of largest ``by`` (``"total"`` or
    ``"mean"``) relevance, largest first (ties: alphabetical)."""
    if by not in ("total", "mean"):
        raise ValueError(f"by must be 'total' or 'mean', got {by!r}.")
    words = word_relevance(out, min_texts=min_texts, n_resamples=n_resamples, seed=seed)
    value = (lambda w: w.total) if by == "total" else (lambda w: w.mean.mean)
    per_class: dict[str, list[WordRelevance]] = {}
    for label in manifest_of(out)["labels"]:
        mine = sorted(
            (w for w in words if w.label == label), key=lambda w: (-value(w), w.word)
        )
        per_class[label] = mine[:k]
    return per_class


def relevance_frequency(
    out: str | os.PathLike, *, min_texts: int = 1, seed: int = 1234
) -> list[dict]:
    """One dict per (class, word) for a scatter plot: ``word``, ``label``,
    ``n_texts`` (frequency), ``mean`` and ``total`` relevance, ``kind``."""
    return [
        {
            "word": w.word,
            "label": w.label,
            "n_texts": w.n_texts,
            "mean": w.mean.mean,
            "total": w.total,
            "kind": w.kind,
        }
        for w in word_relevance(out, min_texts=min_texts, n_resamples=1, seed=seed)
    ]


def shortcut_candidates(
    out: str | os.PathLike,
    *,
    k: int = 20,
    min_texts: int = 5,
    n_resamples: int = 1000,
    seed: int = 1234,
) -> list[WordRelevance]:
    """The ``k`` (class, word) pairs of a shortcut kind with the largest total
    relevance, largest first: what to test with :func:`counterfactual`."""
    words = word_relevance(out, min_texts=min_texts, n_resamples=n_resamples, seed=seed)
    ranked = sorted(
        (w for w in words if w.kind is not None), key=lambda w: (-w.total, w.word)
    )
    return ranked[:k]


# --------------------------------------------------------------------------- test


@dataclass(frozen=True)
class Counterfactual:
    """What removing (or replacing) ``word`` did to the texts holding it.

    ``n_texts``: texts edited; ``probability_change``: the mean change in
    the probability of each text's originally predicted class (negative: the
    word supported it), bootstrap interval over texts; ``flipped``: the
    share of predictions that changed, with its Wilson interval;
    ``accuracy_before``/``accuracy_after`` and ``accuracy_change``
    (bootstrap over texts) when labels were given, else ``None``.
    """

    word: str
    replacement: str
    n_texts: int
    probability_change: ConfidenceInterval
    flipped: float
    flipped_interval: tuple[float, float]
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    accuracy_change: ConfidenceInterval | None = None


def edit_word(tokenizer, text: str, word: str, replacement: str = "") -> str | None:
    """``text`` with every occurrence of the tokenizer word ``word`` (any case)
    replaced by ``replacement``; ``None`` when it has none, or nothing is left."""
    words = word_map(tokenizer, text)
    spans = [
        s for w, s in zip(words.words, words.spans, strict=True) if w.lower() == word
    ]
    if not spans:
        return None
    pieces, end = [], 0
    for start, stop in spans:
        pieces += [text[end:start], replacement]
        end = stop
    edited = "".join([*pieces, text[end:]])
    return edited if edited.strip() else None


def _probability_change(before, after, n_resamples, seed) -> dict:
    """How the edit moved the originally predicted class: its probability
    (bootstrap over texts) and the flips (Wilson interval)."""
    predicted = before.argmax(-1)
    p_before = before.softmax(-1).gather(1, predicted[:, None])[:, 0]
    p_after = after.softmax(-1).gather(1, predicted[:, None])[:, 0]
    flips = int((after.argmax(-1) != predicted).sum())
    change = (p_after - p_before).numpy()
    return {
        "n_texts": len(before),
        "probability_change": bootstrap_ci(change, n_resamples=n_resamples, seed=seed),
        "flipped": flips / len(before),
        "flipped_interval": wilson_interval(flips, len(before)),
    }


def _accuracy_change(before, after, truth, n_resamples, seed) -> dict:
    """Accuracy before and after the edit, and the change (bootstrap over texts)."""
    right_before = (before.argmax(-1) == truth).double()
    right_after = (after.argmax(-1) == truth).double()
    change = (right_after - right_before).numpy()
    return {
        "accuracy_before": float(right_before.mean()),
        "accuracy_after": float(right_after.mean()),
        "accuracy_change": bootstrap_ci(change, n_resamples=n_resamples, seed=seed),
    }


def run_probabilities(run, model: nn.Module, tokenizer, texts, window, overlap):
    """The probabilities ``[n_texts, n_labels]`` of ``texts`` in the finished
    :func:`helpers.corpus.explain_corpus` folder ``run``.

    Raises ``ValueError`` naming what differs when ``run`` was not made from
    ``texts`` (in this order) with ``model``, ``tokenizer`` and these windows.
    """
    manifest, table = manifest_of(run), read_corpus(run)
    ids = table.column("id").to_pylist()
    differ = ["texts"] if len(ids) != len(texts) else []
    if not differ:
        found = fingerprint(model, tokenizer, texts, ids, window=window)
        found["overlap"] = overlap
        keys = ("model", "tokenizer", "corpus", "window", "overlap")
        differ = [k for k in keys if found[k] != manifest.get(k)]
    if differ:
        raise ValueError(
            f"{run} was not made from these texts with this model and max_length "
            f"(it differs in {differ}): pass the run of these texts, or run=None "
            "to classify them again."
        )
    return torch.tensor(table.column("probs").to_pylist())


def counterfactual(
    model: nn.Module,
    tokenizer,
    texts,
    word: str,
    *,
    labels: Sequence[int] | None = None,
    replacement: str = "",
    text_column: str = "text",
    max_length: int = 512,
    batch_size: int = 16,
    n_resamples: int = 1000,
    seed: int = 1234,
    run: str | os.PathLike | None = None,
) -> Counterfactual:
    """Remove or replace ``word`` in every text holding it and classify again.

    ``texts`` as :func:`helpers.corpus.explain_corpus` takes them;
    ``labels``: the true classes, one per text (for accuracy); ``run``: the
    finished run of ``texts`` with ``model`` and ``max_length``, whose
    probabilities stand for the texts before the edit
    (:func:`run_probabilities`; only the edited texts are classified).
    Raises ``ValueError`` when no text holds ``word``.
    """
    texts = corpus_texts(texts, text_column)
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"{len(labels)} labels for {len(texts)} texts: one per text.")
    word = word.lower()
    edits = [
        (i, edit_word(tokenizer, t, word, replacement)) for i, t in enumerate(texts)
    ]
    edits = [(i, e) for i, e in edits if e is not None]
    if not edits:
        raise ValueError(f"no text holds the word {word!r}: pick one the corpus has.")
    rows = [i for i, _ in edits]
    window, overlap = window_for(tokenizer, model, max_length)
    options = {"window": window, "overlap": overlap, "batch_size": batch_size}
    options |= {"progress": False}
    if run is None:
        before = classify_long(model, tokenizer, [texts[i] for i in rows], **options)
    else:  # log-probabilities: logits up to a constant per text, the same softmax
        probs = run_probabilities(run, model, tokenizer, texts, window, overlap)
        before = probs[rows].log()
    after = classify_long(model, tokenizer, [e for _, e in edits], **options)
    result = _probability_change(before, after, n_resamples, seed)
    if labels is not None:
        truth = torch.as_tensor([int(labels[i]) for i in rows])
        result |= _accuracy_change(before, after, truth, n_resamples, seed)
    return Counterfactual(word=word, replacement=replacement, **result)
