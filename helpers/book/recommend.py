"""Chapter 6's closing tables: faithful, plausible, affordable — and a verdict.

Plausibility against the human rationales, paired differences between
methods, the side-by-side recommendation table, the methods to use (the most
comprehensive that beat random and pass the sanity check, with every one not
separated from it) and the verdict against integrated gradients, each in words
computed from the numbers. Nothing here computes an explanation: it reads the
results of :mod:`helpers.metrics`; the book's answers written from these are
in :mod:`helpers.book.answers`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..metrics.cost import MS_PER_REVIEW
from ..metrics.faithfulness import RANDOM, FaithfulnessResults
from ..metrics.plausibility import AUPRC, TOKEN_F1
from ..stats import ConfidenceInterval, bootstrap_ci, spearman
from .report import by_method, leaders, qualifies


def plausibility_table(result, n_resamples: int = 1000, seed: int = 1234) -> list[dict]:
    """One row per method of a plausibility result: AUPRC and F1 with CIs.

    ``result``: :class:`helpers.metrics.plausibility.PlausibilityResult`.
    Reviews without a rationale token in the explained part are left out
    (their values are NaN); ``n`` counts the reviews kept.
    """
    rows = []
    for name in result.methods:
        auprc = bootstrap_ci(result.auprc[name], n_resamples, seed=seed)
        rows.append(
            {
                "method": name,
                AUPRC.name: auprc,
                TOKEN_F1.name: bootstrap_ci(result.f1[name], n_resamples, seed=seed),
                "n": auprc.n,
            }
        )
    return rows


def paired_difference(
    results: FaithfulnessResults,
    a: str,
    b: str,
    metric: str = "comprehensiveness",
    n_resamples: int = 1000,
    seed: int = 1234,
) -> ConfidenceInterval:
    """Mean and CI of ``AOPC(a) - AOPC(b)`` over the same reviews (paired bootstrap)."""
    diff = results.aopc(metric, a) - results.aopc(metric, b)
    return bootstrap_ci(diff, n_resamples, seed=seed)


def recommendation_table(
    faithfulness_rows: list[dict], plausibility_rows: list[dict], costs: dict
) -> list[dict]:
    """Both axes and the cost, one row per method found in all three inputs.

    Columns: ``comprehensiveness`` / ``sufficiency`` (CIs, from
    :func:`helpers.book.report.results_table`), ``sanity`` (pass/fail), ``AUPRC``
    / ``F1`` (CIs), ``ms/review`` and ``passes`` (forward + backward passes
    per review, measured by :func:`helpers.metrics.cost.measure_cost`).
    """
    plaus = by_method(plausibility_rows)
    rows = []
    for f in faithfulness_rows:
        name = f["method"]
        if name not in plaus or name not in costs:
            continue
        cost = costs[name]
        rows.append(
            {
                "method": name,
                "comprehensiveness": f["comprehensiveness"],
                "sufficiency": f["sufficiency"],
                "sanity": f.get("sanity", "–"),
                AUPRC.name: plaus[name][AUPRC.name],
                TOKEN_F1.name: plaus[name][TOKEN_F1.name],
                MS_PER_REVIEW.name: f"{cost.ms:,.0f}",
                "passes": f"{cost.forwards:g} + {cost.backwards:g}",
            }
        )
    return rows


def recommendations(faithfulness_rows: list[dict], exclude=(RANDOM,)) -> list[str]:
    """The methods to recommend, best first: the most comprehensive of those
    that beat random (paired CI above 0) and pass the sanity check (when it
    ran), then every such method not separated from it (overlapping
    comprehensiveness intervals, :func:`helpers.book.report.leaders`).
    ``[]`` when none qualifies."""
    ok = [r for r in faithfulness_rows if qualifies(r, exclude)]
    return [r["method"] for r in leaders(ok)]


def recommend(faithfulness_rows: list[dict], exclude=(RANDOM,)) -> str | None:
    """The first of :func:`recommendations` (the most comprehensive), or None."""
    picks = recommendations(faithfulness_rows, exclude)
    return picks[0] if picks else None


def times(ratio: float) -> str:
    """A ratio in words: ``"about 3.2×"``, ``"about 30× (an order of magnitude)"``,
    ``"about 300× (two orders of magnitude)"``; under 1.5: ``"about 1×"``."""
    if not ratio >= 1:
        raise ValueError(f"ratio must be at least 1, got {ratio}.")
    if ratio < 1.5:
        return "about 1×"
    if ratio < 10:
        return f"about {ratio:.1f}×"
    orders = math.floor(math.log10(ratio))
    shown = f"{round(ratio, 1 - orders):,.0f}"
    words = {1: "an order", 2: "two orders", 3: "three orders"}.get(
        orders, f"{orders} orders"
    )
    return f"about {shown}× ({words} of magnitude)"


def cost_spread(costs: dict, exclude=(RANDOM,)) -> str:
    """The fastest and the slowest method (``costs``: name → :class:`Cost`,
    the baseline left out) and their ratio in words (:func:`times`)."""
    ms = {m: c.ms for m, c in costs.items() if m not in exclude}
    if len(ms) < 2:
        return "Too few methods to compare their cost."
    fast, slow = min(ms, key=ms.get), max(ms, key=ms.get)
    return (
        f"The slowest method, {slow} ({ms[slow]:,.0f} ms per review), takes "
        f"{times(ms[slow] / ms[fast])} as long as the fastest, {fast} "
        f"({ms[fast]:,.0f} ms)."
    )


@dataclass(frozen=True)
class Check:
    """One condition of the verdict: what was asked, what was measured, met or not."""

    condition: str
    measured: str
    met: bool


def verdict(
    results: FaithfulnessResults,
    faithfulness_rows: list[dict],
    plausibility_rows: list[dict],
    costs: dict,
    *,
    reference: str = "IG",
    candidate: str | None = None,
    cost_ratio: float = 20.0,
    seed: int = 1234,
) -> tuple[str, list[Check]]:
    """Did the recommended method reach the goal against ``reference``?

    The goal (chapter 6): comprehensiveness above the reference's (paired
    per-review difference, 95 % CI above 0); sufficiency not worse (the
    paired CI of the difference reaches 0 or below); passes the sanity
    check; among the two most plausible methods by mean AUPRC; at most
    ``1/cost_ratio`` of the reference's ms/review. ``candidate``: the method
    to judge (default :func:`recommend` without the reference). ``results``:
    the faithfulness results of ``faithfulness_rows`` (only their per-review
    ``aopc(metric, method)`` is read, so a benchmark may pass what it saved of
    them). Returns the generated sentence and the checks.
    """
    if reference not in by_method(faithfulness_rows):
        raise ValueError(f"{reference!r} is not among the methods measured.")
    candidate = candidate or recommend(faithfulness_rows, exclude=(RANDOM, reference))
    if candidate is None:
        return (
            "No method besides the reference beats random and passes the "
            "sanity check, so there is no candidate to judge.",
            [],
        )
    checks = [
        *_faithfulness_checks(results, candidate, reference, seed),
        _sanity_check(by_method(faithfulness_rows)[candidate]),
        _plausibility_check(plausibility_rows, candidate),
        _cost_check(costs, candidate, reference, cost_ratio),
    ]
    return _verdict_sentence(candidate, reference, checks), checks


def _faithfulness_checks(results, candidate, reference, seed) -> list[Check]:
    """Comprehensiveness above the reference, sufficiency not worse (paired CIs)."""
    comp = paired_difference(results, candidate, reference, seed=seed)
    suff = paired_difference(results, candidate, reference, "sufficiency", seed=seed)
    return [
        Check(
            f"comprehensiveness above {reference} (paired CI > 0)",
            f"difference {comp}",
            comp.low > 0,
        ),
        Check(
            f"sufficiency not worse than {reference} (paired CI reaches 0)",
            f"difference {suff}",
            suff.low <= 0,
        ),
    ]


def _sanity_check(row: dict) -> Check:
    """The candidate's row passed the sanity check (``"not run"`` fails)."""
    return Check(
        "passes the sanity check",
        row.get("sanity", "not run"),
        row.get("sanity") == "pass",
    )


def _plausibility_check(plausibility_rows: list[dict], candidate: str) -> Check:
    """The candidate ranks first or second by mean AUPRC (random left out)."""
    ranked = [
        r["method"]
        for r in sorted(
            (r for r in plausibility_rows if r["method"] != RANDOM),
            key=lambda r: AUPRC.key(r[AUPRC.name].mean),
            reverse=True,
        )
    ]
    place = ranked.index(candidate) + 1 if candidate in ranked else None
    return Check(
        "top two for plausibility (mean AUPRC)",
        "not measured" if place is None else f"rank {place} of {len(ranked)}",
        place is not None and place <= 2,
    )


def _cost_check(costs: dict, candidate: str, reference: str, ratio: float) -> Check:
    """The candidate takes at most ``1/ratio`` of the reference's ms/review."""
    faster = costs[reference].ms / costs[candidate].ms
    return Check(
        f"at most 1/{ratio:g} of {reference}'s time",
        f"{costs[candidate].ms:,.0f} vs {costs[reference].ms:,.0f} ms/review "
        f"({faster:.1f}x faster)",
        faster >= ratio,
    )


def _verdict_sentence(candidate: str, reference: str, checks: list[Check]) -> str:
    """Every condition met, or how many and which were not."""
    missed = [c for c in checks if not c.met]
    if not missed:
        return f"**{candidate}** reached every part of the goal against {reference}."
    return (
        f"**{candidate}** met {len(checks) - len(missed)} of the {len(checks)} "
        f"conditions against {reference}; not met: "
        + "; ".join(f"{c.condition} ({c.measured})" for c in missed)
        + "."
    )


def both_axes(faithfulness_rows: list[dict], plausibility_rows: list[dict]) -> str:
    """A sentence on which methods are faithful, which plausible, and where they part.

    Methods are ranked by mean comprehensiveness and by mean AUPRC (the random
    baseline left out); the Spearman correlation of the two rankings says
    whether the axes agree, and the methods whose ranks differ by more than a
    third of the list are named.
    """
    faith, plaus = by_method(faithfulness_rows), by_method(plausibility_rows)
    names = [n for n in faith if n in plaus and n != RANDOM]
    if len(names) < 3:
        return "Too few methods on both axes to compare them."
    comp = np.array([faith[n]["comprehensiveness"].mean for n in names])
    auprc = np.array([plaus[n]["AUPRC"].mean for n in names])
    rank_c = (-comp).argsort().argsort()
    rank_p = (-auprc).argsort().argsort()
    rho = spearman(comp, auprc)
    best_c, best_p = names[int(comp.argmax())], names[int(auprc.argmax())]
    text = [
        f"Most faithful (comprehensiveness): **{best_c}**; most plausible "
        f"(AUPRC): **{best_p}**."
    ]
    agree = "agree" if rho >= 0.5 else "partly agree" if rho > 0 else "disagree"
    text.append(
        f"Over the {len(names)} methods the two rankings {agree} "
        f"(Spearman ρ = {rho:+.2f})."
    )
    far = [
        f"{n} (faithfulness rank {rank_c[i] + 1}, plausibility rank {rank_p[i] + 1})"
        for i, n in enumerate(names)
        if abs(int(rank_c[i]) - int(rank_p[i])) > len(names) / 3
    ]
    if far:
        text.append("They part most on " + ", ".join(far) + ".")
    return " ".join(text)
