"""Chapter 6's closing tables: faithful, plausible, affordable — and a verdict.

* :func:`plausibility_table` — per method, token AUPRC and F1 against the
  human rationales with 95 % bootstrap CIs and the n behind them;
* :func:`paired_difference` — per-review difference of two methods on one
  faithfulness metric, with its CI (the only fair way to say "A beats B" on
  the same reviews);
* :func:`recommendation_table` — faithfulness, sanity check, plausibility
  and measured cost side by side;
* :func:`verdict` — whether the recommended method reached the chapter's
  goal against integrated gradients, each condition checked on the numbers;
* :func:`both_axes` — where faithfulness and plausibility agree and where
  they do not, as a sentence generated from the ranks.

Nothing here computes an explanation: it reads the results of
:mod:`helpers.metrics` (faithfulness, sanity, plausibility, cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics.faithfulness import RANDOM, FaithfulnessResults
from .metrics.stats import ConfidenceInterval, bootstrap_ci, spearman

__all__ = [
    "Check",
    "both_axes",
    "paired_difference",
    "plausibility_table",
    "recommend",
    "recommendation_table",
    "verdict",
]


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
                "AUPRC": auprc,
                "F1": bootstrap_ci(result.f1[name], n_resamples, seed=seed),
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


def _by_method(rows: list[dict]) -> dict[str, dict]:
    return {r["method"]: r for r in rows}


def recommendation_table(
    faithfulness_rows: list[dict], plausibility_rows: list[dict], costs: dict
) -> list[dict]:
    """Both axes and the cost, one row per method found in all three inputs.

    Columns: ``comprehensiveness`` / ``sufficiency`` (CIs, from
    :func:`helpers.report.results_table`), ``sanity`` (pass/fail), ``AUPRC``
    / ``F1`` (CIs), ``ms/review`` and ``passes`` (forward + backward passes
    per review, measured by :func:`helpers.metrics.cost.measure_cost`).
    """
    plaus = _by_method(plausibility_rows)
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
                "AUPRC": plaus[name]["AUPRC"],
                "F1": plaus[name]["F1"],
                "ms/review": f"{cost.ms:,.0f}",
                "passes": f"{cost.forwards:g} + {cost.backwards:g}",
            }
        )
    return rows


def recommend(faithfulness_rows: list[dict], exclude=(RANDOM,)) -> str | None:
    """The method to recommend: the most comprehensive of those that beat
    random (paired CI above 0) and pass the sanity check (when it ran)."""
    ok = [
        r
        for r in faithfulness_rows
        if r["method"] not in exclude
        and (r.get("comp - random") is None or r["comp - random"].low > 0)
        and r.get("sanity", "pass") == "pass"
    ]
    if not ok:
        return None
    return max(ok, key=lambda r: r["comprehensiveness"].mean)["method"]


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
    to judge (default :func:`recommend` without the reference). Returns the
    generated sentence and the checks.
    """
    faith, plaus = _by_method(faithfulness_rows), _by_method(plausibility_rows)
    if reference not in faith:
        raise ValueError(f"{reference!r} is not among the methods measured.")
    candidate = candidate or recommend(faithfulness_rows, exclude=(RANDOM, reference))
    if candidate is None:
        return (
            "No method besides the reference beats random and passes the "
            "sanity check, so there is no candidate to judge.",
            [],
        )
    comp = paired_difference(results, candidate, reference, seed=seed)
    suff = paired_difference(results, candidate, reference, "sufficiency", seed=seed)
    ranked = sorted(
        (r for r in plausibility_rows if r["method"] != RANDOM),
        key=lambda r: r["AUPRC"].mean,
        reverse=True,
    )
    place = (
        [r["method"] for r in ranked].index(candidate) + 1
        if candidate in plaus
        else None
    )
    ratio = costs[reference].ms / costs[candidate].ms
    checks = [
        Check(
            "comprehensiveness above IG (paired CI > 0)",
            f"difference {comp}",
            comp.low > 0,
        ),
        Check(
            "sufficiency not worse than IG (paired CI reaches 0)",
            f"difference {suff}",
            suff.low <= 0,
        ),
        Check(
            "passes the sanity check",
            faith[candidate].get("sanity", "not run"),
            faith[candidate].get("sanity") == "pass",
        ),
        Check(
            "top two for plausibility (mean AUPRC)",
            "not measured" if place is None else f"rank {place} of {len(ranked)}",
            place is not None and place <= 2,
        ),
        Check(
            f"at most 1/{cost_ratio:g} of IG's time",
            f"{costs[candidate].ms:,.0f} vs {costs[reference].ms:,.0f} ms/review "
            f"({ratio:.1f}x faster)",
            ratio >= cost_ratio,
        ),
    ]
    met = [c for c in checks if c.met]
    head = (
        f"**{candidate}** reached every part of the goal against {reference}."
        if len(met) == len(checks)
        else f"**{candidate}** met {len(met)} of the {len(checks)} conditions against "
        f"{reference}; not met: "
        + "; ".join(f"{c.condition} ({c.measured})" for c in checks if not c.met)
        + "."
    )
    return head, checks


def both_axes(faithfulness_rows: list[dict], plausibility_rows: list[dict]) -> str:
    """A sentence on which methods are faithful, which plausible, and where they part.

    Methods are ranked by mean comprehensiveness and by mean AUPRC (the random
    baseline left out); the Spearman correlation of the two rankings says
    whether the axes agree, and the methods whose ranks differ by more than a
    third of the list are named.
    """
    faith, plaus = _by_method(faithfulness_rows), _by_method(plausibility_rows)
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
