"""The figures of chapters 5–6 (curves, agreement, the sanity check, the forest
plot, faithfulness against plausibility) and chapter 9's corpus views.

Every figure is at most :data:`BOOK_WIDTH` inches wide, the book's column; the
per-layer Grad-CAM methods get small multiples of their own
(:mod:`helpers.book.layer_plots`).
"""

from __future__ import annotations

import numpy as np

from ..highlight import CMAP_SIGNED
from ..metrics.faithfulness import (
    DELETION_AUC,
    INSERTION_AUC,
    RANDOM,
    FaithfulnessResults,
)
from ..metrics.plausibility import AUPRC
from ..metrics.sanity import CascadeResults
from ..stats import bootstrap_ci
from .report import layer_of, main_methods

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
#: Font sizes (points) of the figures: legends and titles, axis labels, ticks.
_FONT, _SMALL = 9, 8


def _finish(fig, path=None, rect=None):
    """``fig`` laid out (``rect`` as in ``tight_layout``), saved to ``path`` if set."""
    fig.tight_layout(rect=rect)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


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


def _legend_below(fig, axes, n: int, per_row: int = 3) -> None:
    """One legend for the figure, below it: ``axes``' entries, ``per_row`` a row."""
    handles, labels = axes.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(per_row, n),
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
    Grad-CAM ones, which :func:`helpers.book.layer_plots.plot_layer_curves`
    draws as small multiples).
    """
    import matplotlib.pyplot as plt

    names = _pick(results.methods, methods, "evaluated")
    rows = (len(names) + 2) // 3
    fig, axes = plt.subplots(1, 2, figsize=(BOOK_WIDTH, 3.4 + 0.3 * rows), sharey=True)
    x = np.asarray(results.curve_fractions)
    panels = (
        (axes[0], results.deletion, "Deletion: top tokens → [MASK]", DELETION_AUC),
        (axes[1], results.insertion, "Insertion: only top tokens", INSERTION_AUC),
    )
    for ax, curves, title, metric in panels:
        for m in names:
            ax.plot(x, curves[m].mean(0), marker=".", label=m, **_style(m))
        ax.set_title(f"{title}\n({metric.better} = better)", fontsize=_FONT)
        ax.set_xlabel("fraction of real tokens, in score order", fontsize=_FONT)
        ax.tick_params(labelsize=_SMALL)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"mean p(predicted class), n = {results.n}", fontsize=_FONT)
    _legend_below(fig, axes[0], len(names))
    return _finish(fig, path, rect=(0, 0.075 * rows, 1, 1))


def plot_agreement(results: FaithfulnessResults, path=None, methods=None):
    """Heatmap of the mean per-review Spearman correlation between methods.

    ``methods``: the rows and columns to show, in order (default: all).
    """
    names = list(results.methods) if methods is None else list(methods)
    missing = [m for m in names if m not in results.methods]
    if missing:
        raise ValueError(f"{missing} are not among the evaluated {results.methods}.")
    index = [results.methods.index(m) for m in names]
    mean = np.nanmean(results.agreement, axis=0)[np.ix_(index, index)]
    fig, ax = rho_heatmap(mean, names, min(BOOK_WIDTH, 2.0 + 0.6 * len(names)))
    ax.set_title(f"Agreement between methods (n = {results.n} reviews)", fontsize=_FONT)
    return _finish(fig, path)


def rho_heatmap(mean, labels, size: float, rotation: int = 60, small=(_SMALL, 6.5)):
    """``(fig, ax)``: the matrix of mean Spearman ρ between ``labels``, each cell
    annotated ("–" where it is NaN), on the book's signed scale
    (:data:`helpers.highlight.CMAP_SIGNED`, -1 blue, 0 white, 1 red).
    ``small``: the cells' font size up to 8 rows, and beyond."""
    import matplotlib.pyplot as plt

    k = len(labels)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(mean, cmap=CMAP_SIGNED, vmin=-1, vmax=1)
    ha = "right" if rotation else "center"
    ax.set_xticks(range(k), labels, rotation=rotation, ha=ha, fontsize=_SMALL)
    ax.set_yticks(range(k), labels, fontsize=_SMALL)
    for (i, j), value in np.ndenumerate(mean):
        ax.text(
            j,
            i,
            "–" if np.isnan(value) else f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=small[k > 8],
            color="white" if abs(value) > 0.6 else "black",
        )
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("mean Spearman ρ", fontsize=_SMALL)
    bar.ax.tick_params(labelsize=_SMALL)
    return fig, ax


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
    Grad-CAM ones, which :func:`helpers.book.layer_plots.plot_cascade_layers`
    draws as small multiples).
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
    return _finish(fig, path, rect=(0, 0.075 * rows, 1, 1))


def _text(name: str) -> str:
    """``name`` drawn as plain text: a ``$`` escaped, so it never becomes mathtext."""
    return name.replace("$", r"\$")


def plot_forest(rows: list[dict], title: str = "", path=None):
    """Forest plot: each method's comprehensiveness − random, 95 % paired CI.

    ``rows``: :func:`helpers.book.report.results_table` rows (the random
    baseline and rows without ``comp - random`` are left out). One row of the
    plot per method, the largest mean on top: a dot at the mean of the paired
    per-review difference, a whisker from its interval's low to its high end,
    and a line at 0 (random). With a sanity check in the rows, a filled dot
    passes it and a hollow one fails.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    shown = [r for r in rows if r["method"] != RANDOM and r.get("comp - random")]
    if not shown:
        raise ValueError(
            "no row holds 'comp - random': evaluate the random baseline too."
        )
    shown.sort(key=lambda r: r["comp - random"].mean, reverse=True)
    k = len(shown)
    y = np.arange(k)[::-1]
    diff = [r["comp - random"] for r in shown]
    colours = [_style(r["method"])["color"] for r in shown]
    fig, ax = plt.subplots(figsize=(BOOK_WIDTH, 1.3 + 0.27 * k))
    ax.axvline(0, color="black", linestyle="--", linewidth=1)
    ax.hlines(y, [d.low for d in diff], [d.high for d in diff], colors=colours, lw=2)
    handles = [Line2D([], [], color="black", ls="--", lw=1, label="random")]
    handles += _sanity_dots(ax, [r.get("sanity") for r in shown], diff, y, colours)
    ax.set_yticks(y, [_text(r["method"]) for r in shown], fontsize=_SMALL)
    ax.set_ylim(-0.7, k - 0.3)
    ax.tick_params(axis="x", labelsize=_SMALL)
    n = diff[0].n
    ax.set_xlabel(
        f"comprehensiveness − random (paired per review, 95 % CI), n = {n}",
        fontsize=_FONT,
    )
    ax.set_title(
        title or "How much more a method's top tokens matter than random ones",
        fontsize=_FONT,
    )
    ax.grid(axis="x", alpha=0.3)
    ax.legend(  # below the axes: a legend inside could hide a dot
        handles=handles,
        fontsize=_SMALL,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.55 / fig.get_figheight() - 0.1),
        ncol=len(handles),
        frameon=False,
    )
    return _finish(fig, path)


def _sanity_dots(ax, sanity, diff, y, colours) -> list:
    """The forest plot's dots: filled where the sanity check passed, hollow
    where it failed; the legend's handles for the outcomes drawn."""
    from matplotlib.lines import Line2D

    handles = []
    for outcome in ("pass", "fail", None):
        index = [
            i
            for i, s in enumerate(sanity)
            if s == outcome or (outcome is None and s not in ("pass", "fail"))
        ]
        if not index:
            continue
        edge = [colours[i] for i in index]
        face = "white" if outcome == "fail" else edge
        ax.scatter(
            [diff[i].mean for i in index],
            y[index],
            s=36,
            zorder=3,
            facecolors=face,
            edgecolors=edge,
            linewidths=1.5,
        )
        if outcome is not None:
            label = f"{'passes' if outcome == 'pass' else 'fails'} the sanity check"
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="none",
                    marker="o",
                    color="0.3",
                    markerfacecolor="white" if outcome == "fail" else "0.3",
                    label=label,
                )
            )
    return handles


def plot_faithful_plausible(
    faithfulness_rows: list[dict],
    plausibility_rows: list[dict],
    costs: dict,
    title: str = "",
    path=None,
):
    """Scatter of comprehensiveness against AUPRC; marker area = ms per review.

    One labelled point per method found in all three inputs (as
    :func:`helpers.book.recommend.recommendation_table`): x the mean AUPRC
    against the human rationales, y the mean comprehensiveness, thin whiskers
    their 95 % CIs, the marker's area proportional to the measured
    milliseconds per review (with a small floor, so the cheapest
    stays visible); the random baseline in grey. A legend gives three
    reference costs.
    """
    import matplotlib.pyplot as plt

    plaus = {r["method"]: r for r in plausibility_rows}
    shown = [
        r for r in faithfulness_rows if r["method"] in plaus and r["method"] in costs
    ]
    if not shown:
        raise ValueError("no method is in all three of the rows and costs.")
    names = [r["method"] for r in shown]
    comp = [r["comprehensiveness"] for r in shown]
    auprc = [plaus[m][AUPRC.name] for m in names]
    ms = np.array([costs[m].ms for m in names], dtype=float)
    area = _cost_area(ms, ms.max())
    colours = ["0.55" if m == RANDOM else _style(m)["color"] for m in names]
    fig, ax = plt.subplots(figsize=(BOOK_WIDTH, 4.6))
    for c, a, colour in zip(comp, auprc, colours, strict=True):
        ax.plot([a.low, a.high], [c.mean] * 2, color=colour, lw=0.8, alpha=0.6)
        ax.plot([a.mean] * 2, [c.low, c.high], color=colour, lw=0.8, alpha=0.6)
    ax.scatter(
        [a.mean for a in auprc],
        [c.mean for c in comp],
        s=area,
        c=colours,
        alpha=0.75,
        edgecolors="black",
        linewidths=0.6,
        zorder=3,
    )
    _cost_legend(ax, ms, [m != RANDOM for m in names])
    ax.set_xlabel(
        f"plausibility: mean AUPRC against human rationales (n = {auprc[0].n})",
        fontsize=_FONT,
    )
    ax.set_ylabel(f"comprehensiveness (n = {comp[0].n})", fontsize=_FONT)
    ax.tick_params(labelsize=_SMALL)
    ax.grid(alpha=0.3)
    ax.set_title(title or "Faithful, plausible, affordable", fontsize=_FONT)
    fig.tight_layout()  # the axes' final size, which the labels are placed for
    points = [(a.mean, c.mean) for a, c in zip(auprc, comp, strict=True)]
    _label_points(ax, names, points, area)
    return _finish(fig, path)


def _cost_legend(ax, ms: np.ndarray, methods: list[bool]) -> None:
    """Beside the axes: three round costs (of the methods, not the baseline,
    when there are any) drawn at their marker areas."""
    reference = _reference_costs(ms[methods] if any(methods) else ms)
    handles = [
        ax.scatter([], [], s=_cost_area(v, ms.max()), color="0.8", edgecolors="black")
        for v in reference
    ]
    ax.legend(
        handles,
        [f"{v:,g} ms/review" for v in reference],
        title="marker area: cost",
        fontsize=_SMALL,
        title_fontsize=_SMALL,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        frameon=False,
        labelspacing=2.2,
        handletextpad=2.0,
        borderpad=1.2,
    )


def _label_points(ax, names, points, areas) -> None:
    """Each point's name beside its marker, moved down or up where it would
    cover a label already placed (points in order of decreasing y)."""
    fig = ax.figure
    fig.canvas.draw()  # the limits and transforms the labels are placed with
    renderer = fig.canvas.get_renderer()
    placed = []
    for i in sorted(range(len(names)), key=lambda i: -points[i][1]):
        gap = np.sqrt(areas[i]) / 2 + 3  # points from the centre to the edge, + 3
        shifts = (0, -9, 9, -18, 18, -27, 27)
        for k, dy in enumerate(shifts):
            label = ax.annotate(
                _text(names[i]),
                points[i],
                xytext=(gap, dy),
                textcoords="offset points",
                va="center",
                fontsize=_SMALL,
            )
            box = label.get_window_extent(renderer)
            free = not any(box.overlaps(other) for other in placed)
            if free or k == len(shifts) - 1:  # no free place: the last shift
                break
            label.remove()
        placed.append(box)


#: The smallest and largest marker area (points²) of :func:`plot_faithful_plausible`.
_MIN_AREA, _MAX_AREA = 12.0, 700.0


def _cost_area(ms, most: float):
    """Marker area proportional to ``ms`` (the costliest :data:`_MAX_AREA`)."""
    return np.maximum(_MAX_AREA * np.asarray(ms, dtype=float) / most, _MIN_AREA)


def _reference_costs(ms: np.ndarray) -> list[float]:
    """Three round costs spanning ``ms`` for the size legend (1–2–5 steps)."""
    steps = sorted({_round_125(v) for v in np.geomspace(ms.min(), ms.max(), 3)})
    return [s for s in steps if s > 0] or [float(ms.max())]


def _round_125(value: float) -> float:
    """``value`` rounded to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 0.0
    power = 10.0 ** np.floor(np.log10(value))
    return float(min((1, 2, 5, 10), key=lambda m: abs(m * power - value)) * power)


def plot_top_words(per_class: dict, by: str = "total", title: str = "", path=None):
    """Horizontal bars, one panel per class: each word's ``by`` (``"total"`` or
    ``"mean"``) relevance with its bootstrap interval, largest on top.

    ``per_class``: :func:`helpers.corpus_views.top_words`'s result. Words are
    drawn as plain text: a ``$`` is escaped, so no word turns into mathtext.
    """
    import matplotlib.pyplot as plt

    if by not in ("total", "mean"):
        raise ValueError(f"by must be 'total' or 'mean', got {by!r}.")
    labels = [label for label, words in per_class.items() if words]
    if not labels:
        raise ValueError("no words to plot: lower min_texts or explain more texts.")
    k = max(len(per_class[label]) for label in labels)
    fig, axes = plt.subplots(
        1,
        len(labels),
        figsize=(BOOK_WIDTH, 1.0 + 0.22 * k),
        squeeze=False,
    )
    for ax, label in zip(axes[0], labels, strict=True):
        words = per_class[label]
        if by == "total":
            value = np.array([w.total for w in words])
            low = np.array([w.total_low for w in words])
            high = np.array([w.total_high for w in words])
        else:
            value = np.array([w.mean.mean for w in words])
            low = np.array([w.mean.low for w in words])
            high = np.array([w.mean.high for w in words])
        y = np.arange(len(words))[::-1]
        error = np.vstack([value - low, high - value]).clip(min=0)
        ax.barh(y, value, xerr=error, color="tab:cyan", ecolor="0.3", capsize=2)
        ax.set_yticks(y, [_text(w.word) for w in words], fontsize=_SMALL)
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_title(f"explaining {label}", fontsize=_FONT)
        ax.set_xlabel(f"{by} relevance (95 % CI)", fontsize=_FONT)
        ax.tick_params(axis="x", labelsize=_SMALL)
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=_FONT)
    return _finish(fig, path)


def plot_relevance_frequency(points: list[dict], title: str = "", path=None):
    """Mean relevance against the number of texts holding the word (log x),
    one colour per class; shortcut kinds (numbers, punctuation, names) as
    crosses. ``points``: :func:`helpers.corpus_views.relevance_frequency`."""
    import matplotlib.pyplot as plt

    if not points:
        raise ValueError("no words to plot: explain some texts first.")
    fig, ax = plt.subplots(figsize=(BOOK_WIDTH, 3.6))
    colours = ("tab:red", "tab:green", "tab:blue", "tab:orange")
    for i, label in enumerate(dict.fromkeys(p["label"] for p in points)):
        for shortcut in (False, True):
            mine = [
                p
                for p in points
                if p["label"] == label and (p["kind"] is not None) == shortcut
            ]
            if not mine:
                continue
            ax.scatter(
                [p["n_texts"] for p in mine],
                [p["mean"] for p in mine],
                s=14 if shortcut else 6,
                marker="x" if shortcut else "o",
                alpha=0.8 if shortcut else 0.35,
                color=colours[i % len(colours)],
                label=f"explaining {label}" + (", shortcut kind" if shortcut else ""),
            )
    ax.set_xscale("log")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("texts holding the word (log scale)", fontsize=_FONT)
    ax.set_ylabel("mean relevance per text", fontsize=_FONT)
    ax.tick_params(labelsize=_SMALL)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=_SMALL, frameon=False)
    if title:
        ax.set_title(title, fontsize=_FONT)
    return _finish(fig, path)
