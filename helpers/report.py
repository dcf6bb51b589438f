"""The chapter's numbers as tables, a generated conclusion and figures (chapters 5–6).

* :func:`results_table` — one row per method: AOPC comprehensiveness and
  sufficiency with 95 % bootstrap CIs, the paired difference to the random
  baseline, the tie share, the curves' areas and, with a cascade, the sanity
  check (signed and absolute ρ, pass/fail);
* :func:`table_html` (escaped, CI on a second line, sized for the book
  column), :func:`table_markdown`, :func:`write_csv` (every column);
* :func:`summarise` — the conclusion, written from the numbers, with the n
  behind every mean;
* :func:`mean_agreement`, :func:`plot_curves`, :func:`plot_agreement`,
  :func:`plot_cascade`: at most :data:`MAX_LINES` lines a plot, the per-layer
  Grad-CAM methods in small multiples (:func:`plot_layer_curves`,
  :func:`plot_cascade_layers`; :func:`main_methods`, :func:`layer_methods`).
"""

from __future__ import annotations

import csv
import html
import os

import numpy as np

from .metrics.faithfulness import RANDOM, FaithfulnessResults
from .metrics.sanity import PASS_THRESHOLD, CascadeResults
from .stats import ConfidenceInterval, bootstrap_ci

__all__ = [
    "BOOK_WIDTH",
    "MAX_LINES",
    "TABLE_COLUMNS",
    "layer_methods",
    "layer_of",
    "main_methods",
    "mean_agreement",
    "plot_agreement",
    "plot_cascade",
    "plot_cascade_layers",
    "plot_curves",
    "plot_layer_curves",
    "results_table",
    "summarise",
    "table_html",
    "table_markdown",
    "write_csv",
]

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
_HEADERS = {
    "comprehensiveness": "compre\u00adhensiveness ↑",
    "sufficiency": "sufficiency ↓",
    "comp - random": "comp. − random ↑",
    "ties": "ties",
    "cascade rho": "cascade ρ",
    "cascade rho abs": "cascade ρ, |map|",
}
#: How much of the selection may be ties before the summary mentions it.
TIE_NOTE = 0.01


# --------------------------------------------------------------------------- table


def _sanity_columns(cascade, method, n_resamples, seed, threshold) -> dict:
    """The cascade's columns of one row (missing methods fail, never pass)."""
    if cascade is None:
        return {}
    if method not in cascade.methods:
        return {"cascade rho": None, "cascade rho abs": None, "sanity": "fail"}
    last = (cascade.rho[method][:, -1], cascade.rho_abs[method][:, -1])
    return {
        "cascade rho": bootstrap_ci(last[0], n_resamples, seed=seed),
        "cascade rho abs": bootstrap_ci(last[1], n_resamples, seed=seed),
        "sanity": "pass" if cascade.passes(method, threshold) else "fail",
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
    absolute values), ``sanity`` (``"pass"``/``"fail"``; a method missing
    from the cascade fails), ``constant maps`` (reviews whose last map was
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
    return f"<td>{html.escape(_cell(value, column))}</td>"


def table_html(rows: list[dict], caption: str = "", columns=None) -> str:
    """The table as HTML (for ``IPython.display.HTML``), every text escaped.

    Best comprehensiveness (highest) and sufficiency (lowest) in bold; each
    CI's interval sits under its mean, so the table fits the book's column.
    """
    cols = _columns(rows, columns)
    best = {}
    for col, pick in (("comprehensiveness", max), ("sufficiency", min)):
        values = [r[col].mean for r in rows if r.get(col) is not None]
        best[col] = pick(values) if values else None
    head = "".join(f"<th>{html.escape(_HEADERS.get(c, c))}</th>" for c in cols)
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
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
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


def _overlap(a: ConfidenceInterval, b: ConfidenceInterval) -> bool:
    return a.low <= b.high and b.low <= a.high


def _faithfulness_text(rows: list[dict], baseline: str) -> list[str]:
    """Sentences on comprehensiveness, sufficiency and the random floor."""
    by = {r["method"]: r for r in rows}
    ranked = sorted(
        (r for r in rows if r["method"] != baseline),
        key=lambda r: r["comprehensiveness"].mean,
        reverse=True,
    )
    if not ranked:
        raise ValueError("rows holds no method besides the random baseline.")
    best = ranked[0]
    text = [
        f"The most comprehensive method is **{best['method']}** (AOPC "
        f"comprehensiveness {best['comprehensiveness'].with_n()} reviews)"
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
    if len(ranked) > 1:
        second = ranked[1]
        if _overlap(best["comprehensiveness"], second["comprehensiveness"]):
            text.append(
                f"Its lead over {second['method']} ({second['comprehensiveness']}) "
                "is within the confidence intervals, so the two are not separated "
                "at this sample size."
            )
        else:
            text.append(
                f"It is ahead of the runner-up, {second['method']} "
                f"({second['comprehensiveness']}), beyond the confidence intervals."
            )
    suff = min(ranked, key=lambda r: r["sufficiency"].mean)
    floor = by[baseline]["sufficiency"] if baseline in by else "–"
    text.append(
        f"The most sufficient (lowest AOPC sufficiency) is **{suff['method']}** "
        f"({suff['sufficiency'].with_n()}; random {floor})."
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
        "Share of the selected tokens that were ties (equal scores, ordered at "
        f"random with a fixed seed): {listed}. Those methods' numbers partly "
        "measure the tie-break, not the map."
    )


def _sanity_text(rows, cascade: CascadeResults, threshold: float, baseline) -> str:
    """Pass/fail of every method in ``rows`` with signed and absolute ρ and n."""
    parts, passed, failed = [], [], []
    for r in rows:
        m = r["method"]
        if m == baseline:
            continue
        if m not in cascade.methods:
            failed.append(f"{m} (not in the cascade)")
            continue
        signed, absolute = cascade.final(m, "signed"), cascade.final(m, "abs")
        label = f"{m} (ρ {signed.mean:+.2f}, |map| ρ {absolute.mean:+.2f})"
        (passed if cascade.passes(m, threshold) else failed).append(label)
    parts.append(
        f"Sanity check on {cascade.n} reviews (head and every encoder layer "
        f"randomised; pass = mean rank correlation with the original map below "
        f"{threshold} in absolute value, for the signed map and for its absolute "
        f"values): passed by {', '.join(passed) or 'no method'}; failed by "
        f"{', '.join(failed) or 'no method'}."
    )
    flat = {
        m: cascade.n_degenerate(m)
        for m in cascade.methods
        if m != baseline and cascade.n_degenerate(m)
    }
    if flat:
        parts.append(
            "Maps that were constant or NaN at the last step, counted as changed "
            "(ρ = 0), or as unchanged (ρ = 1) when already constant before: "
            + ", ".join(f"{m} {k} of {cascade.n}" for m, k in flat.items())
            + "."
        )
    parts.append(_cascade_path(cascade, threshold, baseline))
    return " ".join(p for p in parts if p)


def _cascade_path(cascade: CascadeResults, threshold: float, baseline) -> str:
    """Which maps ignore the head, and which stay correlated deep into the cascade."""
    means = {m: cascade.rho[m].mean(axis=0) for m in cascade.methods if m != baseline}
    parts = []
    if cascade.steps and cascade.steps[0] == "head":
        same = [m for m, v in means.items() if v[0] >= 0.9]
        if same:
            parts.append(
                "Randomising the classifier head alone leaves "
                + ", ".join(same)
                + " unchanged (rank correlation >= 0.9): these maps do not depend "
                "on the classifier, so they cannot say which class a token supports."
            )
    slow = []
    for m, v in means.items():
        below = np.flatnonzero(np.abs(v) < threshold)
        first = int(below[0]) if below.size else None
        if first is None or first > len(v) // 2:
            where = cascade.steps[first] if first is not None else "never"
            slow.append(f"{m} (first below {threshold} at: {where})")
    if slow:
        parts.append("Slow to react to randomisation: " + ", ".join(slow) + ".")
    return " ".join(parts)


def _recommendation(rows, cascade, threshold: float, baseline) -> str:
    """The most comprehensive method above random (and passing the sanity check)."""
    ok = [
        r
        for r in rows
        if r["method"] != baseline
        and (r.get("comp - random") is None or r["comp - random"].low > 0)
        and (cascade is None or cascade.passes(r["method"], threshold))
    ]
    if not ok:
        return (
            "**Recommendation:** no method is both clearly better than random and "
            "sensitive to the model's weights here; read every highlight with caution."
        )
    pick = max(ok, key=lambda r: r["comprehensiveness"].mean)
    return (
        f"**Recommendation:** for this model, explain with **{pick['method']}**, "
        "the most comprehensive method that beats random"
        + (" and passes the sanity check." if cascade is not None else ".")
    )


def summarise(
    rows: list[dict],
    cascade: CascadeResults | None = None,
    pass_threshold: float = PASS_THRESHOLD,
    baseline: str = RANDOM,
) -> str:
    """The chapter's conclusion (markdown), written from ``rows`` and ``cascade``.

    Names the most comprehensive method with its CI and n, its margin over
    the random baseline (paired CI), whether its lead over the runner-up is
    clear, the most sufficient method, the methods whose selections were
    often ties, and with ``cascade`` which methods pass the sanity check
    (signed and absolute ρ, n, constant maps counted; a method missing from
    the cascade fails) and the recommendation.
    """
    text = _faithfulness_text(rows, baseline)
    text.append(_ties_text(rows))
    if cascade is not None:
        text.append(_sanity_text(rows, cascade, pass_threshold, baseline))
    text.append(_recommendation(rows, cascade, pass_threshold, baseline))
    return " ".join(t for t in text if t)


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


# --------------------------------------------------------------------------- plots


_COLOURS = {
    "[CLS] attention": "tab:blue",
    "rollout": "tab:orange",
    "Grad-CAM mean (normalised)": "tab:green",
    "Grad-CAM mean (raw)": "tab:olive",
    "grad x input": "tab:red",
    "IG": "tab:purple",
    "grad-weighted rollout": "tab:brown",
    "CP-LRP": "tab:pink",
    "AttnLRP": "tab:cyan",
}
#: Figure width in inches that fits the book's text column.
BOOK_WIDTH = 7.0
#: At most this many lines in one curve plot; the rest go to small multiples.
MAX_LINES = 6
#: Font sizes (points) of the figures: legends and titles, axis labels, ticks.
_FONT, _SMALL = 9, 8
_LAYER_PREFIX = "Grad-CAM L"


def layer_of(name: str) -> int | None:
    """The layer of a per-layer Grad-CAM method (``"Grad-CAM L3"`` -> 3), else None."""
    tail = name[len(_LAYER_PREFIX) :]
    return int(tail) if name.startswith(_LAYER_PREFIX) and tail.isdigit() else None


def main_methods(names) -> list[str]:
    """``names`` without the per-layer Grad-CAM methods, in order.

    The curve plots draw these as lines; :func:`plot_layer_curves` and
    :func:`plot_cascade_layers` give each layer its own small panel.
    """
    return [n for n in names if layer_of(n) is None]


def layer_methods(names) -> list[str]:
    """The per-layer Grad-CAM methods of ``names``, layer 0 first."""
    return sorted((n for n in names if layer_of(n) is not None), key=layer_of)


def _style(name: str) -> dict:
    """Line style per method: random dashed black, per-layer Grad-CAM thin greens."""
    if name == RANDOM:
        return {"color": "black", "linestyle": "--", "linewidth": 1.8}
    layer = layer_of(name)
    if layer is not None:
        import matplotlib

        shade = 0.35 + 0.1 * min(layer, 6)
        return {"color": matplotlib.colormaps["Greens"](shade), "linewidth": 0.9}
    return {"color": _COLOURS.get(name, "tab:gray"), "linewidth": 1.8}


def _legend_below(fig, axes, n: int) -> None:
    handles, labels = axes.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(3, n),
        fontsize=_FONT,
        frameon=False,
    )


def _pick(available, methods, what: str) -> list[str]:
    """``methods`` (default: :func:`main_methods` of ``available``), checked."""
    chosen = main_methods(available) if methods is None else list(methods)
    missing = [m for m in chosen if m not in available]
    if missing:
        raise ValueError(f"{missing} are not among the {what} methods {available}.")
    if not chosen:
        raise ValueError(f"no method to plot among {available}.")
    return chosen


def plot_curves(results: FaithfulnessResults, path=None, methods=None):
    """Deletion and insertion curves: mean p(target) vs fraction of tokens.

    ``methods``: the lines to draw (default: every method but the per-layer
    Grad-CAM ones, which :func:`plot_layer_curves` draws as small multiples).
    """
    import matplotlib.pyplot as plt

    names = _pick(results.methods, methods, "evaluated")
    rows = (len(names) + 2) // 3
    fig, axes = plt.subplots(1, 2, figsize=(BOOK_WIDTH, 3.4 + 0.3 * rows), sharey=True)
    x = np.asarray(results.curve_fractions)
    panels = (
        (axes[0], results.deletion, "Deletion: top tokens → [MASK]\n(lower = better)"),
        (axes[1], results.insertion, "Insertion: only top tokens\n(higher = better)"),
    )
    for ax, curves, title in panels:
        for m in names:
            ax.plot(x, curves[m].mean(0), marker=".", label=m, **_style(m))
        ax.set_title(title, fontsize=_FONT)
        ax.set_xlabel("fraction of real tokens, in score order", fontsize=_FONT)
        ax.tick_params(labelsize=_SMALL)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"mean p(predicted class), n = {results.n}", fontsize=_FONT)
    _legend_below(fig, axes[0], len(names))
    fig.tight_layout(rect=(0, 0.075 * rows, 1, 1))
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _small_multiples(n: int, title: str):
    """A grid of ``n`` small panels (at most 4 a row) that fits the book column."""
    import matplotlib.pyplot as plt

    ncols = min(n, 4)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(BOOK_WIDTH, 0.9 + 1.75 * nrows),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=_FONT)
    return fig, axes


def _finish_grid(fig, axes, n, xlabel, ylabel, n_legend, path):
    """Axis labels on the outer panels, one legend below, tight layout, save."""
    ncols = axes.shape[1]
    for i, ax in enumerate(axes.flat[:n]):
        ax.tick_params(labelsize=_SMALL)
        ax.grid(alpha=0.3)
        if i % ncols == 0:
            ax.set_ylabel(ylabel, fontsize=_SMALL)
        if i + ncols >= n:
            ax.set_xlabel(xlabel, fontsize=_SMALL)
            ax.tick_params(labelbottom=True)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(n_legend, 4),
        fontsize=_FONT,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.32 / fig.get_figheight() + 0.02, 1, 1))
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def plot_layer_curves(results: FaithfulnessResults, path=None):
    """Small multiples: each per-layer Grad-CAM method's curves in its own panel.

    One panel per layer (0 = nearest the embeddings): the deletion curve
    (solid, lower = better) and the insertion curve (dotted, higher = better)
    of that layer's map, with the random baseline's two curves in grey; the
    panel's title gives the layer's AOPC comprehensiveness. Raises
    ``ValueError`` when ``results`` holds no per-layer Grad-CAM method.
    """
    layers = layer_methods(results.methods)
    if not layers:
        raise ValueError(
            f"no per-layer Grad-CAM method ('Grad-CAM L0', ...) in {results.methods}."
        )
    fig, axes = _small_multiples(
        len(layers),
        f"Grad-CAM of one layer at a time: deletion and insertion (n = {results.n})",
    )
    x = np.asarray(results.curve_fractions)
    colour = _COLOURS["Grad-CAM mean (normalised)"]
    for ax, name in zip(axes.flat, layers, strict=False):
        if RANDOM in results.methods:
            for curves, style in ((results.deletion, "-"), (results.insertion, ":")):
                kind = "deletion" if style == "-" else "insertion"
                ax.plot(
                    x,
                    curves[RANDOM].mean(0),
                    color="0.55",
                    lw=1.2,
                    ls=style,
                    label=f"random: {kind}",
                )
        ax.plot(
            x,
            results.deletion[name].mean(0),
            color=colour,
            lw=1.8,
            ls="-",
            marker=".",
            label="layer: deletion ↓",
        )
        ax.plot(
            x,
            results.insertion[name].mean(0),
            color=colour,
            lw=1.8,
            ls=":",
            marker=".",
            label="layer: insertion ↑",
        )
        comp = float(results.aopc("comprehensiveness", name).mean())
        ax.set_title(f"layer {layer_of(name)}: comp. {comp:.3f}", fontsize=_FONT)
    return _finish_grid(
        fig, axes, len(layers), "fraction of tokens", "mean p(class)", 4, path
    )


def plot_agreement(results: FaithfulnessResults, path=None, methods=None):
    """Heatmap of the mean per-review Spearman correlation between methods.

    ``methods``: the rows and columns to show, in order (default: all).
    """
    import matplotlib.pyplot as plt

    names = list(results.methods) if methods is None else list(methods)
    missing = [m for m in names if m not in results.methods]
    if missing:
        raise ValueError(f"{missing} are not among the evaluated {results.methods}.")
    index = [results.methods.index(m) for m in names]
    mean = np.nanmean(results.agreement, axis=0)[np.ix_(index, index)]
    k = len(names)
    size = min(BOOK_WIDTH, 2.0 + 0.6 * k)
    small = _SMALL if k <= 8 else 6.5
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(mean, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=_SMALL)
    ax.set_yticks(range(k), names, fontsize=_SMALL)
    for i in range(k):
        for j in range(k):
            colour = "white" if abs(mean[i, j]) > 0.6 else "black"
            ax.text(
                j,
                i,
                f"{mean[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=small,
                color=colour,
            )
    bar = fig.colorbar(image, ax=ax, fraction=0.04)
    bar.set_label("mean Spearman ρ", fontsize=_SMALL)
    bar.ax.tick_params(labelsize=_SMALL)
    ax.set_title(f"Agreement between methods (n = {results.n} reviews)", fontsize=_FONT)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _cascade_band(cascade: CascadeResults, method: str, seed: int):
    """Mean signed ρ per step with its 95 % CI, the original model (ρ = 1) first."""
    cis = [
        bootstrap_ci(cascade.rho[method][:, s], seed=seed)
        for s in range(len(cascade.steps))
    ]
    mean = [1.0] + [c.mean for c in cis]
    return mean, [1.0] + [c.low for c in cis], [1.0] + [c.high for c in cis]


def plot_cascade(cascade: CascadeResults, path=None, seed: int = 1234, methods=None):
    """Sanity check: mean signed ρ with the original map (95 % CI band) per step.

    ``methods``: the lines to draw (default: every method but the per-layer
    Grad-CAM ones, which :func:`plot_cascade_layers` draws as small multiples).
    """
    import matplotlib.pyplot as plt

    names = _pick(cascade.methods, methods, "cascade")
    x = np.arange(len(cascade.steps) + 1)  # 0 = the original model (ρ = 1)
    rows = (len(names) + 2) // 3
    fig, ax = plt.subplots(figsize=(BOOK_WIDTH, 3.6 + 0.3 * rows))
    for m in names:
        style = _style(m)
        mean, low, high = _cascade_band(cascade, m, seed)
        ax.plot(x, mean, marker="o", markersize=2.5, label=m, **style)
        ax.fill_between(x, low, high, color=style.get("color"), alpha=0.10)
    ax.axhline(0, color="grey", linewidth=0.8)
    labels = ["original"] + [f"+{s}" for s in cascade.steps]
    ax.set_xticks(x, labels, rotation=30, fontsize=_SMALL)
    ax.tick_params(axis="y", labelsize=_SMALL)
    ax.set_xlabel("randomised so far (cumulative, from the top)", fontsize=_FONT)
    ax.set_ylabel("Spearman ρ with the original map", fontsize=_FONT)
    ax.set_ylim(-0.5, 1.05)
    ax.set_title(f"Cascading randomisation (n = {cascade.n} reviews)", fontsize=_FONT)
    ax.grid(alpha=0.3)
    _legend_below(fig, ax, len(names))
    fig.tight_layout(rect=(0, 0.075 * rows, 1, 1))
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def plot_cascade_layers(cascade: CascadeResults, path=None, seed: int = 1234):
    """Small multiples of the sanity check: one panel per Grad-CAM layer.

    Each panel draws that layer's mean signed ρ with the original map (95 %
    CI band) against the number of randomisation steps (0 = the original
    model; the steps are those of :func:`plot_cascade`), with the random
    baseline in grey. Raises ``ValueError`` without per-layer methods.
    """
    layers = layer_methods(cascade.methods)
    if not layers:
        raise ValueError(
            f"no per-layer Grad-CAM method ('Grad-CAM L0', ...) in {cascade.methods}."
        )
    fig, axes = _small_multiples(
        len(layers), f"Cascading randomisation, Grad-CAM per layer (n = {cascade.n})"
    )
    x = np.arange(len(cascade.steps) + 1)
    colour = _COLOURS["Grad-CAM mean (normalised)"]
    for ax, name in zip(axes.flat, layers, strict=False):
        if RANDOM in cascade.methods:
            mean, _, _ = _cascade_band(cascade, RANDOM, seed)
            ax.plot(x, mean, color="0.55", lw=1.2, ls="--", label="random")
        mean, low, high = _cascade_band(cascade, name, seed)
        ax.plot(x, mean, color=colour, lw=1.8, marker=".", label="layer's map")
        ax.fill_between(x, low, high, color=colour, alpha=0.15)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_ylim(-0.5, 1.05)
        ax.set_title(f"layer {layer_of(name)}", fontsize=_FONT)
    return _finish_grid(
        fig, axes, len(layers), "steps randomised", "Spearman ρ", 2, path
    )
