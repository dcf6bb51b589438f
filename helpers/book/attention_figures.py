"""Chapter 3's attention figures, drawn from :mod:`helpers.attention`'s analysis."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from ..attention import TOKEN_KINDS, heads_matrix
from ..attr.attention import layer_index
from ..attr.explanation import TextExplanation
from ..highlight import CMAP


def plot_attention_mass(mass: torch.Tensor, title: str = "", path=None):
    """Stacked bars: per layer, where the ``[CLS]`` row's attention goes.

    ``mass``: from :func:`helpers.attention.attention_mass`, or its mean over
    reviews (``[layers, 4]``, columns in the order of
    :data:`helpers.attention.TOKEN_KINDS`). Saved to ``path`` when given.
    """
    mass = torch.as_tensor(mass, dtype=torch.float32)
    if mass.dim() != 2 or mass.shape[1] != len(TOKEN_KINDS):
        raise ValueError(
            f"mass must be [layers, {len(TOKEN_KINDS)}] from attention_mass, got "
            f"{tuple(mass.shape)}."
        )
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    bottom = torch.zeros(mass.shape[0])
    layers = range(mass.shape[0])
    for k, (kind, colour) in enumerate(
        zip(TOKEN_KINDS, ("tab:gray", "tab:orange", "tab:blue", "tab:red"), strict=True)
    ):
        ax.bar(layers, mass[:, k], bottom=bottom, label=kind, color=colour)
        bottom += mass[:, k]
    ax.set(
        xlabel="encoder layer (0 = nearest the embeddings)",
        ylabel="share of [CLS] attention",
        ylim=(0, 1),
        xticks=list(layers),
        title=title,
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def plot_heads_heatmap(
    ra: TextExplanation,
    layer: int = -1,
    *,
    title: str = "",
    path=None,
    max_tokens: int = 60,
    max_width: float = 10.0,
):
    """Heads × tokens heat map of one layer's ``[CLS]`` attention; returns the Figure.

    One row per head and a last row for their mean, one column per token
    (``[CLS]`` and ``[SEP]`` left out, WordPiece pieces as they are), each row
    scaled to its own maximum as in :func:`helpers.attention.heads_matrix`,
    coloured with :data:`helpers.highlight.CMAP` from 0 (white) to the row's
    maximum (red). Token labels are rotated 90°; the figure is at most
    ``max_width`` inches wide. Meant for short reviews: more than
    ``max_tokens`` shown tokens raise ``ValueError`` (show such a review's
    heads with :func:`helpers.attention.render_review` and ``head="grid"``
    instead). Saved to ``path`` when given.
    """
    tokens, rows = heads_matrix(ra, layer)
    if len(tokens) > max_tokens:
        raise ValueError(
            f"{len(tokens)} tokens do not fit a readable heat map (max_tokens="
            f"{max_tokens}): use render_review(ra, head='grid') for a long review."
        )
    n_rows = rows.shape[0]
    width = min(max_width, 1.6 + 0.3 * len(tokens))
    height = 1.3 + 0.24 * n_rows + 0.07 * max(len(t) for t in tokens)
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(
        rows.numpy(),
        cmap=CMAP,
        vmin=0.0,
        vmax=1.0,
        aspect="auto",
        interpolation="nearest",
    )
    ax.axhline(n_rows - 1.5, color="black", linewidth=1.5)
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=9)
    labels = [f"head {h}" for h in range(n_rows - 1)] + ["mean"]
    ax.set_yticks(range(n_rows), labels, fontsize=8)
    ax.tick_params(length=0)
    index = layer_index(layer, ra.n_layers)
    ax.set_title(title or f"[CLS] attention, layer {index} of 0..{ra.n_layers - 1}")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("attention / row max")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig
