"""Plausibility: do an explainer's highlights agree with the words people marked?

Faithfulness asks whether the model *used* the highlighted tokens; plausibility
asks whether they are the tokens a *person* would mark (Jacovi & Goldberg,
2020). ERASER (DeYoung et al., ACL 2020) measures it against human rationales,
here those of the Movies task (see :mod:`helpers.data.eraser`), on the WordPiece
tokens the model reads:

* :func:`auprc` — average precision of the token scores against the rationale
  mask of one review (the step-wise area under the precision-recall curve,
  scikit-learn's ``average_precision_score``);
* :func:`eraser_auprc` — the trapezoidal area ERASER's own scorer reports;
* :func:`token_f1_at_k` — token F1 of the top-k tokens, with k = the number of
  rationale tokens ("F1 at the rationale's own length");
* :func:`evaluate_plausibility` — all of them for several explainers over a
  set of reviews, with the model's prediction, per review.

Published reference rows (ERASER's Table 4, soft scoring, Movies) are *not*
included: their numbers could not be checked against a copy of the paper from
here, and none is typed from memory. ERASER's Table 4 caption and Section 6
(read in a converted copy of the ACL paper) state what is comparable: AUPRC
against human rationales, comprehensiveness and sufficiency as AOPC over bins
of 1, 5, 10, 20 and 50 % of tokens, "Random" averaged over 10 runs, for a
BERT+LSTM model that reads whole reviews in 512-token chunks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data.eraser import RationaleBatch, encode_rationales
from ..inputs import batches_by_length, slice_batch, to_device
from ..models import eval_mode, model_device
from ..tokens import TokenRoles
from .base import Metric

#: Average precision of the token scores against the human rationale.
AUPRC = Metric(
    "AUPRC",
    low=0.0,
    high=1.0,
    best=1.0,
    what="average precision of the token scores against the human rationale",
)
#: The trapezoidal AUPRC of ERASER's own scorer.
ERASER_AUPRC = Metric(
    "ERASER AUPRC",
    low=0.0,
    high=1.0,
    best=1.0,
    what="ERASER's trapezoidal area under the precision-recall curve",
)
#: Token F1 of the top-k tokens, k = the rationale's length.
TOKEN_F1 = Metric(
    "F1",
    low=0.0,
    high=1.0,
    best=1.0,
    what="token F1 of the top-k tokens against the rationale, k its length",
)
#: The plausibility metrics the book reports.
METRICS = (AUPRC, ERASER_AUPRC, TOKEN_F1)


# --------------------------------------------------------------------------- #
# Per-review metrics
# --------------------------------------------------------------------------- #
def _pair(scores, rationale) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(
        scores.detach().cpu() if torch.is_tensor(scores) else scores, dtype=np.float64
    )
    y = np.asarray(
        rationale.detach().cpu() if torch.is_tensor(rationale) else rationale
    ).astype(bool)
    if s.ndim != 1 or s.shape != y.shape:
        raise ValueError(
            f"scores {s.shape} and rationale {y.shape} must be 1-D and of one "
            "length: pass one review's real tokens (no [CLS], [SEP], padding)."
        )
    if not np.isfinite(s).all():
        raise ValueError(
            "scores contain NaN or inf: the explainer failed on this review; "
            "fix it (or drop the review) before scoring plausibility."
        )
    return s, y


def _curve(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives at each distinct threshold, highest score first.

    Tied scores form one threshold (all of them are in or out together), so the
    result does not depend on the order of tied tokens.
    """
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[ends]
    fps = ends + 1 - tps
    return tps.astype(np.float64), fps.astype(np.float64)


def auprc(scores, rationale) -> float:
    """Average precision of ``scores`` ``[n]`` against a boolean ``rationale`` ``[n]``.

    AP = Σ_t (R_t − R_{t−1}) · P_t over the distinct score thresholds t,
    highest first: the step-wise area under the precision-recall curve,
    as ``sklearn.metrics.average_precision_score``. Tied scores form one
    threshold, so ties are neither rewarded nor punished by position. 1.0 when
    every rationale token outranks every other token; about the rationale's
    share of tokens for random scores. NaN when the review has no rationale
    token (callers count and skip those).
    """
    s, y = _pair(scores, rationale)
    if not y.any():
        return float("nan")
    tps, fps = _curve(s, y)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return AUPRC.check(float(np.sum(np.diff(np.r_[0.0, recall]) * precision)))


def eraser_auprc(scores, rationale) -> float:
    """The "AUPRC" of ERASER's scorer: trapezoidal area under the PR curve.

    ERASER's ``rationale_benchmark/metrics.py`` (``_auprc``) computes
    ``auc(recall, precision)`` on scikit-learn's ``precision_recall_curve``
    (version 0.20, as pinned there): the curve starts at (recall 0,
    precision 1), stops at the first threshold reaching full recall, and
    points are joined by straight lines. Linear interpolation is optimistic
    (Davis & Goadrich, 2006), so this is usually a little above :func:`auprc`;
    it is given to compare with ERASER's published numbers. NaN without
    rationale tokens.
    """
    s, y = _pair(scores, rationale)
    if not y.any():
        return float("nan")
    tps, fps = _curve(s, y)
    last = int(np.searchsorted(tps, tps[-1]))
    precision = np.r_[1.0, (tps / (tps + fps))[: last + 1]]
    recall = np.r_[0.0, (tps / tps[-1])[: last + 1]]
    area = float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2))
    return ERASER_AUPRC.check(area)


def top_k_mask(scores, k: int, *, seed=1234) -> np.ndarray:
    """Boolean ``[n]``: the ``k`` highest scores, ties broken at random.

    Tokens are ordered by score, then by a random permutation drawn from
    ``numpy.random.default_rng(seed)`` (``seed`` may be an int, a sequence of
    ints or a ``Generator``), never by position.
    """
    s = np.asarray(
        scores.detach().cpu() if torch.is_tensor(scores) else scores, dtype=np.float64
    )
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}.")
    if not 0 <= int(k) <= len(s):
        raise ValueError(f"k must be between 0 and {len(s)}, got {k}.")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    order = np.lexsort((rng.permutation(len(s)), -s))
    mask = np.zeros(len(s), dtype=bool)
    mask[order[: int(k)]] = True
    return mask


def chosen_by_lot(scores, k: int) -> int:
    """How many of the top ``k`` tokens were picked at random among ties.

    Nonzero when the k-th highest score also occurs outside the top k: the
    tokens with that score inside the top k were chosen by lot.
    """
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if k <= 0 or k >= len(s) or s[k - 1] != s[k]:
        return 0
    return int(np.sum(s[:k] == s[k - 1]))


def token_f1_at_k(scores, rationale, k: int | None = None, *, seed=1234) -> float:
    """Token F1 of the ``k`` top-scored tokens against the ``rationale`` ``[n]``.

    ``k = None``: the number of rationale tokens, so precision = recall = F1
    (ERASER's token F1 with the rationale's own length). Ties at the cut are
    broken at random (:func:`top_k_mask` with ``seed``). NaN when the review
    has no rationale token.
    """
    s, y = _pair(scores, rationale)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    k = n_pos if k is None else int(k)
    chosen = top_k_mask(s, k, seed=seed)
    tp = int(np.sum(chosen & y))
    return TOKEN_F1.check(2.0 * tp / (k + n_pos) if k + n_pos else float("nan"))


# --------------------------------------------------------------------------- #
# Many reviews, many methods
# --------------------------------------------------------------------------- #
@dataclass
class PlausibilityResult:
    """Per-review plausibility of several explainers, with the model's outputs.

    Arrays are ``[n]`` in the order of the reviews given. ``targets``: the class
    each review was explained for (the prediction, or the label with
    ``target="label"``). ``n_tokens``: real tokens explained (no specials);
    ``rationale_tokens``: rationale tokens among them; ``coverage``: share of
    the review's rationale words inside the explained part. ``auprc``,
    ``eraser_auprc``, ``f1``, ``by_lot`` (share of the top-k chosen by lot
    among ties): ``{method: [n]}``, NaN where a review has no rationale token
    in the explained part. ``scores``: ``{method: FloatTensor [n, seq]}``
    aligned with ``encoding.inputs`` (0 at padding), so the same maps can be
    shown or fed to the faithfulness metrics. ``encoding``: the reviews as
    encoded (``.inputs``, ``.rationale``, ``.texts``). ``logits``: the model's
    ``[n, labels]`` on them (what :class:`helpers.attr.StoredMaps` serves with
    the maps, so the model need not run again).
    """

    ids: list[str]
    labels: np.ndarray
    predictions: np.ndarray
    p_predicted: np.ndarray
    targets: np.ndarray
    target: str
    n_tokens: np.ndarray
    rationale_tokens: np.ndarray
    coverage: np.ndarray
    auprc: dict[str, np.ndarray]
    eraser_auprc: dict[str, np.ndarray]
    f1: dict[str, np.ndarray]
    by_lot: dict[str, np.ndarray]
    scores: dict[str, torch.Tensor]
    encoding: RationaleBatch
    seed: int
    logits: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def accuracy(self) -> float:
        """Share of reviews whose prediction equals the human label."""
        return float(np.mean(self.predictions == self.labels))

    @property
    def methods(self) -> list[str]:
        return list(self.auprc)

    @property
    def texts(self) -> list[str]:
        """The reviews as strings (words joined by spaces), for other runners."""
        return self.encoding.texts

    @property
    def max_length(self) -> int:
        return self.encoding.max_length

    @property
    def scored(self) -> np.ndarray:
        """Boolean ``[n]``: reviews with a rationale token in the explained part."""
        return self.rationale_tokens > 0

    def summary(self) -> list[dict]:
        """One row per method: means over scored reviews and their ``n``."""
        rows = []
        for name in self.methods:
            rows.append(
                {
                    "method": name,
                    "n": int(np.isfinite(self.auprc[name]).sum()),
                    "auprc": float(np.nanmean(self.auprc[name])),
                    "eraser_auprc": float(np.nanmean(self.eraser_auprc[name])),
                    "f1": float(np.nanmean(self.f1[name])),
                    "by_lot": float(np.nanmean(self.by_lot[name])),
                }
            )
        return rows


def _named(methods) -> dict:
    if isinstance(methods, Mapping):
        named = dict(methods)
    elif isinstance(methods, Sequence) and not isinstance(methods, str):
        named = {getattr(m, "name", type(m).__name__): m for m in methods}
        if len(named) != len(methods):
            raise ValueError("two methods share a name: pass a dict {name: method}.")
    else:
        named = {getattr(methods, "name", type(methods).__name__): methods}
    if not named:
        raise ValueError("No methods given: pass explainers with .attribute().")
    for name, m in named.items():
        if not callable(getattr(m, "attribute", None)):
            raise TypeError(
                f"method {name!r} has no attribute(inputs, target=None): "
                "derive it from helpers.attr.Attribution."
            )
    return named


def _logits(model, batch) -> torch.Tensor:
    out = model(**batch)
    return (out.logits if hasattr(out, "logits") else out).float()


def _check_map(name, scores, shape) -> torch.Tensor:
    if not torch.is_tensor(scores) or tuple(scores.shape) != tuple(shape):
        got = tuple(scores.shape) if torch.is_tensor(scores) else type(scores)
        raise ValueError(
            f"{name}.attribute returned {got}, expected a tensor {tuple(shape)} "
            "[batch, seq]."
        )
    return scores.detach().float().cpu()


def evaluate_plausibility(
    model,
    tokenizer,
    docs,
    methods,
    *,
    max_length: int = 512,
    batch_size: int = 4,
    seed: int = 1234,
    target: str = "predicted",
    progress: bool = True,
) -> PlausibilityResult:
    """AUPRC and token F1 against human rationales, per review and method.

    ``docs``: :class:`helpers.data.eraser.RationaleReview` objects; ``methods``:
    explainers (:class:`helpers.attr.Attribution`, scores ``[batch, seq]``)
    as a list or a dict ``{name: explainer}``. Reviews are encoded with
    :func:`helpers.data.eraser.encode_rationales` (first ``max_length`` tokens),
    grouped by length, and scored on their real tokens only.

    ``target="predicted"`` (default) explains the class the model predicts
    (``target=None``): plausibility then asks whether the reasons given for
    *the model's* decision are the ones a person gave; on misclassified reviews
    the person's rationale supports the other class, so they are expected to
    score lower (compare with ``result.predictions == result.labels``).
    ``target="label"`` explains the human label instead. The model runs in eval
    mode, its previous mode restored; F1 ties are broken with a generator
    seeded by ``(seed, review index)``, independent of batching.
    """
    from tqdm.auto import tqdm

    if target not in ("predicted", "label"):
        raise ValueError(f"target must be 'predicted' or 'label', got {target!r}.")
    named = _named(methods)
    enc = encode_rationales(docs, tokenizer, max_length=max_length)
    roles = TokenRoles.from_tokenizer(tokenizer)
    n, width = enc.inputs["input_ids"].shape
    out = _empty_arrays(n, named)
    scores = {name: torch.zeros(n, width) for name in named}
    batches = batches_by_length(enc.inputs["attention_mask"].sum(1), batch_size)
    with eval_mode(model):
        for rows in tqdm(batches, desc="plausibility", disable=not progress):
            batch = slice_batch(enc.inputs, rows)
            explain = _predict(model, batch, enc.labels[rows], target, out, rows)
            real = roles.real(batch)
            rationale = enc.rationale[rows, : batch["input_ids"].shape[1]]
            for name, method in named.items():
                maps = _check_map(
                    name, method.attribute(batch, target=explain).scores, real.shape
                )
                scores[name][rows, : maps.shape[1]] = maps * real
                _score_rows(out, name, rows, maps, rationale, real, seed)
    return _result(enc, target, scores, seed, out)


def _result(enc: RationaleBatch, target: str, scores, seed, out) -> PlausibilityResult:
    """The :class:`PlausibilityResult` of the encoded reviews and filled arrays."""
    return PlausibilityResult(
        ids=enc.ids,
        labels=enc.labels.numpy(),
        target=target,
        coverage=enc.coverage,
        scores=scores,
        encoding=enc,
        seed=seed,
        **out,
    )


def _predict(model, batch, labels, target: str, out: dict, rows):
    """Record the model's prediction for ``rows``; return the class to explain.

    Fills ``out``'s ``logits``, ``predictions``, ``p_predicted`` and ``targets``;
    returns ``None`` (explain the prediction) or ``labels`` (``target="label"``).
    """
    with torch.no_grad():
        logits = _logits(model, to_device(batch, model_device(model)))
    probs = logits.softmax(-1).cpu()
    pred = probs.argmax(-1)
    if "logits" not in out:
        out["logits"] = np.zeros((len(out["predictions"]), logits.shape[1]))
    out["logits"][rows] = logits.cpu().numpy()
    out["predictions"][rows] = pred.numpy()
    out["p_predicted"][rows] = probs.max(-1).values.numpy()
    explain = None if target == "predicted" else labels
    out["targets"][rows] = (pred if explain is None else labels).numpy()
    return explain


def _empty_arrays(n: int, named) -> dict:
    def nan() -> np.ndarray:
        return np.full(n, np.nan)

    return {
        "predictions": np.zeros(n, dtype=np.int64),
        "p_predicted": nan(),
        "targets": np.zeros(n, dtype=np.int64),
        "n_tokens": np.zeros(n, dtype=np.int64),
        "rationale_tokens": np.zeros(n, dtype=np.int64),
        "auprc": {name: nan() for name in named},
        "eraser_auprc": {name: nan() for name in named},
        "f1": {name: nan() for name in named},
        "by_lot": {name: nan() for name in named},
    }


def _score_rows(out, name, rows, maps, rationale, real, seed) -> None:
    """Fill the metrics of ``name`` for the reviews ``rows`` of one batch."""
    for j, i in enumerate(rows):
        s = maps[j][real[j]].numpy()
        y = rationale[j][real[j]].numpy()
        out["n_tokens"][i], out["rationale_tokens"][i] = len(s), int(y.sum())
        if not np.isfinite(s).all():
            raise ValueError(
                f"{name} gave NaN or inf scores for review {i}: fix the explainer "
                "(or drop the review) before scoring plausibility."
            )
        if not y.any():
            continue
        out["auprc"][name][i] = auprc(s, y)
        out["eraser_auprc"][name][i] = eraser_auprc(s, y)
        out["f1"][name][i] = token_f1_at_k(s, y, seed=(seed, i))
        out["by_lot"][name][i] = chosen_by_lot(s, int(y.sum())) / int(y.sum())
