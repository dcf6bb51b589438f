"""Metrics of explanations, apart from the methods (:mod:`helpers.attr`).

* :mod:`.faithfulness` — ERASER comprehensiveness / sufficiency / AOPC,
  deletion and insertion curves, tie shares, and the
  :func:`evaluate_faithfulness` runner;
* :mod:`.ranking` — the tokens those metrics select: the top k %, ties
  broken in a seeded random order per review, and the count of tied choices;
* the statistics (Spearman, bootstrap intervals) live in :mod:`helpers.stats`
  only;
* :mod:`.sanity` — Adebayo et al.'s cascading model randomisation;
* :mod:`.plausibility` — agreement with human rationales (AUPRC, F1;
  chapter 6);
* :mod:`.cost` — measured milliseconds and model passes per review;
* :mod:`.cache` — :class:`ResultsCache`: each method's numbers on disk with
  what they were made from, loaded by a later run only when that is the same;
* :mod:`.base` — :class:`Metric`: each reported number's name, range and
  direction, defined next to the code that computes it and gathered in
  :data:`METRICS` (``metrics.METRICS["sufficiency"].direction``).

Everything public is re-exported here: ``metrics.comprehensiveness(...)``.
"""

from __future__ import annotations

from . import cache, cost, faithfulness, plausibility, ranking, sanity
from .base import Metric
from .cache import ResultsCache
from .faithfulness import (
    AOPC_FRACTIONS,
    COMP_MINUS_RANDOM,
    COMPREHENSIVENESS,
    CURVE_FRACTIONS,
    DELETION_AUC,
    INSERTION_AUC,
    RANDOM,
    SUFFICIENCY,
    FaithfulnessResults,
    aopc,
    comprehensiveness,
    evaluate_faithfulness,
    sufficiency,
    target_probabilities,
)
from .ranking import n_selected, rank_tokens, tied_selection, top_fraction_mask
from .sanity import (
    CASCADE_RHO,
    CASCADE_RHO_ABS,
    HEAD_THRESHOLD,
    PASS_THRESHOLD,
    CascadeResults,
    CascadeStep,
    cascading_randomisation,
    randomisation_steps,
    rank_change,
    reinitialise_,
    sanity_check,
)

#: Every metric the book reports, by name: ``METRICS["AUPRC"].higher_is_better``.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        *faithfulness.METRICS,
        *plausibility.METRICS,
        *sanity.METRICS,
        *cost.METRICS,
    )
}

__all__ = [
    "AOPC_FRACTIONS",
    "CASCADE_RHO",
    "CASCADE_RHO_ABS",
    "COMPREHENSIVENESS",
    "COMP_MINUS_RANDOM",
    "CURVE_FRACTIONS",
    "DELETION_AUC",
    "HEAD_THRESHOLD",
    "INSERTION_AUC",
    "METRICS",
    "PASS_THRESHOLD",
    "RANDOM",
    "SUFFICIENCY",
    "CascadeResults",
    "CascadeStep",
    "FaithfulnessResults",
    "Metric",
    "ResultsCache",
    "aopc",
    "cache",
    "cascading_randomisation",
    "comprehensiveness",
    "cost",
    "evaluate_faithfulness",
    "faithfulness",
    "n_selected",
    "plausibility",
    "randomisation_steps",
    "rank_change",
    "rank_tokens",
    "ranking",
    "reinitialise_",
    "sanity",
    "sanity_check",
    "sufficiency",
    "target_probabilities",
    "tied_selection",
    "top_fraction_mask",
]
