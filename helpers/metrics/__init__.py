"""Metrics of explanations, apart from the methods (:mod:`helpers.attr`).

* :mod:`.faithfulness` — ERASER comprehensiveness / sufficiency / AOPC,
  deletion and insertion curves, seeded tie-breaking and tie shares, and the
  :func:`evaluate_faithfulness` runner;
* the statistics (Spearman, bootstrap intervals) live in :mod:`helpers.stats`
  and are re-exported here;
* :mod:`.sanity` — Adebayo et al.'s cascading model randomisation;
* :mod:`.plausibility` — agreement with human rationales (AUPRC, F1;
  chapter 6);
* :mod:`.cost` — measured milliseconds and model passes per review.

Everything public is re-exported here: ``metrics.comprehensiveness(...)``.
"""

from __future__ import annotations

from ..stats import ConfidenceInterval, bootstrap_ci, per_review_spearman, spearman
from . import cost, plausibility
from .faithfulness import (
    AOPC_FRACTIONS,
    CURVE_FRACTIONS,
    RANDOM,
    FaithfulnessResults,
    aopc,
    comprehensiveness,
    evaluate_faithfulness,
    n_selected,
    rank_tokens,
    sufficiency,
    target_probabilities,
    tied_selection,
    top_fraction_mask,
)
from .sanity import (
    PASS_THRESHOLD,
    CascadeResults,
    CascadeStep,
    cascading_randomisation,
    randomisation_steps,
    rank_change,
    reinitialise_,
    sanity_check,
)

__all__ = [
    "AOPC_FRACTIONS",
    "CURVE_FRACTIONS",
    "PASS_THRESHOLD",
    "RANDOM",
    "CascadeResults",
    "CascadeStep",
    "ConfidenceInterval",
    "FaithfulnessResults",
    "aopc",
    "bootstrap_ci",
    "cascading_randomisation",
    "comprehensiveness",
    "cost",
    "evaluate_faithfulness",
    "n_selected",
    "per_review_spearman",
    "plausibility",
    "randomisation_steps",
    "rank_change",
    "rank_tokens",
    "reinitialise_",
    "sanity_check",
    "spearman",
    "sufficiency",
    "target_probabilities",
    "tied_selection",
    "top_fraction_mask",
]
