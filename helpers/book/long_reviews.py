"""Chapter 4's whole-review section in words.

:func:`describe_long` says what cutting a review at the model's limit loses,
from the windowed explanation of :func:`helpers.windows.explain_long` (which
computes; this module words it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..attr.explanation import TextExplanation
from ..highlight import isolated


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
    kept = min(n, how.spans[0][1] - how.spans[0][0])
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
