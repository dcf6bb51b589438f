"""Chapter 5's per-layer Grad-CAM figures: small multiples, one panel a layer.

:func:`plot_layer_curves` (deletion and insertion curves) and
:func:`plot_cascade_layers` (the sanity check) draw each method that
:func:`helpers.book.report.layer_methods` finds (``"Grad-CAM L0"``, ...) in a
panel of its own, beside the random baseline; the curves of every other
method are :mod:`helpers.book.plots`'s.
"""

from __future__ import annotations

import numpy as np

from ..metrics.faithfulness import (
    DELETION_AUC,
    INSERTION_AUC,
    RANDOM,
    FaithfulnessResults,
)
from ..metrics.sanity import CascadeResults
from .plots import (
    _COLOURS,
    _FONT,
    _SMALL,
    BOOK_WIDTH,
    _cascade_band,
    _finish,
    _legend_below,
)
from .report import layer_methods, layer_of


def _small_multiples(methods, title: str):
    """``(layers, fig, axes)``: the per-layer Grad-CAM methods of ``methods`` and
    a grid of one small panel each (at most 4 a row) that fits the book column."""
    import matplotlib.pyplot as plt

    layers = layer_methods(methods)
    if not layers:
        raise ValueError(
            f"no per-layer Grad-CAM method ('Grad-CAM L0', ...) in {methods}."
        )
    n = len(layers)
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
    return layers, fig, axes


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
    _legend_below(fig, axes.flat[0], n_legend, per_row=4)
    return _finish(fig, path, rect=(0, 0.32 / fig.get_figheight() + 0.02, 1, 1))


def plot_layer_curves(results: FaithfulnessResults, path=None):
    """Small multiples: each per-layer Grad-CAM method's curves in its own panel.

    One panel per layer (0 = nearest the embeddings): the deletion curve
    (solid, lower = better) and the insertion curve (dotted, higher = better)
    of that layer's map, with the random baseline's two curves in grey; the
    panel's title gives the layer's AOPC comprehensiveness. Raises
    ``ValueError`` when ``results`` holds no per-layer Grad-CAM method.
    """
    layers, fig, axes = _small_multiples(
        results.methods,
        f"Grad-CAM of one layer at a time: deletion and insertion (n = {results.n})",
    )
    x = np.asarray(results.curve_fractions)
    colour = _COLOURS["Grad-CAM mean (normalised)"]
    kinds = (
        ("deletion", results.deletion, "-", DELETION_AUC.arrow),
        ("insertion", results.insertion, ":", INSERTION_AUC.arrow),
    )
    for ax, name in zip(axes.flat, layers, strict=False):
        if RANDOM in results.methods:
            for kind, curves, style, _ in kinds:
                ax.plot(
                    x,
                    curves[RANDOM].mean(0),
                    color="0.55",
                    lw=1.2,
                    ls=style,
                    label=f"random: {kind}",
                )
        for kind, curves, style, better in kinds:
            ax.plot(
                x,
                curves[name].mean(0),
                color=colour,
                lw=1.8,
                ls=style,
                marker=".",
                label=f"layer: {kind} {better}",
            )
        comp = float(results.aopc("comprehensiveness", name).mean())
        ax.set_title(f"layer {layer_of(name)}: comp. {comp:.3f}", fontsize=_FONT)
    return _finish_grid(
        fig, axes, len(layers), "fraction of tokens", "mean p(class)", 4, path
    )


def plot_cascade_layers(cascade: CascadeResults, path=None, seed: int = 1234):
    """Small multiples of the sanity check: one panel per Grad-CAM layer.

    Each panel draws that layer's mean signed ρ with the original map (95 %
    CI band) against the number of randomisation steps (0 = the original
    model; the steps of :func:`helpers.book.plots.plot_cascade`), with the
    random baseline in grey. Raises ``ValueError`` without per-layer methods.
    """
    layers, fig, axes = _small_multiples(
        cascade.methods,
        f"Cascading randomisation, Grad-CAM per layer (n = {cascade.n})",
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
