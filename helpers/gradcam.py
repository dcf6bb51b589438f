"""Grad-CAM on every encoder layer of a BERT classifier (chapter 4).

Grad-CAM (Selvaraju et al., 2017) explains a CNN's decision with the
activations ``A`` of one convolutional layer and the gradient ``g`` of the
target class score with respect to them: each channel ``k`` gets the weight
``w_k = mean over positions of g_k`` and the map is ``ReLU(sum_k w_k A_k)``,
one value per spatial position.

For a transformer encoder layer the "positions" are the tokens and the
"channels" the hidden units, so for layer ``l``, review ``b`` and token ``t``::

    w[b, l, h]  = mean over real tokens s of  d logit[b, c] / d H_l[b, s, h]
    cam[b, l, t] = ReLU( sum_h  w[b, l, h] * H_l[b, t, h] )

with ``H_l`` the output of encoder layer ``l`` and ``c`` the target class.
The method itself is :class:`helpers.attr.GradCam` (all layers with one
forward and one backward pass; padding is left out of the token average and
gets 0). This module is chapter 4's analysis of it:
:func:`gradcam_for_texts` (texts in, per-review maps and tokens out),
:func:`plot_gradcam` (the layers x tokens figure), :func:`layer_agreement`
(how far the layers' maps rank the tokens alike, with
:func:`plot_layer_agreement` and :func:`describe_layer_agreement`). The
independent reference, Captum's ``LayerGradCam`` one layer at a time, is
:func:`helpers.attr.gradcam.captum_layer_gradcam`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn

from .attr.explanation import TextExplanation
from .attr.gradcam import GradCam, normalise_layers
from .data import BookWarning, text_batches
from .highlight import CMAP, CMAP_SIGNED
from .inputs import target_tensor
from .stats import spearman

__all__ = [
    "describe_layer_agreement",
    "describe_layer_statistics",
    "gradcam_for_texts",
    "layer_agreement",
    "layer_mean",
    "layer_statistics",
    "mean_layer_agreement",
    "plot_gradcam",
    "plot_layer_agreement",
    "plot_layer_statistics",
]


# --------------------------------------------------------------------------- texts


def gradcam_for_texts(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    target=None,
    max_length: int = 512,
    batch_size: int = 16,
    progress: bool = True,
) -> list[TextExplanation]:
    """Grad-CAM of every encoder layer for each text, in batches.

    Texts are tokenized with :func:`helpers.data.encode_texts` (an empty text
    raises ``ValueError`` naming its index; texts longer than ``max_length``
    tokens are truncated with a ``TruncationWarning``), sorted by length so a
    batch holds similar lengths (less padding), explained with
    :class:`helpers.attr.GradCam` and returned in the input order. ``target``:
    None (predicted class), an int, or one class per text. Each result is a
    :class:`helpers.attr.explanation.TextExplanation` trimmed to the text's
    real tokens, whose ``scores["Grad-CAM"]`` is ``[n_layers, n_tokens]``.
    """
    from tqdm.auto import tqdm

    texts = [texts] if isinstance(texts, str) else list(texts)
    targets = target_tensor(target, len(texts))
    batches = text_batches(
        tokenizer, texts, max_length=max_length, batch_size=batch_size
    )
    explainer = GradCam(model)
    results: list[TextExplanation | None] = [None] * len(texts)
    for batch in tqdm(
        batches, desc="Grad-CAM", disable=not progress or len(batches) < 2
    ):
        chunk_target = None if targets is None else targets[batch.rows]
        record = explainer.attribute(batch.inputs, target=chunk_target)
        tokens = batch.tokens(tokenizer)
        for row, index in enumerate(batch.rows):
            results[index] = TextExplanation(
                text=texts[index],
                tokens=tokens[row],
                scores={GradCam.name: record.scores[row, :, : batch.lengths[row]]},
                target=int(record.target[row]),
                logits=record.logits[row],
                truncated=batch.truncated[row],
            )
    return results  # type: ignore[return-value]


# --------------------------------------------------------------------------- aggregate


#: The tokens :func:`layer_statistics` counts as special by default: the
#: framing tokens of BERT (``[CLS]``, ``[SEP]``) and RoBERTa (``<s>``, ``</s>``).
FRAMING_TOKENS = ("[CLS]", "[SEP]", "<s>", "</s>")


def layer_statistics(
    results: Sequence[TextExplanation], special_tokens: Sequence[str] = FRAMING_TOKENS
) -> dict[str, torch.Tensor]:
    """Per-layer summaries of many reviews' maps (each a tensor [n_layers]).

    ``special_tokens``: the token strings counted as special (default
    :data:`FRAMING_TOKENS`; for another model pass
    ``helpers.tokens.special_tokens(tokenizer)``).

    ``special_share``: mean over reviews of the share of the layer's Grad-CAM
    mass on special tokens (reviews whose map is all zero are left out; NaN
    when all are); ``all_zero``: fraction of reviews whose map for the layer is
    zero everywhere (the ReLU removed every token); ``peak_token_share``: mean
    share of the mass on the single highest token; ``corr_with_last``: mean
    Pearson correlation over tokens between the layer's map and the last
    layer's (NaN where a map is constant).
    """
    if not results:
        raise ValueError("results is empty: pass the output of gradcam_for_texts.")
    special = set(special_tokens)
    shares, zeros, peaks, corrs = [], [], [], []
    for res in results:
        cam = res.score(GradCam.name).double()
        total = cam.sum(dim=1)
        is_special = torch.tensor([t in special for t in res.tokens], dtype=torch.bool)
        nonzero = total > 0
        safe = torch.where(nonzero, total, torch.ones_like(total))
        nan = torch.full_like(total, float("nan"))
        shares.append(torch.where(nonzero, cam[:, is_special].sum(dim=1) / safe, nan))
        peaks.append(torch.where(nonzero, cam.amax(dim=1) / safe, nan))
        zeros.append((~nonzero).double())
        corrs.append(_row_correlations(cam, cam[-1]))
    return {
        "special_share": torch.stack(shares).nanmean(dim=0),
        "all_zero": torch.stack(zeros).mean(dim=0),
        "peak_token_share": torch.stack(peaks).nanmean(dim=0),
        "corr_with_last": torch.stack(corrs).nanmean(dim=0),
    }


#: The series of :func:`plot_layer_statistics`: marker style and legend. How
#: far each layer's map agrees with the others is a matrix, not a series: see
#: :func:`layer_agreement`.
_STAT_SERIES = {
    "special_share": ("o-", "share of the map on [CLS]/[SEP]"),
    "peak_token_share": ("s-", "share on the single top token"),
    "all_zero": ("^-", "reviews whose map is all zero"),
}


def plot_layer_statistics(stats: dict[str, torch.Tensor], title: str = "", path=None):
    """The per-layer summaries of :func:`layer_statistics` in one figure.

    x: encoder layer (0 = first); y: shares in [0, 1]. A series that is 0 at
    every layer (often "reviews whose map is all zero") is not drawn, since a
    flat line on the axis hides the others; the legend says which were left
    out. Saved to ``path`` when given.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    missing = set(_STAT_SERIES) - set(stats)
    if missing:
        raise ValueError(
            f"stats lacks {sorted(missing)}: pass the output of layer_statistics."
        )
    layers = range(len(stats["special_share"]))
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    handles, skipped = [], []
    for key, (style, label) in _STAT_SERIES.items():
        values = torch.as_tensor(stats[key], dtype=torch.float64)
        if bool((values == 0).all()):
            skipped.append(label)
            continue
        handles += ax.plot(layers, values, style, label=label)
    if skipped:
        note = "not drawn, 0 at every layer: " + "; ".join(skipped)
        handles.append(Line2D([], [], linestyle="none", label=note))
    drawn = [float(v) for line in handles for v in line.get_ydata() if v == v]
    top = min(1.05, max(0.25, 1.25 * max(drawn, default=1.0)))  # small shares: zoom
    ax.set(xlabel="encoder layer (0 = first)", xticks=list(layers), ylim=(-0.02, top))
    ax.set_ylabel("share (0 to 1)")
    ax.set_title(title)
    fig.legend(
        handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False
    )
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _per_layer(values, fmt: str = "{:.2f}") -> str:
    return ", ".join(f"{n}: {fmt.format(v)}" for n, v in enumerate(values))


def _code(token: str) -> str:
    return "`" + token.replace("`", "'") + "`"


def describe_layer_statistics(
    stats: dict[str, torch.Tensor], shown: TextExplanation
) -> list[str]:
    """Four markdown bullets on ``stats``, written from the numbers.

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


def _row_correlations(rows: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of ``rows`` [n, tokens] with ``reference``.

    NaN where a row (or the reference) is constant.
    """
    return torch.corrcoef(torch.cat([rows, reference[None]]))[-1, :-1]


# --------------------------------------------------------------------------- plot


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
    import matplotlib.pyplot as plt

    try:  # Japanese font for token labels; harmless for English
        import japanize_matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the install
        warnings.warn(
            "japanize_matplotlib is not installed: Japanese labels may not render "
            "(pip install japanize-matplotlib).",
            BookWarning,
            stacklevel=2,
        )

    data = torch.as_tensor(cam, dtype=torch.float32).detach().cpu()
    if data.dim() != 2:
        raise ValueError(
            f"cam must be [layers, tokens], got shape {tuple(data.shape)}."
        )
    n_layers, n_tokens = data.shape
    if len(tokens) != n_tokens:
        raise ValueError(f"{len(tokens)} tokens given for a map of {n_tokens} tokens.")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}.")
    data, label = _normalized(data, normalize)
    labels, gaps = list(tokens), []
    if max_tokens is not None and n_tokens > max_tokens:
        keep = _top_positions(data.mean(dim=0), min(top, n_tokens), seed)
        gaps = [j for j, pos in enumerate(keep) if pos > (keep[j - 1] + 1 if j else 0)]
        labels = [("… " if j in gaps else "") + tokens[p] for j, p in enumerate(keep)]
        if keep[-1] < n_tokens - 1:
            labels[-1] += " …"
        data = data[:, keep]
        title = (
            f"{title} (the {len(keep)} of {n_tokens} tokens with the highest mean "
            "over layers, in text order; … = tokens left out)"
        )

    shown = data.shape[1]
    width = min(10.0, max(6.0, 0.15 * shown + 2.4))
    height = max(2.6, 0.3 * n_layers + 2.0)
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(
        data.numpy(),
        cmap=cmap or CMAP,
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
    bar.set_label(label, fontsize=9)
    bar.ax.tick_params(labelsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _wrap(title: str, width_inches: float) -> str:
    """Break a long title into lines that fit the figure (CJK characters count 2)."""
    import textwrap
    import unicodedata

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


# ------------------------------------------------------- the layers compared (ch. 4)


def _top_positions(scores: torch.Tensor, k: int, seed: int) -> list[int]:
    """Positions of the ``k`` highest ``scores``, in text order (ties: seeded)."""
    generator = torch.Generator().manual_seed(seed)
    shuffle = torch.randperm(len(scores), generator=generator)
    order = shuffle[torch.argsort(scores[shuffle], descending=True, stable=True)]
    return sorted(order[:k].tolist())


def layer_mean(
    result: TextExplanation, special_tokens: Sequence[str] = ("[CLS]", "[SEP]")
) -> torch.Tensor:
    """One score per token of one review: the layer-balanced mean, ``[n_tokens]``.

    Each layer's map is first divided by its total over the review's tokens
    that are not in ``special_tokens`` (:func:`normalise_layers`), so every
    layer counts equally (a raw mean is mostly the layer with the largest
    values); special tokens get 0. This is chapter 5's "Grad-CAM mean
    (normalised)" for one review (pass ``tokenizer.all_special_tokens``).
    """
    special = set(special_tokens)
    real = torch.tensor([t not in special for t in result.tokens], dtype=torch.bool)
    cam = result.score(GradCam.name)
    return normalise_layers(cam[None], real[None])[0].mean(dim=0)


def _per_review(cam, real) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pairs (map [layers, n], mask [n]) from a batch tensor or from lists."""
    if isinstance(cam, torch.Tensor) and cam.dim() != 3:
        raise ValueError(
            f"cam must be [batch, layers, seq] or a list of [layers, n] maps, got "
            f"shape {tuple(cam.shape)}."
        )
    cams, reals = list(cam), list(real)
    if len(cams) != len(reals) or not cams:
        raise ValueError(
            f"{len(cams)} maps and {len(reals)} masks: pass one mask per review "
            "(and at least one review)."
        )
    pairs = []
    for b, (c, r) in enumerate(zip(cams, reals, strict=True)):
        c, r = torch.as_tensor(c).detach().cpu(), torch.as_tensor(r).cpu().bool()
        if c.dim() != 2 or r.shape != (c.shape[1],) or c.shape[0] != len(cams[0]):
            raise ValueError(
                f"review {b}: map {tuple(c.shape)} and mask {tuple(r.shape)} do not "
                "fit: each map is [layers, n] (same layers for all), its mask [n]."
            )
        pairs.append((c, r))
    return pairs


def layer_agreement(cam, real):
    """Spearman ρ between every two layers' maps, review by review.

    ``cam``: maps ``[batch, n_layers, seq]``, or a list of one ``[n_layers, n]``
    map per review (``[r.score() for r in results]``); ``real``: boolean masks of
    the tokens compared, ``[batch, seq]`` or a list of ``[n]`` (chapter 5
    compares the real tokens: attended to and not special). Returns a NumPy
    array ``[batch, n_layers, n_layers]``: entry ``[b, i, j]`` is the Spearman
    correlation (ranks, ties averaged: :func:`helpers.stats.spearman`, as
    chapter 5's agreement between methods) of layers ``i`` and ``j`` over review
    ``b``'s compared tokens; NaN where one of the two maps is constant there (an
    all-zero row, say); 1 on the diagonal. Average over reviews with
    :func:`mean_layer_agreement`.
    """
    import numpy as np

    pairs = _per_review(cam, real)
    n_layers = pairs[0][0].shape[0]
    out = np.ones((len(pairs), n_layers, n_layers))
    for b, (c, r) in enumerate(pairs):
        rows = c[:, r].double().numpy()
        for i in range(n_layers):
            for j in range(i + 1, n_layers):
                out[b, i, j] = out[b, j, i] = spearman(rows[i], rows[j])
    return out


def mean_layer_agreement(rho):
    """Mean over reviews of :func:`layer_agreement` (NaN left out): ``[N, N]``.

    An entry that is NaN for every review stays NaN (without a warning).
    """
    import numpy as np

    rho = np.asarray(rho, dtype=float)
    if rho.ndim != 3 or rho.shape[1] != rho.shape[2]:
        raise ValueError(
            f"rho must be [batch, layers, layers] (layer_agreement), got {rho.shape}."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN entries: NaN
        return np.nanmean(rho, axis=0)


def plot_layer_agreement(rho, title: str = "", path=None):
    """The layer x layer matrix of mean Spearman ρ, annotated, on a signed scale.

    ``rho``: the output of :func:`layer_agreement`. Colours:
    :data:`helpers.highlight.CMAP_SIGNED` from -1 (blue) through 0 (white) to
    1 (red), as chapter 5's agreement between methods; each cell shows its
    value ("–" where no review gives one). Returns the Figure; ``path`` saves
    it (PNG, 150 dpi).
    """
    import matplotlib.pyplot as plt
    import numpy as np

    mean = mean_layer_agreement(rho)
    k = len(mean)
    size = min(7.0, 2.4 + 0.45 * k)
    fig, ax = plt.subplots(figsize=(size, size * 0.82))
    image = ax.imshow(mean, cmap=CMAP_SIGNED, vmin=-1, vmax=1)
    ticks = [str(i) for i in range(k)]
    ax.set_xticks(range(k), ticks, fontsize=9)
    ax.set_yticks(range(k), ticks, fontsize=9)
    ax.set_xlabel("encoder layer", fontsize=9)
    ax.set_ylabel("encoder layer", fontsize=9)
    for i in range(k):
        for j in range(k):
            value = mean[i, j]
            ax.text(
                j,
                i,
                "–" if np.isnan(value) else f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=9 if k <= 8 else 8,
                color="white" if abs(value) > 0.6 else "black",
            )
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("mean Spearman ρ", fontsize=9)
    bar.ax.tick_params(labelsize=8)
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
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def describe_layer_agreement(rho, threshold: float = 0.3) -> str:
    """One sentence, from the numbers: which layers agree and which stand apart.

    ``rho``: the output of :func:`layer_agreement`. Two layers *agree* when
    their mean ρ exceeds ``threshold``; layers linked by such pairs form a
    group (the sentence gives the range of ρ inside it), and a layer that
    agrees with no other *stands apart* (the sentence gives its highest ρ).
    """
    import numpy as np
    from scipy.sparse.csgraph import connected_components

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
    parts = []
    for layers in sorted(members.values()):
        if len(layers) > 1:
            inside = [mean[i, j] for i in layers for j in layers if i < j]
            inside = [v for v in inside if not np.isnan(v)]
            spread = f"ρ between them {min(inside):.2f} to {max(inside):.2f}"
            parts.append(
                f"layers {_layer_list(layers)} agree with each other ({spread})"
                if min(inside) > threshold
                else f"layers {_layer_list(layers)} form one group, each agreeing "
                f"with at least one other of them ({spread})"
            )
        else:
            (i,) = layers
            others = [v for j, v in enumerate(mean[i]) if j != i and not np.isnan(v)]
            best = f"{max(others):.2f}" if others else "undefined"
            parts.append(
                f"layer {i} stands apart (its highest ρ with another layer is {best})"
            )
    body = "; ".join(parts)
    return f"{head} (agreeing: ρ > {threshold:g}): {body}."
