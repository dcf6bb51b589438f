"""The chapter's numbers as tables and a generated conclusion (chapters 5–6).

One row per method (:func:`results_table`), shown as HTML, markdown or CSV;
the conclusion (:func:`summarise`) is written from the numbers, with the n
behind every mean. The figures of the same results are drawn by
:mod:`helpers.book.plots`.
"""

from __future__ import annotations

import csv
import dataclasses
import os

import numpy as np

from ..escape import isolated
from ..metrics.faithfulness import (
    COMP_MINUS_RANDOM,
    COMPREHENSIVENESS,
    RANDOM,
    SUFFICIENCY,
    FaithfulnessResults,
)
from ..metrics.sanity import (
    CASCADE_RHO,
    CASCADE_RHO_ABS,
    HEAD_THRESHOLD,
    IGNORES_HEAD,
    PASS,
    PASS_THRESHOLD,
    SURVIVES,
    CascadeResults,
)
from ..stats import ConfidenceInterval, bootstrap_ci

#: The columns :func:`table_html` / :func:`table_markdown` show by default.
TABLE_COLUMNS = (
    "method",
    "comprehensiveness",
    "sufficiency",
    "comp - random",
    "ties",
    "cascade rho",
    "cascade rho abs",
    "sanity",
)
#: Column headers: each metric's label, its arrow from the metric's direction.
_HEADERS = {
    COMPREHENSIVENESS.name: COMPREHENSIVENESS.label("compre\u00adhensiveness"),
    SUFFICIENCY.name: SUFFICIENCY.label(),
    COMP_MINUS_RANDOM.name: COMP_MINUS_RANDOM.label("comp. − random"),
    "ties": "ties",
    CASCADE_RHO.name: CASCADE_RHO.label("cascade ρ"),
    CASCADE_RHO_ABS.name: CASCADE_RHO_ABS.label("cascade ρ, |map|"),
}
#: How much of the selection may be ties before the summary mentions it.
TIE_NOTE = 0.01


# --------------------------------------------------------------------------- table


def _sanity_columns(cascade, method, n_resamples, seed, threshold) -> dict:
    """The cascade's columns of one row (missing methods fail, never pass)."""
    if cascade is None:
        return {}
    verdict = cascade.verdict(method, threshold)
    if method not in cascade.methods:
        return {"cascade rho": None, "cascade rho abs": None, "sanity": verdict}
    last = (cascade.rho[method][:, -1], cascade.rho_abs[method][:, -1])
    return {
        "cascade rho": bootstrap_ci(last[0], n_resamples, seed=seed),
        "cascade rho abs": bootstrap_ci(last[1], n_resamples, seed=seed),
        "sanity": verdict,
        "constant maps": cascade.n_degenerate(method),
        "cascade n": cascade.n,
    }


def results_table(
    results: FaithfulnessResults,
    cascade: CascadeResults | None = None,
    n_resamples: int = 1000,
    seed: int = 1234,
    pass_threshold: float = PASS_THRESHOLD,
) -> list[dict]:
    """One row (a dict) per method, in the order of ``results.methods``.

    ``comprehensiveness`` / ``sufficiency``: per-review AOPC, mean and 95 %
    bootstrap CI (``n_resamples``, seeded). ``comp - random``: the paired
    per-review difference to the random baseline. ``ties``: share of the
    selected tokens that were ties. ``deletion AUC`` / ``insertion AUC``:
    areas under the mean p(target) curves. With ``cascade``: ``cascade rho``
    and ``cascade rho abs`` (mean ρ after the last step, signed maps and
    absolute values), ``sanity`` (:meth:`CascadeResults.verdict`: ``"pass"``,
    ``"fail: <reasons>"``, ``"baseline"`` for the random scores; a method
    missing from the cascade fails), ``constant maps`` (reviews whose last map was
    constant or NaN, counted as changed) and ``cascade n``. ``n``: reviews.
    """
    base = results.baseline if results.baseline in results.methods else None
    floor = results.aopc("comprehensiveness", base) if base else None
    x = np.asarray(results.curve_fractions)
    rows = []
    for m in results.methods:
        comp = results.aopc("comprehensiveness", m)
        suff = results.aopc("sufficiency", m)
        row = {
            "method": m,
            "comprehensiveness": bootstrap_ci(comp, n_resamples, seed=seed),
            "sufficiency": bootstrap_ci(suff, n_resamples, seed=seed),
            "comp - random": None
            if floor is None
            else bootstrap_ci(comp - floor, n_resamples, seed=seed),
            "ties": results.tie_share(m),
            "deletion AUC": float(np.trapezoid(results.deletion[m].mean(0), x)),
            "insertion AUC": float(np.trapezoid(results.insertion[m].mean(0), x)),
            "n": results.n,
        }
        row.update(_sanity_columns(cascade, m, n_resamples, seed, pass_threshold))
        rows.append(row)
    return rows


def _cell(value, column: str = "") -> str:
    """Plain text of one cell: CIs as ``mean [low, high]``, shares as %."""
    if value is None:
        return "–"
    if column == "ties":
        return f"{100 * value:.1f} %"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _columns(rows: list[dict], columns) -> list[str]:
    """The requested columns that the rows have (default: :data:`TABLE_COLUMNS`)."""
    if not rows:
        raise ValueError("rows is empty: pass results_table(...).")
    wanted = TABLE_COLUMNS if columns is None else columns
    return [c for c in wanted if any(c in r for r in rows)]


def table_markdown(rows: list[dict], columns=None) -> str:
    """The table as GitHub markdown (CIs as ``mean [low, high]``)."""
    cols = _columns(rows, columns)
    head = [_HEADERS.get(c, c).replace("\u00ad", "") for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c), c) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _html_cell(value, column: str, bold: bool) -> str:
    """One ``<td>``: a CI's mean, its interval small on a second line."""
    if isinstance(value, ConfidenceInterval):
        mean = f"<b>{value.mean:.3f}</b>" if bold else f"{value.mean:.3f}"
        interval = f"[{value.low:.3f}, {value.high:.3f}]"
        return f"<td>{mean}<br><small>{interval}</small></td>"
    return f"<td>{isolated(_cell(value, column))}</td>"


def table_html(rows: list[dict], caption: str = "", columns=None) -> str:
    """The table as HTML (for ``IPython.display.HTML``), every text escaped.

    Texts (method names, headers, the caption) are direction-isolated too
    (:func:`helpers.escape.isolated`).

    The best comprehensiveness and sufficiency (by each metric's direction)
    in bold; each CI's interval sits under its mean, so the table fits the
    book's column.
    """
    cols = _columns(rows, columns)
    best = {}
    for metric in (COMPREHENSIVENESS, SUFFICIENCY):
        values = [r[metric.name].mean for r in rows if r.get(metric.name) is not None]
        best[metric.name] = max(values, key=metric.key) if values else None
    head = "".join(f"<th>{isolated(_HEADERS.get(c, c))}</th>" for c in cols)
    body = []
    for r in rows:
        cells = [
            _html_cell(
                r.get(c),
                c,
                c in best
                and r.get(c) is not None
                and getattr(r[c], "mean", None) == best[c],
            )
            for c in cols
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{isolated(caption)}</caption>" if caption else ""
    return (
        f'<table class="faithfulness">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def write_csv(rows: list[dict], path: str | os.PathLike) -> str:
    """Write every column as CSV (a CI as mean, low, high); returns the path."""
    cols = list(dict.fromkeys(c for r in rows for c in r))
    interval = {
        c for c in cols if any(isinstance(r.get(c), ConfidenceInterval) for r in rows)
    }
    header = []
    for c in cols:
        header += [c, f"{c} low", f"{c} high"] if c in interval else [c]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for r in rows:
            out = []
            for c in cols:
                v = r.get(c)
                if c in interval:
                    out += (
                        ["", "", ""]
                        if v is None
                        else [f"{v.mean:.5f}", f"{v.low:.5f}", f"{v.high:.5f}"]
                    )
                else:
                    out.append(
                        "" if v is None else f"{v:.5f}" if isinstance(v, float) else v
                    )
            writer.writerow(out)
    return str(path)


# --------------------------------------------------------------------------- summary


def overlap(a: ConfidenceInterval, b: ConfidenceInterval) -> bool:
    """True when the two intervals overlap: the means are not separated."""
    return a.low <= b.high and b.low <= a.high


def leaders(rows: list[dict], metric=COMPREHENSIVENESS) -> list[dict]:
    """The best row by ``metric``'s mean, then every row not separated from it.

    Not separated: the row's 95 % interval overlaps the best row's. Best
    first, the others in ``metric``'s order; ``[]`` when ``rows`` is empty.
    """
    ranked = sorted(rows, key=lambda r: metric.key(r[metric.name].mean), reverse=True)
    if not ranked:
        return []
    best = ranked[0][metric.name]
    return [ranked[0]] + [r for r in ranked[1:] if overlap(best, r[metric.name])]


def by_method(rows: list[dict]) -> dict[str, dict]:
    """``rows`` keyed by their ``"method"``."""
    return {r["method"]: r for r in rows}


def qualifies(row: dict, exclude=(RANDOM,)) -> bool:
    """Whether a results row may be recommended: not in ``exclude``, beats
    random (paired CI above 0) and passes the sanity check when it ran."""
    return (
        row["method"] not in exclude
        and (row.get("comp - random") is None or row["comp - random"].low > 0)
        and row.get("sanity", PASS) == PASS
    )


def listing(items, last: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c`` (``last="or"``: ``a, b or c``)."""
    *head, tail = items
    return f"{', '.join(head)} {last} {tail}" if head else tail


def _faithfulness_text(rows: list[dict], baseline: str) -> list[str]:
    """Bullets on comprehensiveness, sufficiency and the random floor."""
    by = by_method(rows)
    ranked = sorted(
        (r for r in rows if r["method"] != baseline),
        key=lambda r: COMPREHENSIVENESS.key(r["comprehensiveness"].mean),
        reverse=True,
    )
    if not ranked:
        raise ValueError("rows holds no method besides the random baseline.")
    best = ranked[0]
    text = [
        f"**Most comprehensive:** **{best['method']}** (AOPC "
        f"{best['comprehensiveness'].with_n()} reviews)"
    ]
    diff = best.get("comp - random")
    if diff is not None:
        verdict = "clearly above" if diff.low > 0 else "not distinguishable from"
        floor = by[baseline]["comprehensiveness"] if baseline in by else "–"
        text[-1] += (
            f", {verdict} the random baseline (paired difference {diff}; "
            f"random alone {floor})."
        )
    else:
        text[-1] += "."
    tied = leaders(ranked)[1:]
    if tied:
        listed = ", ".join(f"{r['method']} ({r['comprehensiveness']})" for r in tied)
        text.append(
            f"Not separated from it (overlapping intervals at this sample size): "
            f"{listed}."
        )
    elif len(ranked) > 1:
        second = ranked[1]
        text.append(
            f"Ahead of the runner-up, {second['method']} "
            f"({second['comprehensiveness']}), beyond the confidence intervals."
        )
    suff = max(ranked, key=lambda r: SUFFICIENCY.key(r["sufficiency"].mean))
    floor = by[baseline]["sufficiency"] if baseline in by else "–"
    text.append(
        f"**Most sufficient** ({SUFFICIENCY.superlative()} AOPC sufficiency): "
        f"**{suff['method']}** ({suff['sufficiency'].with_n()}; random {floor})."
    )
    beaten = [
        r["method"]
        for r in ranked
        if r.get("comp - random") is not None and r["comp - random"].high < 0
    ]
    if beaten:
        text.append(
            "Worse than random on comprehensiveness: " + ", ".join(beaten) + "."
        )
    return text


def _ties_text(rows: list[dict]) -> str:
    """Which methods left a noticeable share of their selection to the tie-break."""
    shares = {r["method"]: r["ties"] for r in rows if r.get("ties") is not None}
    if not shares:
        return ""
    many = {m: s for m, s in shares.items() if s > TIE_NOTE}
    if not many:
        return (
            f"No method left more than {100 * TIE_NOTE:.0f} % of its selected "
            "tokens to the tie-break."
        )
    listed = ", ".join(
        f"{m} {100 * s:.1f} %" for m, s in sorted(many.items(), key=lambda x: -x[1])
    )
    return (
        f"**Ties** (equal scores, ordered at random with a fixed seed): {listed} "
        "of the selected tokens; those numbers partly measure the tie-break."
    )


def _sanity_text(rows, cascade: CascadeResults, threshold: float, baseline) -> list:
    """Bullets: who passed, who failed and why, what the baseline is, with n."""
    passed, blind, survived, unchecked, chance = [], [], [], [], []
    for r in rows:
        m = r["method"]
        if m == baseline or m in cascade.baselines:
            chance.append(m)
            continue
        reasons = cascade.reasons(m, threshold)
        if not reasons:
            passed.append(m)
        if IGNORES_HEAD in reasons:
            blind.append(m)
        if SURVIVES in reasons:
            survived.append(m)
        if m not in cascade.methods:
            unchecked.append(m)
    text = [
        f"**Sanity check** ({cascade.n} reviews; the table gives each ρ): passed "
        f"by {', '.join(passed) or 'no method'}."
    ]
    if blind:
        text.append(
            f"Failed, {IGNORES_HEAD} (unchanged, mean ρ ≥ {HEAD_THRESHOLD}, when "
            "only the classifier head is randomised, so the map cannot say which "
            f"class a token supports): {', '.join(blind)}."
        )
    if survived:
        text.append(
            f"Failed, {SURVIVES} (once the head and every layer are random, the "
            f"map still correlates with the original, |mean ρ| ≥ {threshold} "
            f"signed or of absolute values): {', '.join(survived)}."
        )
    if unchecked:
        text.append(f"Failed, not in the cascade: {', '.join(unchecked)}.")
    if chance:
        text.append(
            f"{', '.join(chance)}: the chance level, a baseline with no verdict."
        )
    flat = {
        m: cascade.n_degenerate(m)
        for m in cascade.methods
        if m != baseline and cascade.n_degenerate(m)
    }
    if flat:
        text.append(
            "Constant or NaN maps at the last step (counted as changed, ρ = 0, "
            "unless constant before too): "
            + ", ".join(f"{m} {k} of {cascade.n}" for m, k in flat.items())
            + "."
        )
    text.append(_slow_text(cascade, threshold, baseline))
    return text


def _slow_text(cascade: CascadeResults, threshold: float, baseline) -> str:
    """Which maps stay correlated deep into the cascade."""
    slow = []
    for m in cascade.methods:
        if m == baseline or m in cascade.baselines:
            continue
        v = cascade.rho[m].mean(axis=0)
        below = np.flatnonzero(np.abs(v) < threshold)
        first = int(below[0]) if below.size else None
        if first is None or first > len(v) // 2:
            where = cascade.steps[first] if first is not None else "never"
            slow.append(f"{m} ({where})")
    if not slow:
        return ""
    return (
        f"Slow to react (the step where mean ρ first falls below {threshold}): "
        + ", ".join(slow)
        + "."
    )


def _recommendation(rows, cascade, threshold: float, baseline) -> str:
    """The most comprehensive methods above random (and passing the sanity
    check), every one not separated from the best named."""
    ok = [
        r
        for r in rows
        if r["method"] != baseline
        and (r.get("comp - random") is None or r["comp - random"].low > 0)
        and (cascade is None or cascade.verdict(r["method"], threshold) == PASS)
    ]
    if not ok:
        return (
            "**Recommendation:** no method is both clearly better than random and "
            "sensitive to the model's weights here; read every highlight with caution."
        )
    picks = [r["method"] for r in leaders(ok)]
    sanity = " and pass the sanity check" if cascade is not None else ""
    if len(picks) == 1:
        return (
            f"**Recommendation:** for this model, explain with **{picks[0]}**, "
            f"the most comprehensive method that beats random{sanity}."
        )
    return (
        f"**Recommendation:** for this model, explain with "
        f"{listing([f'**{m}**' for m in picks], 'or')} (not separated: their "
        f"comprehensiveness intervals overlap), the most comprehensive methods "
        f"that beat random{sanity}."
    )


def summarise(
    rows: list[dict],
    cascade: CascadeResults | None = None,
    pass_threshold: float = PASS_THRESHOLD,
    baseline: str = RANDOM,
) -> str:
    """The chapter's conclusion as markdown bullets, written from ``rows`` and
    ``cascade``.

    Names the most comprehensive method with its CI and n, its margin over
    the random baseline (paired CI), every method not separated from it
    (overlapping intervals) or its clear lead over the runner-up, the most
    sufficient method, the methods whose selections were often ties, and with
    ``cascade`` which methods pass the sanity check and why the others fail
    (:meth:`CascadeResults.reasons`; the random baseline gets no verdict),
    then the recommendation: the most comprehensive methods that beat random
    and pass, all of them when they are not separated. The ρ values are left
    to the table. Method names are escaped and direction-isolated
    (:func:`helpers.escape.isolated`): markdown renders HTML.
    """
    rows, cascade, baseline = _isolated_names(rows, cascade, baseline)
    text = _faithfulness_text(rows, baseline)
    text.append(_ties_text(rows))
    if cascade is not None:
        text += _sanity_text(rows, cascade, pass_threshold, baseline)
    text.append(_recommendation(rows, cascade, pass_threshold, baseline))
    return "\n".join(f"- {t}" for t in text if t)


def _isolated_names(rows, cascade, baseline):
    """``rows``, ``cascade`` and ``baseline`` with every method name isolated."""
    names = [r["method"] for r in rows] + [baseline]
    names += list(cascade.methods) + cascade.baselines if cascade is not None else []
    shown = {m: isolated(m) for m in names}
    rows = [{**r, "method": shown[r["method"]]} for r in rows]
    if cascade is not None:
        cascade = dataclasses.replace(
            cascade,
            methods=[shown[m] for m in cascade.methods],
            baselines=[shown[m] for m in cascade.baselines],
            **{
                field: {shown[m]: v for m, v in getattr(cascade, field).items()}
                for field in ("rho", "rho_abs", "degenerate")
            },
        )
    return rows, cascade, shown[baseline]


def mean_agreement(
    results: FaithfulnessResults, a: str, b: str, seed: int = 1234
) -> ConfidenceInterval:
    """Mean per-review Spearman between methods ``a`` and ``b`` (bootstrap CI, n)."""
    for name in (a, b):
        if name not in results.methods:
            raise ValueError(
                f"{name!r} is not one of the evaluated methods {results.methods}."
            )
    i, j = results.methods.index(a), results.methods.index(b)
    return bootstrap_ci(results.agreement[:, i, j], seed=seed)


# --------------------------------------------------------------------------- methods


_LAYER_PREFIX = "Grad-CAM L"


def layer_of(name: str) -> int | None:
    """The layer of a per-layer Grad-CAM method (``"Grad-CAM L3"`` -> 3), else None."""
    tail = name[len(_LAYER_PREFIX) :]
    return int(tail) if name.startswith(_LAYER_PREFIX) and tail.isdigit() else None


def main_methods(names) -> list[str]:
    """``names`` without the per-layer Grad-CAM methods, in order.

    The curve plots draw these as lines;
    :func:`helpers.book.layer_plots.plot_layer_curves` and
    :func:`~helpers.book.layer_plots.plot_cascade_layers` give each layer its
    own small panel.
    """
    return [n for n in names if layer_of(n) is None]


def layer_methods(names) -> list[str]:
    """The per-layer Grad-CAM methods of ``names``, layer 0 first."""
    return sorted((n for n in names if layer_of(n) is not None), key=layer_of)
