"""Honest baselines for the Japanese sentiment models: majority class and bag of words.

Any accuracy of the small Japanese BERT means something only beside what a
trivial model gets on the same test sentences:

* :func:`majority_baseline` always predicts the label most frequent in the
  training data;
* :func:`bow_logistic_regression` is an L2-regularised logistic regression on
  the presence of MeCab (ipadic) words, the *same* words the BERT's tokenizer
  starts from (:func:`helpers.ja.corpus.mecab_words`). It is fitted by
  full-batch L-BFGS in float64 from zero weights (the objective is convex, so
  the result does not depend on a seed), and its regularisation ``C`` is chosen
  on the validation split only; the test split is scored once, for the chosen
  ``C``.

chABSA has no validation split: :func:`helpers.ja.corpus.chabsa_train_valid`
carves one out of its training sentences (seeded, stratified by label), the
same way :func:`helpers.ja.model.train_japanese_model` does.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import scipy.sparse
import scipy.special
import torch
import torch.nn.functional as F

from ..data import ReviewSet
from .corpus import mecab_words

__all__ = [
    "DEFAULT_CS",
    "BowLogisticRegression",
    "bow_accuracy",
    "bow_logistic_regression",
    "fit_bow_logistic_regression",
    "majority_baseline",
]

#: Inverse regularisation strengths tried on the validation split.
DEFAULT_CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def _check_set(reviews: ReviewSet, name: str) -> None:
    if len(reviews) == 0:
        raise ValueError(f"{name} is empty: pass at least one labelled sentence.")
    bad = set(reviews.labels) - {0, 1}
    if bad:
        raise ValueError(f"{name} has labels {sorted(bad)}: use 0 and 1.")


def _accuracy(preds: np.ndarray, labels) -> float:
    return float((np.asarray(preds) == np.asarray(labels)).mean())


# --------------------------------------------------------------------------- #
# Majority class
# --------------------------------------------------------------------------- #
def majority_baseline(train: ReviewSet, test: ReviewSet, seed: int = 1234) -> dict:
    """Accuracy on ``test`` of always predicting the most frequent label of ``train``.

    A tie between the two labels is broken at random (seeded). Returns
    ``{"accuracy", "n", "label"}``.
    """
    _check_set(train, "train")
    _check_set(test, "test")
    counts = collections.Counter(train.labels)
    best = max(counts.values())
    label = random.Random(seed).choice(
        sorted(k for k, v in counts.items() if v == best)
    )
    return {
        "accuracy": _accuracy(np.full(len(test), label), test.labels),
        "n": len(test),
        "label": int(label),
    }


# --------------------------------------------------------------------------- #
# Bag-of-words logistic regression
# --------------------------------------------------------------------------- #
@dataclass
class BowLogisticRegression:
    """A fitted bag-of-words logistic regression: word -> column, weights, bias.

    ``weight``: float64 ``[n_words]``; ``predict_proba`` gives ``[n, 2]``
    probabilities (column 1 = positive). Words not in ``vocab`` are ignored.
    """

    vocab: dict[str, int]
    weight: torch.Tensor
    bias: float
    C: float
    tokenize: Callable = field(default=mecab_words, repr=False)

    def features(self, token_lists: Sequence[Sequence[str]]) -> torch.Tensor:
        """Sparse float64 ``[n, n_words]``: 1 where the text holds the word."""
        return presence_matrix(token_lists, self.vocab)

    def logits(self, token_lists) -> torch.Tensor:
        """Float64 ``[n]``: the log-odds of *positive* for each tokenized text."""
        return torch.sparse.mm(self.features(token_lists), self.weight[:, None])[
            :, 0
        ] + float(self.bias)

    def predict_proba(self, texts) -> np.ndarray:
        """Probabilities ``[n, 2]`` (negative, positive) for raw texts."""
        p = torch.sigmoid(self.logits(self.tokenize(list(texts)))).numpy()
        return np.stack([1 - p, p], axis=1)

    def top_words(self, k: int = 10) -> dict[str, list[tuple[str, float]]]:
        """The ``k`` words with the most positive and the most negative weights."""
        words = sorted(self.vocab, key=self.vocab.get)
        order = torch.argsort(self.weight).tolist()
        pick = [(words[i], float(self.weight[i])) for i in order]
        return {"positive": pick[::-1][:k], "negative": pick[:k]}


def word_vocab(token_lists, min_count: int = 1) -> dict[str, int]:
    """Word -> column for the words of at least ``min_count`` texts, sorted."""
    df = collections.Counter(w for tokens in token_lists for w in set(tokens))
    return {
        w: i for i, w in enumerate(sorted(w for w, n in df.items() if n >= min_count))
    }


def presence_matrix(token_lists, vocab: dict[str, int]) -> torch.Tensor:
    """Sparse float64 ``[n_texts, len(vocab)]``: 1 where text ``i`` holds word ``j``."""
    rows, cols = [], []
    for i, tokens in enumerate(token_lists):
        for j in sorted({vocab[w] for w in tokens if w in vocab}):
            rows.append(i)
            cols.append(j)
    index = torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1)
    values = torch.ones(index.shape[1], dtype=torch.float64)
    return torch.sparse_coo_tensor(
        index, values, (len(token_lists), len(vocab)), check_invariants=False
    ).coalesce()


def fit_bow_logistic_regression(
    token_lists,
    labels,
    C: float,
    vocab: dict[str, int] | None = None,
    max_iter: int = 500,
    tokenize: Callable = mecab_words,
) -> BowLogisticRegression:
    """Fit ``C * sum(log-loss) + ||w||² / 2`` (bias not penalised) by L-BFGS from zero.

    ``token_lists``: the words of each training text; ``labels``: 0/1.
    Deterministic (convex objective, zero start, full batch, float64); SciPy's
    L-BFGS-B on the sparse presence matrix with the exact gradient.
    """
    if C <= 0:
        raise ValueError(f"C must be positive, got {C}")
    vocab = vocab if vocab is not None else word_vocab(token_lists)
    X = presence_matrix(token_lists, vocab)
    X = scipy.sparse.csr_matrix(
        (X.values().numpy(), X.indices().numpy()), shape=tuple(X.shape)
    )
    y = np.asarray(list(labels), dtype=np.float64)

    def objective(w):
        z = X @ w[:-1] + w[-1]
        loss = C * np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * w[:-1] @ w[:-1]
        residual = C * (scipy.special.expit(z) - y)
        grad = np.append(X.T @ residual + w[:-1], residual.sum())
        return loss / len(y), grad / len(y)

    result = scipy.optimize.minimize(
        objective,
        np.zeros(len(vocab) + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": 1e-9, "ftol": 1e-15},
    )
    weights = torch.from_numpy(result.x)
    return BowLogisticRegression(vocab, weights[:-1], float(weights[-1]), C, tokenize)


def _select(scores: dict[float, tuple[float, float]], seed: int) -> float:
    """The C of best validation accuracy, then lowest loss; exact ties at random."""
    best = max((acc, -loss) for acc, loss in scores.values())
    tied = sorted(c for c, (acc, loss) in scores.items() if (acc, -loss) == best)
    return random.Random(seed).choice(tied)


def bow_logistic_regression(
    train: ReviewSet,
    valid: ReviewSet,
    test: ReviewSet,
    tokenize: Callable = mecab_words,
    Cs: Sequence[float] = DEFAULT_CS,
    min_count: int = 1,
    seed: int = 1234,
) -> dict:
    """Bag-of-words logistic regression: ``C`` chosen on ``valid``, then ``test`` once.

    The vocabulary is the words (``tokenize``: MeCab/ipadic by default) of
    ``train`` found in at least ``min_count`` sentences. One model per ``C`` is
    fitted on ``train``; the one with the best validation accuracy (then the
    lowest validation log-loss, then a seeded draw) is scored on ``test``.
    Returns ``{"accuracy", "n", "C", "valid_accuracy", "valid_scores" ({C:
    accuracy}), "vocab_size", "model"}``.
    """
    for reviews, name in ((train, "train"), (valid, "valid"), (test, "test")):
        _check_set(reviews, name)
    tokens = {
        name: tokenize(list(s.texts))
        for name, s in (("train", train), ("valid", valid))
    }
    vocab = word_vocab(tokens["train"], min_count)
    models, scores = {}, {}
    for C in Cs:
        model = fit_bow_logistic_regression(
            tokens["train"], train.labels, C, vocab, tokenize=tokenize
        )
        z = model.logits(tokens["valid"])
        y = torch.tensor(list(valid.labels), dtype=torch.float64)
        loss = float(F.binary_cross_entropy_with_logits(z, y))
        scores[C] = (_accuracy((z > 0).long().numpy(), valid.labels), loss)
        models[C] = model
    C = _select(scores, seed)
    model = models[C]
    return {
        **bow_accuracy(model, test),
        "C": C,
        "valid_accuracy": scores[C][0],
        "valid_scores": {c: acc for c, (acc, _) in scores.items()},
        "vocab_size": len(vocab),
        "model": model,
    }


def bow_accuracy(model: BowLogisticRegression, test: ReviewSet) -> dict:
    """``{"accuracy", "n"}`` of a fitted bag-of-words model on another test set."""
    _check_set(test, "test")
    preds = (model.logits(model.tokenize(list(test.texts))) > 0).long().numpy()
    return {"accuracy": _accuracy(preds, test.labels), "n": len(test)}
