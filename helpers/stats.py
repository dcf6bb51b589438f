"""Statistics behind the book's numbers: rank correlation and intervals.

* :func:`spearman` / :func:`per_review_spearman` — Spearman's rank
  correlation (average ranks for ties), of two vectors or of two maps
  review by review over the real tokens;
* :func:`bootstrap_ci` — a mean with its percentile bootstrap interval over
  reviews, as a :class:`ConfidenceInterval` that knows its ``n``;
* :func:`wilson_interval` — the 95 % Wilson score interval of a proportion
  (an accuracy ``k / n``);
* :func:`ranked` — positions from the highest score down, ties in a seeded
  random order (never by position): the book's one top-k rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import binomtest, rankdata


def ranked(scores, seed: int = 1234) -> torch.Tensor:
    """Positions of the 1-D ``scores``, highest first; equal scores in a random
    order seeded with ``seed``, never by position."""
    scores = torch.as_tensor(scores)
    shuffle = torch.randperm(len(scores), generator=torch.Generator().manual_seed(seed))
    return shuffle[torch.argsort(scores[shuffle], descending=True, stable=True)]


def spearman(a, b) -> float:
    """Spearman rank correlation of two vectors; NaN if one is constant.

    Average ranks for ties (as ``scipy.stats.spearmanr``). Raises
    ``ValueError`` for vectors of different lengths.
    """
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"spearman needs vectors of one length, got {a.shape} and {b.shape}."
        )
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def per_review_spearman(
    maps_a: torch.Tensor, maps_b: torch.Tensor, real: torch.Tensor
) -> np.ndarray:
    """Spearman of two ``[batch, seq]`` maps, per review over its real tokens.

    ``real``: boolean ``[batch, seq]``. Returns ``[batch]``, NaN where a map is
    constant over the real tokens.
    """
    maps_a, maps_b, real = maps_a.cpu(), maps_b.cpu(), real.cpu().bool()
    return np.array(
        [
            spearman(maps_a[i][real[i]].numpy(), maps_b[i][real[i]].numpy())
            for i in range(real.shape[0])
        ]
    )


@dataclass(frozen=True)
class ConfidenceInterval:
    """A mean with its bootstrap percentile interval over ``n`` values.

    ``str(ci)`` gives ``"0.412 [0.390, 0.431]"`` (for table cells whose ``n``
    is stated once); :meth:`with_n` adds it: ``"0.412 [0.390, 0.431], n = 40"``.
    """

    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"

    def with_n(self) -> str:
        """The interval and the number of values behind it."""
        return f"{self}, n = {self.n}"


def bootstrap_ci(
    values, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 1234
) -> ConfidenceInterval:
    """Mean and percentile bootstrap interval of ``values`` (reviews resampled, seeded).

    NaN values are left out, and ``n`` counts the values kept. Raises
    ``ValueError`` when nothing is left or ``confidence`` is not in (0, 1).
    """
    values = np.asarray(values, dtype=float).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one (non-NaN) value.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.size, size=(n_resamples, values.size))
    means = values[picks].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return ConfidenceInterval(
        float(values.mean()), float(low), float(high), int(values.size)
    )


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (``(nan, nan)`` if n=0).

    Stays inside [0, 1] and sensible at 0 % and 100 % (scipy's ``binomtest``).
    """
    if n == 0:
        return math.nan, math.nan
    ci = binomtest(int(k), int(n)).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)
