"""Chapter 4's Grad-CAM figures and generated prose, from :mod:`helpers.gradcam`'s
analysis (one review's layers x tokens map, the layer statistics, the layers'
agreement).
"""

from __future__ import annotations

import textwrap
import unicodedata
import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.sparse.csgraph import connected_components

from ..attr.explanation import TextExplanation
from ..attr.gradcam import GradCam, GradCamMean
from ..data import BookWarning
from ..escape import isolated
from ..extras import install_hint
from ..gradcam import mean_layer_agreement
from ..highlight import CMAP
from ..stats import ranked, spearman
from .plots import rho_heatmap
from .report import listing

# ------------------------------------------------------------- layer statistics


#: The rows of :func:`layer_statistics_table`: each summary's key and label. How
#: far each layer's map agrees with the others is a matrix, not a row: see
#: :func:`plot_layer_agreement`.
_STAT_ROWS = {
    "special_share": "share of the map on [CLS]/[SEP]",
    "peak_token_share": "share on the single top token",
    "all_zero": "reviews whose map is all zero",
}


def layer_statistics_table(stats: dict[str, torch.Tensor]) -> list[dict]:
    """The per-layer summaries of :func:`helpers.gradcam.layer_statistics`, as rows.

    One row per summary (the share of the map on ``[CLS]``/``[SEP]``, the
    share on the single top token, the share of reviews whose map is all
    zero), one column per layer (``"layer 0"`` = the first), each value a
    percentage (``"–"`` where it is NaN: no review had a map there). Show it
    with :func:`helpers.book.report.table_html` and ``columns=list(rows[0])``.
    """
    missing = set(_STAT_ROWS) - set(stats)
    if missing:
        raise ValueError(
            f"stats lacks {sorted(missing)}: pass the output of layer_statistics."
        )
    rows = []
    for key, label in _STAT_ROWS.items():
        values = torch.as_tensor(stats[key], dtype=torch.float64).tolist()
        row = {"summary": label}
        row.update(
            {f"layer {n}": f"{v:.0%}" if v == v else "–" for n, v in enumerate(values)}
        )
        rows.append(row)
    return rows


def _per_layer(values, fmt: str = "{:.2f}") -> str:
    return ", ".join(f"{n}: {fmt.format(v)}" for n, v in enumerate(values))


def _code(token: str) -> str:
    return "`" + token.replace("`", "'") + "`"


def describe_layer_statistics(
    stats: dict[str, torch.Tensor], shown: TextExplanation
) -> list[str]:
    """Four markdown bullets on ``stats``, written from the numbers.

    ``stats``: the output of :func:`helpers.gradcam.layer_statistics`;
    ``shown``: one review's result, whose top token per layer is named. The
    sentences are generated, so they stay true when a rerun moves the numbers.
    (How far the layers agree is :func:`describe_layer_agreement`'s sentence.)
    """
    special = stats["special_share"].tolist()
    peak = stats["peak_token_share"].tolist()
    empty = stats["all_zero"].tolist()
    top = [  # an all-zero row has no top token (argmax would name position 0)
        shown.tokens[int(row.argmax())] if bool(row.max() > 0) else None
        for row in shown.score(GradCam.name)
    ]
    named = [_code(tok) if tok is not None else "none (all zero)" for tok in top]
    distinct = len({tok for tok in top if tok is not None})
    known = [v for v in special if v == v] or [float("nan")]  # NaN: no map at all
    return [
        f"* **Top token per layer** in the review shown (layer 0 first): "
        f"{', '.join(named)}; {distinct} different tokens over {len(top)} layers.",
        f"* **Special tokens** get {min(known):.0%} to {max(known):.0%} of the "
        f"map ({special[-1]:.0%} in the last layer, whose `[CLS]` the classifier "
        "reads). How much goes to special tokens is a property of the model, not "
        "of the method.",
        (
            "* **No empty rows**: no layer's map is all zero for any review."
            if max(empty) == 0
            else f"* **Empty rows**: up to {max(empty):.0%} of the reviews have an "
            f"all-zero map in some layer ({_per_layer(empty, '{:.0%}')})."
        )
        + " The ReLU keeps only evidence *for* the target class, so an all-zero "
        "row does not mean the layer is irrelevant.",
        f"* **Concentration**: the single top token holds {min(peak):.0%} to "
        f"{max(peak):.0%} of a layer's map on average.",
    ]


# --------------------------------------------------------------- one review's map


def plot_gradcam(
    cam,
    tokens: Sequence[str],
    title: str,
    path=None,
    normalize: str | None = "layer",
    cmap: str | None = None,
    max_tokens: int | None = 50,
    top: int = 40,
    seed: int = 1234,
):
    """The layers x tokens Grad-CAM figure (the Japanese Grad-CAM article's figure).

    Layer 0 (the first encoder layer, nearest the embeddings) is at the
    **bottom**, the last layer at the top; tokens run left to right.
    ``normalize``: ``"layer"`` divides each layer's row by its maximum (layers
    have very different scales, so a shared scale would show one or two layers
    only), ``"global"`` by the maximum of the whole map, ``None`` plots raw
    values. ``cmap``: the book's scale for scores >= 0 by default
    (:data:`helpers.highlight.CMAP`, white -> red, as the HTML highlights).

    Long reviews: labels of more than ``max_tokens`` tokens cannot be read at
    the book's column width, so only the ``top`` tokens with the highest mean
    over layers of the plotted map are drawn, in text order (ties in random
    order drawn with ``seed``, never by position). A label that starts with
    "…" follows left-out tokens, and a grey line marks the gap; the title says
    how many tokens are shown. ``max_tokens=None`` draws every token. The
    figure is at most 10 inches wide with labels of at least 8 points.

    Japanese tokens render through ``japanize_matplotlib``. Returns the
    matplotlib Figure; ``path`` saves it (PNG, 150 dpi).
    """
    _japanese_font()
    data = _checked_map(cam, tokens, top)
    data, label = _normalized(data, normalize)
    labels, gaps = list(tokens), []
    if max_tokens is not None and len(tokens) > max_tokens:
        data, labels, gaps = _top_columns(data, tokens, top, seed)
        title = (
            f"{title} (the {len(labels)} of {len(tokens)} tokens with the highest "
            "mean over layers, in text order; … = tokens left out)"
        )
    fig = _draw_map(data, labels, gaps, title, cmap or CMAP, label)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _japanese_font() -> None:
    """Load ``japanize_matplotlib`` (Japanese token labels), or warn how to."""
    try:  # Japanese font for token labels; harmless for English
        import japanize_matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the install
        warnings.warn(
            "japanize_matplotlib is not installed: Japanese labels may not render "
            f"({install_hint('ja')}).",
            BookWarning,
            stacklevel=3,
        )


def _checked_map(cam, tokens: Sequence[str], top: int) -> torch.Tensor:
    """``cam`` as a float32 CPU tensor ``[layers, tokens]``, checked against
    ``tokens`` and ``top``."""
    data = torch.as_tensor(cam, dtype=torch.float32).detach().cpu()
    if data.dim() != 2:
        raise ValueError(
            f"cam must be [layers, tokens], got shape {tuple(data.shape)}."
        )
    n_tokens = data.shape[1]
    if len(tokens) != n_tokens:
        raise ValueError(f"{len(tokens)} tokens given for a map of {n_tokens} tokens.")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}.")
    return data


def _top_columns(
    data: torch.Tensor, tokens: Sequence[str], top: int, seed: int
) -> tuple[torch.Tensor, list[str], list[int]]:
    """The ``top`` columns with the highest mean over layers, in text order.

    Returns ``(data [layers, kept], labels, gaps)``: a label starting with "…"
    follows left-out tokens (its column is in ``gaps``); the last ends with
    " …" when tokens after it are left out.
    """
    n_tokens = data.shape[1]
    keep = sorted(ranked(data.mean(dim=0), seed)[:top].tolist())
    gaps = [j for j, pos in enumerate(keep) if pos > (keep[j - 1] + 1 if j else 0)]
    labels = [("… " if j in gaps else "") + tokens[p] for j, p in enumerate(keep)]
    if keep[-1] < n_tokens - 1:
        labels[-1] += " …"
    return data[:, keep], labels, gaps


def _draw_map(data: torch.Tensor, labels, gaps, title: str, cmap, bar_label: str):
    """The heat map (layer 0 at the bottom), grey lines at ``gaps``, a colour bar."""
    n_layers, shown = data.shape
    width = min(10.0, max(6.0, 0.15 * shown + 2.4))
    height = max(2.6, 0.3 * n_layers + 2.0)
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(
        data.numpy(),
        cmap=cmap,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        vmin=0,
    )
    for j in gaps:  # grey, since white is the colour of 0
        ax.axvline(j - 0.5, color="0.4", linewidth=1.5)
    ax.set_xticks(range(shown))
    ax.set_xticklabels(labels, rotation=90, fontsize=9 if shown <= 30 else 8)
    ax.set_yticks(range(n_layers))
    ax.set_yticklabels([str(i) for i in range(n_layers)], fontsize=9)
    ax.set_ylabel("encoder layer\n(0 = first, at the bottom)", fontsize=9)
    ax.set_xlabel("token", fontsize=9)
    ax.set_title(_wrap(title, width), fontsize=10)
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    bar.set_label(bar_label, fontsize=9)
    bar.ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def _wrap(title: str, width_inches: float) -> str:
    """Break a long title into lines that fit the figure (CJK characters count 2)."""
    columns = int(width_inches * 11)
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in title)
    return (
        "\n".join(textwrap.wrap(title, width=max(20, columns - wide)))
        if len(title) + wide > columns
        else title
    )


def _normalized(data: torch.Tensor, normalize: str | None) -> tuple[torch.Tensor, str]:
    """Scale the map for display; returns it with the colour bar label."""
    if normalize is None:
        return data, "Grad-CAM"
    if normalize == "layer":
        peak = data.amax(dim=1, keepdim=True)
        return data / torch.where(
            peak > 0, peak, torch.ones_like(peak)
        ), "Grad-CAM / layer max"
    if normalize == "global":
        peak = float(data.max())
        return data / (peak if peak > 0 else 1.0), "Grad-CAM / map max"
    raise ValueError(f"normalize must be 'layer', 'global' or None, got {normalize!r}.")


# ------------------------------------------------------------ the layers compared


def plot_layer_agreement(rho, title: str = "", path=None):
    """The layer x layer matrix of mean Spearman ρ, annotated, on a signed scale.

    ``rho``: the output of :func:`helpers.gradcam.layer_agreement`. Colours:
    :data:`helpers.highlight.CMAP_SIGNED` from -1 (blue) through 0 (white) to
    1 (red), as chapter 5's agreement between methods; each cell shows its
    value ("–" where no review gives one). Returns the Figure; ``path`` saves
    it (PNG, 150 dpi).
    """
    mean = mean_layer_agreement(rho)
    size = min(7.0, 2.4 + 0.45 * len(mean))
    labels = [str(i) for i in range(len(mean))]
    fig, ax = rho_heatmap(mean, labels, size, rotation=0, small=(9, 8))
    ax.set_xlabel("encoder layer", fontsize=9)
    ax.set_ylabel("encoder layer", fontsize=9)
    ax.set_title(_wrap(title, size), fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _layer_list(layers: Sequence[int]) -> str:
    """``[0, 1, 2, 3, 5]`` -> ``"0–3 and 5"``: runs of three or more as ranges."""
    runs: list[list[int]] = []
    for layer in sorted(layers):
        if runs and layer == runs[-1][-1] + 1:
            runs[-1].append(layer)
        else:
            runs.append([layer])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{run[0]}–{run[-1]}")
        else:
            parts += [str(x) for x in run]
    return listing(parts)


def describe_layer_agreement(rho, threshold: float = 0.3) -> str:
    """One sentence, from the numbers: which layers agree and which stand apart.

    ``rho``: the output of :func:`helpers.gradcam.layer_agreement`. Two layers
    *agree* when their mean ρ exceeds ``threshold``; layers linked by such
    pairs form a group (the sentence gives the range of ρ inside it), and a
    layer that agrees with no other *stands apart* (the sentence gives its
    highest ρ).
    """
    mean = mean_layer_agreement(rho)
    k, n = len(mean), len(rho)
    head = f"Mean Spearman ρ between the layers' maps over {n} reviews"
    if k < 2:
        return f"{head}: the model has one layer, so there is nothing to compare."
    with np.errstate(invalid="ignore"):  # NaN compares False: no agreement
        _, group = connected_components(mean > threshold, directed=False)
    members: dict[int, list[int]] = {}
    for i in range(k):
        members.setdefault(int(group[i]), []).append(i)
    parts = [
        _group_clause(mean, layers, threshold)
        if len(layers) > 1
        else _loner_clause(mean, layers[0])
        for layers in sorted(members.values())
    ]
    body = "; ".join(parts)
    return f"{head} (agreeing: ρ > {threshold:g}): {body}."


def _group_clause(mean, layers: list[int], threshold: float) -> str:
    """The clause on a group of layers linked by pairs with ρ > ``threshold``."""
    inside = [mean[i, j] for i in layers for j in layers if i < j]
    inside = [v for v in inside if not np.isnan(v)]
    spread = f"ρ between them {min(inside):.2f} to {max(inside):.2f}"
    return (
        f"layers {_layer_list(layers)} agree with each other ({spread})"
        if min(inside) > threshold
        else f"layers {_layer_list(layers)} form one group, each agreeing "
        f"with at least one other of them ({spread})"
    )


def _loner_clause(mean, i: int) -> str:
    """The clause on layer ``i``, which agrees with no other layer."""
    others = [v for j, v in enumerate(mean[i]) if j != i and not np.isnan(v)]
    best = f"{max(others):.2f}" if others else "undefined"
    return f"layer {i} stands apart (its highest ρ with another layer is {best})"


def describe_word_maps(
    words: Sequence[str], cam, other, other_name: str, layer_balanced=None
) -> list[str]:
    """Markdown lines read off one sentence's word maps: Grad-CAM and another method.

    ``cam``: Grad-CAM merged onto ``words``, ``[layers, words]`` (layer 0 the
    lowest); ``layer_balanced``: its normalised mean per word, as
    ``"Grad-CAM mean (normalised)"`` computes it (default:
    each row divided by its total, then averaged); ``other``: the other
    method's score per word (signed: the highest counts *for* the class).
    Says which word each reads first, which layers agree with the mean's
    first word, and the Spearman ρ between the two methods' word scores.
    Words and the method's name are escaped and direction-isolated
    (:func:`helpers.escape.isolated`): markdown renders HTML.
    """
    cam = torch.as_tensor(cam, dtype=torch.float64)
    other = torch.as_tensor(other, dtype=torch.float64)
    if cam.shape[-1] != len(words) or other.shape != (len(words),):
        raise ValueError(
            f"{len(words)} words, Grad-CAM {tuple(cam.shape)} and {other_name} "
            f"{tuple(other.shape)}: merge both onto the same words first."
        )
    if layer_balanced is None:
        totals = cam.sum(-1, keepdim=True)
        layer_balanced = (cam / totals.where(totals > 0, 1.0)).mean(0)
    mean = torch.as_tensor(layer_balanced, dtype=torch.float64)
    words, other_name = [isolated(w) for w in words], isolated(other_name)
    first = int(mean.argmax())
    tops = cam.argmax(-1).tolist()
    agree = [layer for layer, top in enumerate(tops) if top == first]
    last = words[tops[-1]]
    lines = [
        f"- {GradCamMean.name} of the {len(cam)} layers: 「{words[first]}」 "
        f"first ({mean[first] / mean.sum():.0%} of the mean)."
        if mean.sum() > 0
        else "- Grad-CAM is zero on every word: no layer points anywhere.",
        f"- Layers whose own first word is 「{words[first]}」: "
        + (f"{len(agree)} of {len(cam)} ({_layer_list(agree)})" if agree else "none")
        + f"; the last layer reads 「{last}」 first.",
    ]
    best = int(other.argmax())
    rho = spearman(mean.numpy(), other.numpy()) if len(words) > 1 else float("nan")
    same = "the same first word as" if best == first else "a different first word from"
    lines.append(
        f"- {other_name}: 「{words[best]}」 first, {same} Grad-CAM's mean; "
        f"Spearman ρ between the two over the {len(words)} words: {rho:.2f}."
    )
    return lines
