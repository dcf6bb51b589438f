"""Chapter 6's closing tables: faithful, plausible, affordable — and a verdict.

* :func:`plausibility_table` — per method, token AUPRC and F1 against the
  human rationales with 95 % bootstrap CIs and the n behind them;
* :func:`paired_difference` — per-review difference of two methods on one
  faithfulness metric, with its CI (the only fair way to say "A beats B" on
  the same reviews);
* :func:`recommendation_table` — faithfulness, sanity check, plausibility
  and measured cost side by side;
* :func:`recommendations`, :func:`recommend` — the methods to use: the most
  comprehensive that beat random and pass the sanity check, with every one
  not separated from it;
* :func:`cost_spread`, :func:`times` — how much the slowest method costs
  next to the fastest, in words computed from the ratio;
* :func:`verdict` — whether the recommended method reached the chapter's
  goal against integrated gradients, each condition checked on the numbers;
* :func:`both_axes` — where faithfulness and plausibility agree and where
  they do not, as a sentence generated from the ranks;
* :func:`conclusion`, :func:`finding` — the book's answer to the questions of
  chapters 3, 4 and 6 (does attention show what the prediction depends on,
  which Grad-CAM layer is faithful, which method to use), written from the
  numbers, and the one-sentence finding.

Nothing here computes an explanation: it reads the results of
:mod:`helpers.metrics` (faithfulness, sanity, plausibility, cost).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..attr import TRANSFORMER_METHODS
from ..metrics.cost import MS_PER_REVIEW
from ..metrics.faithfulness import RANDOM, FaithfulnessResults
from ..metrics.plausibility import AUPRC, TOKEN_F1
from ..metrics.sanity import PASS
from ..stats import ConfidenceInterval, bootstrap_ci, spearman
from .report import either, layer_of, leaders, overlap


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


def _by_method(rows: list[dict]) -> dict[str, dict]:
    return {r["method"]: r for r in rows}


def recommendation_table(
    faithfulness_rows: list[dict], plausibility_rows: list[dict], costs: dict
) -> list[dict]:
    """Both axes and the cost, one row per method found in all three inputs.

    Columns: ``comprehensiveness`` / ``sufficiency`` (CIs, from
    :func:`helpers.book.report.results_table`), ``sanity`` (pass/fail), ``AUPRC``
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
                AUPRC.name: plaus[name][AUPRC.name],
                TOKEN_F1.name: plaus[name][TOKEN_F1.name],
                MS_PER_REVIEW.name: f"{cost.ms:,.0f}",
                "passes": f"{cost.forwards:g} + {cost.backwards:g}",
            }
        )
    return rows


def _qualifies(row: dict, exclude) -> bool:
    """Beats random (paired CI above 0) and passes the sanity check when it ran."""
    return (
        row["method"] not in exclude
        and (row.get("comp - random") is None or row["comp - random"].low > 0)
        and row.get("sanity", PASS) == PASS
    )


def recommendations(faithfulness_rows: list[dict], exclude=(RANDOM,)) -> list[str]:
    """The methods to recommend, best first: the most comprehensive of those
    that beat random (paired CI above 0) and pass the sanity check (when it
    ran), then every such method not separated from it (overlapping
    comprehensiveness intervals, :func:`helpers.book.report.leaders`).
    ``[]`` when none qualifies."""
    ok = [r for r in faithfulness_rows if _qualifies(r, exclude)]
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
    if reference not in _by_method(faithfulness_rows):
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
        _sanity_check(_by_method(faithfulness_rows)[candidate]),
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
            "comprehensiveness above IG (paired CI > 0)",
            f"difference {comp}",
            comp.low > 0,
        ),
        Check(
            "sufficiency not worse than IG (paired CI reaches 0)",
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
        f"at most 1/{ratio:g} of IG's time",
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


# ------------------------------------------------------------------ the book's finding

#: Chapter 3's attention methods, asked about in the conclusion.
ATTENTION_METHODS = ("[CLS] attention", "rollout")


def _beats_random(row: dict) -> bool:
    diff = row.get("comp - random")
    return diff is not None and diff.low > 0


def _listing(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class _Facts:
    """What :func:`finding` and :func:`conclusion` read off the rows."""

    best: dict
    floor: float
    native: dict | None
    attention: list[dict]
    layers: list[dict]
    n: int | None


def _facts(rows, transformer, attention, baseline) -> _Facts:
    by = _by_method(rows)
    if baseline not in by:
        raise ValueError(f"rows hold no {baseline!r} row: the floor is needed.")
    scored = [r for r in rows if r["method"] != baseline]
    if not scored:
        raise ValueError("rows hold no method besides the random baseline.")

    def comp(r):
        return r["comprehensiveness"].mean

    native = [r for r in scored if r["method"] in transformer]
    return _Facts(
        best=max(scored, key=comp),
        floor=by[baseline]["comprehensiveness"].mean,
        native=max(native, key=comp) if native else None,
        attention=[by[a] for a in attention if a in by],
        layers=sorted(
            (r for r in scored if layer_of(r["method"]) is not None),
            key=lambda r: layer_of(r["method"]),
        ),
        n=getattr(by[baseline]["comprehensiveness"], "n", None),
    )


def _best_clause(f: _Facts, transformer) -> str:
    best, c = f.best["method"], f.best["comprehensiveness"].mean
    if best in transformer:
        return (
            f"the transformer-native method {best} removed the most evidence "
            f"(comprehensiveness {c:.3f} vs random {f.floor:.3f})"
        )
    text = (
        f"{best} removed the most evidence "
        f"(comprehensiveness {c:.3f} vs random {f.floor:.3f})"
    )
    if f.native is not None:
        text += (
            f", more than the best transformer-native method, {f.native['method']} "
            f"({f.native['comprehensiveness'].mean:.3f})"
        )
    return text


def _percent(share: float) -> str:
    return f"{100 * share:.0f} %"


def _share(row: dict, f: _Facts) -> float:
    """``row``'s margin over random as a share of the best method's margin."""
    top = f.best["comprehensiveness"].mean - f.floor
    if top <= 0:
        return 0.0
    return (row["comprehensiveness"].mean - f.floor) / top


def _attention_clause(f: _Facts) -> str:
    if not f.attention:
        return ""

    def value(r):
        return f"{r['method']} {r['comprehensiveness'].mean:.3f}"

    above = [r for r in f.attention if _beats_random(r)]
    if not above:
        values = _listing([value(r) for r in f.attention])
        return f"attention alone ({values}) did not beat random"
    shares = _listing([_percent(_share(r, f)) for r in above])
    margin = f"{shares} of the best method's margin over random"
    if len(above) == len(f.attention):
        verb = "barely beat" if max(_share(r, f) for r in above) < 0.5 else "beat"
        values = _listing([value(r) for r in above])
        return f"attention alone {verb} random ({values}: {margin})"
    below = _listing([value(r) for r in f.attention if not _beats_random(r)])
    names = _listing([r["method"] for r in above])
    values = _listing([f"{r['comprehensiveness'].mean:.3f}" for r in above])
    return (
        f"only {names} among the attention methods beat random ({values}, "
        f"{margin}; {below} did not)"
    )


def _layers(rows: list[dict], f: _Facts) -> str:
    """``every layer``, ``no layer``, ``layer 5`` or ``layers 0, 1 and 2``."""
    if len(rows) == len(f.layers):
        return "every layer"
    if not rows:
        return "no layer"
    numbers = [str(layer_of(r["method"])) for r in rows]
    return f"layer {numbers[0]}" if len(numbers) == 1 else f"layers {_listing(numbers)}"


def _gradcam_clause(f: _Facts) -> str:
    """Where Grad-CAM beat random, where it failed the sanity check, and so
    where it was faithful (both); never "faithful" where a check was not run."""
    if not f.layers:
        return ""
    good = [r for r in f.layers if _beats_random(r)]
    if not good:
        return "Grad-CAM beat random at no layer"
    checked = all("sanity" in r for r in f.layers)
    faithful = [r for r in good if r.get("sanity") == PASS]
    top = max(faithful or good, key=lambda r: r["comprehensiveness"].mean)
    best = f"best: layer {layer_of(top['method'])}, {top['comprehensiveness'].mean:.3f}"
    if not checked:
        return (
            f"Grad-CAM beat random at {_layers(good, f)} (the sanity check did "
            f"not run on every layer; {best})"
        )
    if len(faithful) == len(f.layers):
        return (
            "Grad-CAM was faithful at every layer (it beat random and passed the "
            f"sanity check; {best})"
        )
    failing = [r for r in f.layers if r["sanity"] != PASS]
    text = f"Grad-CAM beat random at {_layers(good, f)}"
    if failing:
        text += f" but failed the sanity check at {_layers(failing, f)}"
    if not faithful:
        return text + ", so it was faithful at no layer"
    return text + f", so it was faithful only at {_layers(faithful, f)} ({best})"


def _picks(rows: list[dict], recommended) -> list[str]:
    """The recommended methods: a sequence as given; one name, with every
    qualifying method of ``rows`` not separated from it (overlapping
    comprehensiveness intervals), most comprehensive first; ``None``: none."""
    if recommended is None:
        return []
    if not isinstance(recommended, str):
        return list(recommended)
    by = _by_method(rows)
    if recommended not in by:
        return [recommended]
    mine = by[recommended]["comprehensiveness"]
    tied = [
        r
        for r in rows
        if r["method"] != recommended
        and _qualifies(r, (RANDOM,))
        and overlap(mine, r["comprehensiveness"])
    ]
    tied.sort(key=lambda r: r["comprehensiveness"].mean, reverse=True)
    return [recommended] + [r["method"] for r in tied]


def _use(picks: list[str], bold: bool = False) -> str:
    """``A`` or ``A or B (not separated)``."""
    names = [f"**{m}**" if bold else m for m in picks]
    return either(names) + (" (not separated)" if len(picks) > 1 else "")


def finding(rows: list[dict], recommended: str | Sequence[str] | None = None) -> str:
    """The book's finding in one sentence, every name and number from ``rows``.

    ``rows``: :func:`helpers.book.report.results_table` rows measured on the same
    reviews (chapter 6's methods, plus rollout and the per-layer Grad-CAM
    methods ``"Grad-CAM L<k>"`` when measured), including the random baseline.
    The sentence names the most comprehensive method and compares it with
    random, says whether the attention methods beat random (paired CI
    of ``comp - random`` above 0) and which share of the best method's
    margin over random they reached ("barely" below half), at which layers
    Grad-CAM beat random and at which it failed the sanity check (faithful =
    both; "faithful" only where the check ran), and the method to use:
    ``recommended`` (:func:`recommendations`: every name given; one name:
    with every method of ``rows`` that beats random, passes the sanity check
    and is not separated from it; ``None`` = say that none qualified).
    Clauses whose methods are missing from ``rows`` are left out.
    """
    facts = _facts(rows, TRANSFORMER_METHODS, ATTENTION_METHODS, RANDOM)
    picks = _picks(rows, recommended)
    clauses = [
        _best_clause(facts, TRANSFORMER_METHODS),
        _attention_clause(facts),
        _gradcam_clause(facts),
    ]
    clauses = [c for c in clauses if c]
    clauses.append(
        f"the method to use is {_use(picks)}"
        if picks
        else "no method both beat random and passed the sanity check"
    )
    return "On this model, " + "; ".join(clauses[:-1]) + "; and " + clauses[-1] + "."


def conclusion(rows: list[dict], recommended: str | Sequence[str] | None = None) -> str:
    """The book's conclusion as markdown: the chapters' questions, answered.

    A short paragraph answers chapter 3 (does attention show what the
    prediction depends on? its comprehensiveness against random and the best
    method), chapter 4 (which Grad-CAM layer is faithful, i.e. beats random
    with a paired CI above 0 and passes the sanity check) and chapter 6
    (which method to use: ``recommended``, e.g. :func:`recommendations`, the
    most comprehensive methods that beat random and pass the sanity check,
    all of them when they are not separated; ``None`` = none did), then
    states :func:`finding` in bold. Arguments as in :func:`finding`.
    """
    facts = _facts(rows, TRANSFORMER_METHODS, ATTENTION_METHODS, RANDOM)
    parts = [
        _comprehensiveness_answer(facts),
        _chapter3_answer(facts),
        _chapter4_answer(facts),
        _chapter6_answer(_picks(rows, recommended)),
    ]
    sentence = finding(rows, recommended)
    return " ".join(p for p in parts if p) + f"\n\n**The finding:** {sentence}"


def _comprehensiveness_answer(facts: _Facts) -> str:
    """What comprehensiveness is, with the floor and the best method's value."""
    n = f" over {facts.n} reviews" if facts.n else ""
    best = facts.best
    return (
        "Comprehensiveness is the drop in p(predicted class) when a method's top "
        f"tokens are replaced by [MASK] (AOPC{n}): random tokens gave "
        f"{facts.floor:.3f}, the best method, {best['method']}, "
        f"{best['comprehensiveness'].mean:.3f}."
    )


def _chapter3_answer(facts: _Facts) -> str:
    """Chapter 3's question: each attention method against random and the best."""
    if not facts.attention:
        return ""
    above = [r["method"] for r in facts.attention if _beats_random(r)]
    none = "it did not" if len(facts.attention) == 1 else "none of them did"
    verdict = (
        f"{none} beat random (paired 95 % CI above 0)"
        if not above
        else f"{_listing(above)} beat random (paired 95 % CI above 0)"
    )
    reached = ", ".join(
        f"{r['method']} reached {r['comprehensiveness'].mean:.3f} "
        f"({_percent(_share(r, facts))} of the best method's margin over random)"
        for r in facts.attention
    )
    return (
        "*Chapter 3 asked whether attention shows what the prediction depends "
        f"on:* {reached}; {verdict}."
    )


def _chapter4_answer(facts: _Facts) -> str:
    """Chapter 4's question: which Grad-CAM layers beat random."""
    if not facts.layers:
        return ""
    return (
        "*Chapter 4 asked which Grad-CAM layer is faithful* (faithful = beats "
        "random, paired 95 % CI above 0, and passes the sanity check; layer 0 "
        "is the nearest the embeddings): " + _gradcam_clause(facts) + "."
    )


def _chapter6_answer(picks: list[str]) -> str:
    """Chapter 6's question: the methods to use, or that none qualified."""
    if not picks:
        return (
            "*Chapter 6 asked which method to use:* no method both beat random "
            "and passed the sanity check."
        )
    if len(picks) == 1:
        return (
            f"*Chapter 6 asked which method to use:* **{picks[0]}**, the most "
            "comprehensive method that beats random and passes the sanity check."
        )
    return (
        f"*Chapter 6 asked which method to use:* {_use(picks, bold=True)}: the "
        "most comprehensive methods that beat random and pass the sanity check, "
        "whose comprehensiveness intervals overlap."
    )
