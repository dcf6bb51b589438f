"""Chapter 4's whole-review section in words and in a figure, from the windowed
explanation of :func:`helpers.windows.explain_long`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..attr.explanation import TextExplanation
from ..escape import isolated
from .plots import BOOK_WIDTH, _finish


def kept_tokens(explanation: TextExplanation) -> int:
    """How many of the text's tokens a cut at the model's limit keeps.

    The first window's length (a window holds as many tokens as the model
    reads), or every token when the text is shorter. Raises ``ValueError``
    for an explanation not made by :func:`helpers.windows.explain_long`.
    """
    if explanation.windows is None:
        raise ValueError(
            "the explanation has no windows: make it with windows.explain_long."
        )
    start, end = explanation.windows.spans[0]
    return min(len(explanation.tokens), end - start)


def describe_long(
    explanation: TextExplanation,
    cut_logits: torch.Tensor,
    label: int | None = None,
    names: Sequence[str] = ("negative", "positive"),
) -> str:
    """Markdown: what cutting at the model's limit loses for this explained text.

    ``explanation``: from :func:`helpers.windows.explain_long` (one method);
    ``cut_logits``: the model's logits ``[n_labels]`` (or ``[1, n_labels]``)
    for the same text cut at the model's limit; ``label``: the true class,
    when known. Says how many tokens the text has and how many the cut keeps,
    the two predictions, and the share of the explanation's positive mass
    that lies beyond the cut.
    """
    cut_logits = torch.as_tensor(cut_logits).float().reshape(-1)
    n = len(explanation.tokens)
    how = explanation.windows
    kept = kept_tokens(explanation)
    cut_p = cut_logits.softmax(-1)
    cut_pred, whole_pred = int(cut_p.argmax()), explanation.prediction
    positive = explanation.score().clamp(min=0)
    total = float(positive.sum())
    beyond = float(positive[kept:].sum()) / total if total > 0 else float("nan")

    def said(pred, probs):
        return f"**{isolated(names[pred])}** (p = {float(probs[pred]):.2f})"

    windows_used = len(how.spans)
    lines = [
        f"The review has {n} tokens (without [CLS]/[SEP]); cut at the model's limit "
        f"it keeps the first {kept} ({kept / n:.0%}).",
        f"Cut: {said(cut_pred, cut_p)}. Whole review in {windows_used} "
        f"window{'s' if windows_used != 1 else ''} of at most {kept} tokens, "
        f"logits pooled by {how.pool}: "
        f"{said(whole_pred, explanation.probabilities)}"
        + (
            f"; the label is **{isolated(names[label])}**."
            if label is not None
            else "."
        ),
    ]
    if n > kept:
        lines.append(
            f"{beyond:.0%} of the explanation's positive mass "
            f"({isolated(explanation.method)}, "
            f"stitched by {how.stitch}) lies in the {n - kept} tokens the cut "
            "drops: "
            + (
                "evidence a truncated explanation could not show."
                if beyond > 0
                else "here the cut loses no highlighted evidence."
            )
        )
    return " ".join(lines)


#: Tokens in the moving mean of :func:`plot_positions`.
SMOOTH = 25


def moving_mean(values, width: int) -> np.ndarray:
    """The mean of each value's ``width`` neighbours (fewer at the ends)."""
    values = np.asarray(values, dtype=float)
    kernel = np.ones(min(width, len(values)))
    total = np.convolve(values, kernel, mode="same")
    return total / np.convolve(np.ones_like(values), kernel, mode="same")


def plot_positions(explanation: TextExplanation, title: str = "", path=None):
    """Each token's score against its position, the model's cut marked.

    ``explanation``: from :func:`helpers.windows.explain_long` (one method,
    its stitched scores). The scores are drawn as one filled curve over the
    token positions (0 = the first token after ``[CLS]``), their
    :func:`moving_mean` over :data:`SMOOTH` tokens as a dark line; a dashed line
    marks the cut at :func:`kept_tokens`, the tokens past it shaded (what a
    truncated explanation cannot show); thin bars under the axis show the
    windows that read the text. Returns the figure, saved to ``path`` if set.
    """
    import matplotlib.pyplot as plt

    kept = kept_tokens(explanation)
    scores = explanation.score().detach().float().numpy()
    n = len(scores)
    x = range(n)
    fig, (ax, lanes) = plt.subplots(
        2,
        1,
        figsize=(BOOK_WIDTH, 3.4),
        sharex=True,
        height_ratios=(4, 1),
    )
    ax.fill_between(x, scores, step="mid", color="tab:red", alpha=0.5, lw=0)
    ax.plot(x, moving_mean(scores, SMOOTH), color="darkred", lw=1.2)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.axvline(kept - 0.5, color="black", ls="--", lw=1.2)
    if kept < n:
        ax.axvspan(kept - 0.5, n - 0.5, color="0.85", zorder=0)
    above = {"transform": ax.get_xaxis_transform(), "va": "bottom", "fontsize": 8}
    ax.text(kept - 0.5, 1.01, f"read when cut: {kept} tokens  ", ha="right", **above)
    if kept < n:
        ax.text(kept - 0.5, 1.01, f"  dropped by the cut: {n - kept}", **above)
    ax.set_ylabel(f"score\n({explanation.method})".replace("$", r"\$"), fontsize=9)
    ax.tick_params(labelsize=8)
    ax.set_xlim(-0.5, n - 0.5)
    for i, (start, end) in enumerate(explanation.windows.spans):
        lanes.plot([start, end - 1], [i % 2] * 2, color="tab:blue", lw=4)
    lanes.set_ylim(-0.7, 1.7)
    lanes.set_yticks([])
    lanes.set_ylabel("windows", fontsize=9)
    lanes.set_xlabel(f"token position in the review (of {n})", fontsize=9)
    lanes.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return _finish(fig, path)
