"""An ipywidgets explorer of a review's attention, for JupyterLab (chapter 3).

:func:`attention_explorer` returns an :class:`AttentionExplorer`: controls for
the review, the layer, the head (mean, one head or the grid of all heads),
rollout on/off and subwords or merged words, above the highlighted review.
It calls :func:`helpers.attention.explain_review` and
:func:`helpers.attention.render_review`; this module only adds the widget.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Sequence

import ipywidgets as widgets
from torch import nn

from .attention import ReviewAttention, explain_review, render_review
from .data import LABEL_NAMES
from .models import set_eager_attention

__all__ = ["AttentionExplorer", "attention_explorer"]


def _review_texts(reviews) -> tuple[list[str], list[int | None], list[str]]:
    """``(texts, labels or None, names)`` from a ReviewSet, texts or (text, label)."""
    if hasattr(reviews, "texts") and hasattr(reviews, "labels"):
        ids = list(getattr(reviews, "ids", [])) or [
            str(i) for i in range(len(reviews.texts))
        ]
        return list(reviews.texts), list(reviews.labels), ids
    if isinstance(reviews, str):
        reviews = [reviews]
    texts, labels = [], []
    for item in reviews:
        text, label = (item, None) if isinstance(item, str) else item
        texts.append(text)
        labels.append(label)
    return texts, labels, [str(i) for i in range(len(texts))]


def attention_explorer(
    model: nn.Module,
    tokenizer,
    reviews,
    *,
    max_length: int = 256,
    label_names: Sequence[str] = LABEL_NAMES,
):
    """An ipywidgets explorer of the attention of ``reviews`` (for JupyterLab).

    ``reviews``: a :class:`helpers.data.ReviewSet`, a list of texts, or of
    ``(text, label)`` pairs. Controls: review, layer, head (mean, one head, or
    the grid of all heads), rollout on/off, subwords or merged words. A review's
    attention is computed when it is first shown (a few recent ones are kept).
    Returns an :class:`AttentionExplorer` (an ``ipywidgets.VBox``).
    """
    return AttentionExplorer(
        model, tokenizer, reviews, max_length=max_length, label_names=label_names
    )


class AttentionExplorer(widgets.VBox):
    """The widget of :func:`attention_explorer`; ``.output.value`` is its HTML."""

    cache_size = 4

    def __init__(
        self, model, tokenizer, reviews, *, max_length=256, label_names=LABEL_NAMES
    ):
        self.texts, self.labels, self.names = _review_texts(reviews)
        if not self.texts:
            raise ValueError("reviews is empty: pass at least one review.")
        self.model, self.tokenizer = set_eager_attention(model), tokenizer
        self.max_length, self.label_names = max_length, label_names
        self._cache: OrderedDict[int, ReviewAttention] = OrderedDict()
        n_layers, n_heads = (
            model.config.num_hidden_layers,
            model.config.num_attention_heads,
        )
        self.review = widgets.Dropdown(
            options=self._review_options(), value=0, description="review"
        )
        self.layer = widgets.IntSlider(
            value=n_layers - 1, min=0, max=n_layers - 1, description="layer"
        )
        self.head = widgets.Dropdown(
            options=[("mean over heads", "mean"), ("all heads (grid)", "grid")]
            + [(f"head {h}", h) for h in range(n_heads)],
            value="mean",
            description="head",
        )
        self.rollout = widgets.Checkbox(value=False, description="rollout (all layers)")
        self.merge = widgets.Dropdown(
            options=[
                ("subword pieces", "none"),
                ("words (max of pieces)", "max"),
                ("words (sum of pieces)", "sum"),
            ],
            value="none",
            description="tokens",
        )
        self.output = widgets.HTML()
        controls = [self.review, self.layer, self.head, self.rollout, self.merge]
        for control in controls:
            control.observe(self._on_change, names="value")
        super().__init__(
            [widgets.HBox(controls[:3]), widgets.HBox(controls[3:]), self.output]
        )
        self.refresh()

    def _review_options(self):
        options = []
        for i, (text, label) in enumerate(zip(self.texts, self.labels, strict=True)):
            tag = "" if label is None else f" [{self.label_names[label]}]"
            snippet = text[:50].replace("\n", " ") + ("…" if len(text) > 50 else "")
            options.append((f"{i}{tag} {snippet}", i))
        return options

    def attention(self, index: int) -> ReviewAttention:
        """The review's attention, computed on first use, kept for a few reviews."""
        if index not in self._cache:
            self._cache[index] = explain_review(
                self.model, self.tokenizer, self.texts[index], self.max_length
            )
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(index)
        return self._cache[index]

    def _on_change(self, change):
        self.refresh()

    def refresh(self) -> None:
        """Recompute the HTML for the current controls (errors shown, escaped)."""
        self.layer.disabled = self.head.disabled = self.rollout.value
        index = self.review.value
        head = None if self.head.value == "mean" else self.head.value
        try:
            self.output.value = render_review(
                self.attention(index),
                layer=self.layer.value,
                head=head,
                rollout=self.rollout.value,
                merge=None if self.merge.value == "none" else self.merge.value,
                true_label=self.labels[index],
                name=f"review {self.names[index]}",
                label_names=self.label_names,
            )
        except (ValueError, TypeError) as err:
            message = html.escape(str(err))
            self.output.value = (
                f'<div style="color: #a00">Cannot show this view: {message}</div>'
            )
