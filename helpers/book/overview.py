"""The whole test sample at a glance (chapter 7): where the reviews lie in the
model's [CLS] space, and how accuracy changes with review length.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch

from ..attr.base import fast_attention
from ..data import text_batches
from ..inputs import to_device
from ..models import eval_mode, model_device
from ..stats import wilson_interval


@torch.no_grad()
def cls_vectors(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int = 256,
    batch_size: int = 32,
    return_logits: bool = False,
):
    """``[n, hidden]``: the last layer's vector at the first position (``[CLS]``).

    Texts are cut to ``max_length`` tokens as in training; batches are sorted
    by length; the model runs in eval mode (its mode restored) with the fused
    attention kernel (:func:`helpers.attr.base.fast_attention`). With
    ``return_logits=True`` returns ``(vectors, logits [n, n_labels])`` from the
    same forward pass.
    """
    from tqdm.auto import tqdm

    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty: pass at least one text")
    batches = text_batches(
        tokenizer, texts, max_length=max_length, batch_size=batch_size, warn=False
    )
    device = model_device(model)
    out = torch.zeros(len(texts), model.config.hidden_size)
    logits = torch.zeros(len(texts), model.config.num_labels)
    with eval_mode(model), fast_attention(model):
        for batch in tqdm(batches, desc="[CLS]", leave=False):
            result = model(**to_device(batch.inputs, device), output_hidden_states=True)
            out[batch.rows] = result.hidden_states[-1][:, 0].float().cpu()
            logits[batch.rows] = result.logits.float().cpu()
    return (out, logits) if return_logits else out


def pca_2d(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(points [n, 2], explained [2])``: the first two principal components of
    ``x`` (centred) and the share of the variance each explains. Each component's
    sign is fixed so that its largest loading is positive (reruns agree)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(
            f"need a [n >= 2, features] matrix, got shape {tuple(x.shape)}"
        )
    centred = x - x.mean(0)
    _, s, vt = torch.linalg.svd(centred, full_matrices=False)
    components = vt[:2]
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
    components = components * signs
    variance = s**2
    explained = variance[:2] / variance.sum().clamp_min(1e-12)
    return (centred @ components.T).float(), explained.float()


def plot_cls_projection(
    points,
    labels: Sequence[int],
    correct: Sequence[bool],
    *,
    label_names: Sequence[str] = ("negative", "positive"),
    explained=None,
    title: str = "",
):
    """Two scatter plots of the same 2-D points: by gold label, and right/wrong."""
    import matplotlib.pyplot as plt

    points = np.asarray(points)
    labels, correct = np.asarray(labels), np.asarray(correct, dtype=bool)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True, sharey=True)
    colours = plt.get_cmap("tab10")
    for k, name in enumerate(label_names):
        sel = labels == k
        axes[0].scatter(*points[sel].T, s=12, alpha=0.7, color=colours(k), label=name)
    axes[0].set_title("coloured by gold label")
    axes[1].scatter(*points[correct].T, s=12, alpha=0.4, color="#999", label="right")
    axes[1].scatter(
        *points[~correct].T, s=28, marker="x", color="#c0392b", label="wrong"
    )
    axes[1].set_title("coloured by right / wrong")
    for ax in axes:
        ax.legend(fontsize=9, loc="best")
    pc = ["PC 1", "PC 2"]
    if explained is not None:
        pc = [
            f"PC {i + 1} ({float(e):.0%} of variance)" for i, e in enumerate(explained)
        ]
    for ax in axes:
        ax.set_xlabel(pc[0])
    axes[0].set_ylabel(pc[1])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_by_length(
    lengths: Sequence[int],
    correct: Sequence[bool],
    edges: Sequence[int] = (128, 256, 512),
) -> list[dict]:
    """Accuracy per length bin: one row per bin (``bin``, ``n``, ``accuracy``,
    ``low``, ``high`` = 95 % Wilson interval). ``edges`` split the token counts:
    ``(128, 256, 512)`` gives ``< 128``, ``128–255``, ``256–511``, ``512+``.
    Empty bins are kept with ``n = 0``."""
    lengths, correct = np.asarray(lengths), np.asarray(correct, dtype=bool)
    if len(lengths) != len(correct):
        raise ValueError(f"{len(lengths)} lengths but {len(correct)} right/wrong flags")
    edges = list(edges)
    if edges != sorted(edges) or len(set(edges)) != len(edges):
        raise ValueError(f"edges must increase strictly, got {edges}")
    bounds = [0, *edges, math.inf]
    rows = []
    for lo, hi in itertools.pairwise(bounds):
        sel = (lengths >= lo) & (lengths < hi)
        n, k = int(sel.sum()), int(correct[sel].sum())
        name = (
            f"< {hi}" if lo == 0 else (f"{lo}+" if hi == math.inf else f"{lo}–{hi - 1}")
        )
        low, high = wilson_interval(k, n)
        rows.append(
            {
                "bin": name,
                "n": n,
                "accuracy": k / n if n else math.nan,
                "low": low,
                "high": high,
            }
        )
    return rows


def plot_accuracy_by_length(rows: list[dict], title: str = "", cut: int | None = None):
    """Accuracy per length bin with its 95 % interval and the number of reviews."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    xs = np.arange(len(rows))
    acc = np.array([r["accuracy"] for r in rows], dtype=float)
    err = np.array(
        [[r["accuracy"] - r["low"], r["high"] - r["accuracy"]] for r in rows],
        dtype=float,
    ).T
    ax.bar(xs, acc, color="#9ecae1", edgecolor="#3182bd")
    err = np.clip(np.nan_to_num(err), 0, None)  # rounding can give -1e-17
    ax.errorbar(xs, acc, yerr=err, fmt="none", ecolor="#222", capsize=4)
    for x, r in zip(xs, rows, strict=True):
        ax.text(x, 0.02, f"n={r['n']}", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(xs, [r["bin"] for r in rows])
    ax.set_ylim(0, 1)
    ax.set_xlabel("review length (tokens, before the cut)")
    ax.set_ylabel("accuracy (95 % interval)")
    if cut is not None:
        ax.set_title(
            title or f"accuracy by length; the model reads the first {cut} tokens"
        )
    elif title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
