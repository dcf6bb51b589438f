"""One record per explained text: :class:`TextExplanation`.

The attention runner (:func:`helpers.attention.review_attentions`), the
Grad-CAM runner (:func:`helpers.gradcam.gradcam_for_texts`), the windowed
path for long texts (:func:`helpers.windows.explain_long`) and
:func:`helpers.explain.explain` all describe one text the same way: its
tokens, each method's scores aligned with them, the class explained and the
model's logits. What only one of them has is an optional field: the
attention tensor (chapter 3), the windows (long texts), the text between
the words (``explain``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..highlight import highlight_html
from .attention import attention_rollout, cls_attention


@dataclass
class Windowing:
    """How a long text was read (:func:`helpers.windows.explain_long`).

    ``spans``: the windows' ``(start, end)`` over the content tokens;
    ``logits``: each window's logits ``[n_windows, n_labels]``; ``scores``:
    each window's content scores ``[end - start]`` before stitching (after
    normalising); ``pool``/``stitch``: the rules that joined them.
    """

    spans: list[tuple[int, int]]
    logits: torch.Tensor
    scores: list[torch.Tensor]
    pool: str
    stitch: str


@dataclass
class TextExplanation:
    """One text explained: tokens, each method's scores, target and logits.

    ``tokens``: what the scores are aligned with (the tokenizer's tokens
    from the runners, ``[CLS]``/``[SEP]`` included; the content tokens of a
    long text; the words as written from ``explain``); ``scores``:
    ``{method: [n_tokens]}`` (Grad-CAM of every layer: ``[layers,
    n_tokens]``); ``target``: the class explained; ``logits``: ``[n_labels]``
    (pooled over the windows of a long text); ``truncated``: the text was
    cut to the model's limit.

    Optional: ``offsets`` (each token's characters in ``text``), ``gaps``
    (the text before each word), ``windows`` (:class:`Windowing`),
    ``attentions`` (``[layers, heads, n_tokens, n_tokens]``, chapter 3), and
    what the display needs from the tokenizer and model: ``special_tokens``
    (hidden in highlights and figures: :func:`helpers.tokens.special_tokens`;
    ``None`` hides nothing),
    ``cls_token``/``sep_token`` and ``label_names`` (``config.id2label``).
    """

    text: str
    tokens: list[str]
    scores: dict[str, torch.Tensor]
    target: int
    logits: torch.Tensor
    truncated: bool = False
    offsets: list[tuple[int, int]] | None = None
    gaps: list[str] | None = None
    windows: Windowing | None = None
    attentions: torch.Tensor | None = None
    special_tokens: frozenset[str] | None = None
    cls_token: str = "[CLS]"
    sep_token: str = "[SEP]"
    label_names: tuple[str, ...] | None = None

    @property
    def probabilities(self) -> torch.Tensor:
        """Softmax of the logits, ``[n_labels]``."""
        return self.logits.softmax(dim=-1)

    @property
    def prediction(self) -> int:
        """The model's class (argmax of the logits)."""
        return int(self.logits.argmax())

    @property
    def methods(self) -> list[str]:
        """The methods' names, in the order they were run."""
        return list(self.scores)

    @property
    def method(self) -> str:
        """The first method's name (the only one, for the runners)."""
        return self.methods[0]

    def score(self, method: str | None = None) -> torch.Tensor:
        """The scores of ``method`` (default: the first), aligned with ``tokens``."""
        method = self.method if method is None else method
        if method not in self.scores:
            raise ValueError(
                f"method {method!r} was not run: pick from {self.methods}."
            )
        return self.scores[method]

    def html(self, method: str | None = None, **kwargs) -> str:
        """The text highlighted by one method, with :func:`highlight_html`.

        ``kwargs`` go to ``highlight_html`` (``merge="max"``, ``title=``...).
        """
        kwargs.setdefault("label", self.method if method is None else method)
        kwargs.setdefault("special_tokens", self.special_tokens or ())
        return highlight_html(self.tokens, self.score(method), **kwargs)

    # ------------------------------------------------------------ attention (ch. 3)

    def _attention(self) -> torch.Tensor:
        if self.attentions is None:
            raise ValueError(
                "this explanation holds no attention tensor: get one from "
                "helpers.attention.explain_review or review_attentions."
            )
        return self.attentions

    @property
    def n_layers(self) -> int:
        """Number of encoder layers of the attention tensor."""
        return self._attention().shape[0]

    @property
    def n_heads(self) -> int:
        """Number of attention heads per layer."""
        return self._attention().shape[1]

    def cls(self, layer: int = -1, head: int | None = None) -> torch.Tensor:
        """``[n_tokens]``: the ``[CLS]`` row of ``layer``, one head or their mean."""
        rows = cls_attention(self._attention()[None], layer)[0]  # [heads, n]
        if head is None:
            return rows.mean(dim=0)
        if not isinstance(head, int) or not 0 <= head < self.n_heads:
            raise ValueError(
                f"head must be None or an integer in 0..{self.n_heads - 1}, "
                f"got {head!r}."
            )
        return rows[head]

    def rollout(self) -> torch.Tensor:
        """``[n_tokens]``: the ``[CLS]`` row of the rollout over all layers."""
        return attention_rollout(self._attention()[None])[0, 0]
