"""ipywidgets explorers for JupyterLab: a review's attention (chapter 3), and your
own text, explained again after each edit beside the text before it
(:func:`text_explorer`; :func:`edit_gallery` renders the same view for fixed
pairs of texts, for a static page).

**How the two texts of an edit are compared.** Both are explained by the
same method for the same class: the class chosen, or with "predicted" the
class predicted for the text *before* the edit (the question is what the
edit did to the evidence for that verdict). The words are aligned with
``difflib.SequenceMatcher`` on the lower-cased words: a word kept gets
``after - before``; in a run of k words replaced by k words each new word
is compared with the one in its place; any other inserted word counts from
0 (``after - 0``); removed words are listed with their score before. Both
texts are coloured on one scale, the largest ``|score|`` of the two.
"""

from __future__ import annotations

import difflib
import functools
import html
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from torch import nn

from .attention import explain_review, render_review
from .attr import explainers
from .attr.explanation import TextExplanation
from .escape import Markup, isolated
from .explain import DEFAULT_METHODS, check_explainable, explain, resolve_methods
from .highlight import TABLE_CELL, highlight_html, legend_html
from .inputs import label_names as model_label_names
from .models import set_eager_attention
from .tokens import DEFAULT_MERGE

#: The class dropdown's value for "the class the model predicts".
PREDICTED = -1


def error_html(what: str, err: BaseException) -> str:
    """An error shown in a widget: what failed, the exception's type and message.

    Every exception is shown (an ``IndexError`` or out-of-memory as much as a
    ``ValueError``), escaped and isolated, in place of the previous output,
    which would otherwise go on showing an explanation of another text.
    """
    kind = "" if isinstance(err, ValueError | TypeError) else f"{type(err).__name__}: "
    message = f"{html.escape(kind)}{isolated(err)}"
    return f'<div style="color: #a00">{isolated(what)}: {message}</div>'


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
    label_names: Sequence[str] | None = None,
):
    """An ipywidgets explorer of the attention of ``reviews`` (for JupyterLab).

    ``reviews``: a :class:`helpers.data.ReviewSet`, a list of texts, or of
    ``(text, label)`` pairs. ``label_names``: default the model's
    (:func:`helpers.inputs.label_names`). Controls: review, layer, head (mean,
    one head, or the grid of all heads), rollout on/off, subwords or merged
    words. A review's
    attention is computed when it is first shown (a few recent ones are kept).
    Returns an :class:`AttentionExplorer` (an ``ipywidgets.VBox``).
    """
    return AttentionExplorer(
        model, tokenizer, reviews, max_length=max_length, label_names=label_names
    )


class AttentionExplorer(widgets.VBox):
    """The widget of :func:`attention_explorer`; ``.output.value`` is its HTML."""

    cache_size = 4

    def __init__(self, model, tokenizer, reviews, *, max_length=256, label_names=None):
        self.texts, self.labels, self.names = _review_texts(reviews)
        if not self.texts:
            raise ValueError("reviews is empty: pass at least one review.")
        self.model, self.tokenizer = set_eager_attention(model), tokenizer
        if label_names is None:
            label_names = model_label_names(model)
        self.max_length, self.label_names = max_length, list(label_names)
        self._cached = functools.lru_cache(self.cache_size)(self._attention)
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

    def attention(self, index: int) -> TextExplanation:
        """The review's attention, computed on first use, kept for a few reviews."""
        return self._cached(index)

    def _attention(self, index: int) -> TextExplanation:
        return explain_review(
            self.model, self.tokenizer, self.texts[index], self.max_length
        )

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
        except Exception as err:  # shown in place of the stale output, never lost
            self.output.value = error_html("Cannot show this view", err)


# --------------------------------------------------------------------------- your text


def word_differences(
    before_words: Sequence[str],
    before_scores,
    after_words: Sequence[str],
    after_scores,
) -> tuple[torch.Tensor, list[str], list[tuple[str, float]]]:
    """How each word's score changed from ``before`` to ``after`` (the module's rule).

    Returns ``(change [len(after_words)], kind per after word, removed)``:
    ``kind`` is ``"kept"`` (``after - before``), ``"replaced"`` (compared
    with the word in its place) or ``"new"`` (``after - 0``); ``removed``:
    ``(word, score before)`` of the words the edit deleted.
    """
    before_scores = torch.as_tensor(before_scores, dtype=torch.float32).reshape(-1)
    after_scores = torch.as_tensor(after_scores, dtype=torch.float32).reshape(-1)
    change = after_scores.clone()
    kinds = ["new"] * len(after_words)
    removed: list[tuple[str, float]] = []
    matcher = difflib.SequenceMatcher(
        None,
        [w.casefold() for w in before_words],
        [w.casefold() for w in after_words],
        autojunk=False,
    )
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                change[j] = after_scores[j] - before_scores[i]
                kinds[j] = "kept" if op == "equal" else "replaced"
        else:
            removed += [
                (before_words[i], float(before_scores[i])) for i in range(i1, i2)
            ]
    return change, kinds, removed


_COLUMN = "flex: 1 1 22em; min-width: 16em"


def _probability_changes(before, after) -> str:
    """HTML table: each label's probability before, after and the change."""
    head = "".join(
        f'<th style="{TABLE_CELL}">{h}</th>'
        for h in ("class", "before", "after", "change")
    )
    rows = []
    for k, name in enumerate(after.labels):
        p0, p1 = float(before.probs[0, k]), float(after.probs[0, k])
        rows.append(
            f'<tr><td style="{TABLE_CELL}">{isolated(name)}</td>'
            f'<td style="{TABLE_CELL}">{p0:.3f}</td>'
            f'<td style="{TABLE_CELL}">{p1:.3f}</td>'
            f'<td style="{TABLE_CELL}">{p1 - p0:+.3f}</td></tr>'
        )
    return (
        '<table class="probability-change" style="border-collapse: collapse; '
        f'font-size: 0.9em; margin: 4px 0"><tr>{head}</tr>'
        f"{''.join(rows)}</table>"
    )


def _side(result, side: str, method: str, vmax: float) -> str:
    """One column of the comparison: the prediction and the highlighted text."""
    title = Markup(f"{side}: {isolated(method)} for {isolated(result.target[0])}")
    body = result.highlight(0, method, vmax=vmax, title=title, legend=False)
    return f'<div style="{_COLUMN}"><div>{result.headline(0)}</div>{body}</div>'


def _removed_note(removed: list[tuple[str, float]]) -> str:
    if not removed:
        return ""
    words = ", ".join(f"{isolated(w)} ({s:+.3g})" for w, s in removed)
    return (
        '<div style="font-size: 0.85em; color: #555">removed by the edit '
        f"(score before): {words}</div>"
    )


def comparison_html(before, after) -> str:
    """HTML of an edit: two one-text :class:`helpers.explain.Explanation` s.

    Side by side on one colour scale, then each label's probability before,
    after and its change, then the per-word change (:func:`word_differences`)
    on the edited text; removed words are listed. Both must hold one text
    and the same method (the first of ``before``).
    """
    method = before.methods[0]
    scores = (before.scores[method][0], after.scores[method][0])
    vmax = max([float(s.abs().max()) for s in scores if s.numel()] + [0.0])
    change, kinds, removed = word_differences(
        before.words[0], scores[0], after.words[0], scores[1]
    )
    shown = [
        w if k == "kept" else f"{w}*"
        for w, k in zip(after.words[0], kinds, strict=True)
    ]
    diff = highlight_html(
        shown,
        change,
        gaps=after.gaps[0],
        special_tokens=(),
        diverging=True,
        label="after − before",
        title="change per word (after − before; * = new or replaced word)",
    )
    signed = any(bool((s < 0).any()) for s in scores)
    legend = legend_html(vmax, signed, method, "before and after on one scale")
    return (
        '<div class="edit-comparison" style="margin: 0.6em 0 1.2em; color: #000">'
        '<div style="display: flex; flex-wrap: wrap; gap: 1em">'
        f"{_side(before, 'before', method, vmax)}{_side(after, 'after', method, vmax)}"
        f"</div>{legend}{_probability_changes(before, after)}{diff}"
        f"{_removed_note(removed)}</div>"
    )


def explain_pair(model, tokenizer, before_text, after_text, method, target=None, **kw):
    """``(before, after)``: two :class:`helpers.explain.Explanation` s of one text
    each, by ``method`` (a name or an explainer) for the same class: ``target``,
    else the class predicted for ``before_text``. ``kw`` go to
    :func:`helpers.explain.explain` (``max_length=``...)."""
    before = explain(
        model, tokenizer, before_text, [method], target, progress=False, **kw
    )
    after = explain(
        model,
        tokenizer,
        after_text,
        [method],
        before.target[0],
        progress=False,
        **kw,
    )
    return before, after


def edit_gallery(
    model: nn.Module,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    method: str = "AttnLRP",
    target=None,
    max_length: int = 512,
    merge: str = "sum",
    **options,
) -> str:
    """HTML of fixed edits, ``[(text before, text after), ...]``, for a static page.

    Each pair is shown as :class:`TextExplorer` shows an edit
    (:func:`comparison_html`): both texts explained by ``method`` for the
    same class (``target``, or the class predicted before the edit), the
    change in each probability and the per-word difference. ``options`` go
    to :func:`helpers.attr.explainers` (``ig_steps=``...).
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs is empty: pass at least one (before, after) pair.")
    for k, pair in enumerate(pairs):
        if (
            not isinstance(pair, (tuple, list))
            or len(pair) != 2
            or not all(isinstance(t, str) for t in pair)
        ):
            raise TypeError(
                f"pair {k} must be (text before, text after), two strings; got "
                f"{pair!r}."
            )
    (explainer,) = resolve_methods(model, tokenizer, [method], **options).values()
    parts = []
    for k, (before_text, after_text) in enumerate(pairs):
        before, after = explain_pair(
            model,
            tokenizer,
            before_text,
            after_text,
            explainer,
            target,
            max_length=max_length,
            merge=merge,
        )
        parts.append(
            f'<div style="font-weight: 600; margin-top: 0.8em">edit {k + 1}</div>'
            + comparison_html(before, after)
        )
    return "".join(parts)


def text_explorer(
    model: nn.Module,
    tokenizer,
    text: str = "",
    methods=None,
    *,
    max_length: int = 512,
    merge: str = DEFAULT_MERGE,
    **options,
) -> TextExplorer:
    """An explorer you type into: your text, a method, a class (for JupyterLab).

    ``methods``: the names offered (default: every method of
    :func:`helpers.attr.explainers`, AttnLRP selected); ``options`` go to
    that registry (``ig_steps=``...). Press **Explain** (or leave the text
    box) to explain the text; edit it and explain again to see the text
    before the edit beside the new one (see the module docstring for how
    they are compared). Returns a :class:`TextExplorer` (an
    ``ipywidgets.VBox``; ``.output.value`` is its HTML).
    """
    return TextExplorer(
        model,
        tokenizer,
        text,
        methods,
        max_length=max_length,
        merge=merge,
        **options,
    )


class TextExplorer(widgets.VBox):
    """The widget of :func:`text_explorer`.

    Drive it from Python: set ``.text.value``, ``.method.value`` or
    ``.target.value`` (each change explains again), or call :meth:`explain`
    / ``.button.click()``; read ``.output.value``. ``.before`` is the text
    before the last edit (``None`` until the first edit), ``.current`` the
    text explained last.
    """

    cache_size = 8

    def __init__(
        self, model, tokenizer, text="", methods=None, *, max_length=512, **kwargs
    ):
        merge = kwargs.pop("merge", DEFAULT_MERGE)
        check_explainable(model, tokenizer, merge)
        self.model, self.tokenizer = model, tokenizer
        self.settings = {"max_length": max_length, "merge": merge}
        if methods is None:
            self.registry = explainers(model, tokenizer, **kwargs)
        else:
            self.registry = resolve_methods(model, tokenizer, methods, **kwargs)
        names = list(self.registry)
        default = next((m for m in DEFAULT_METHODS if m in names), names[0])
        self.before: str | None = None
        self.current: str | None = None
        self._cached = functools.lru_cache(self.cache_size)(self._explained)
        self.text = widgets.Textarea(
            value=text,
            placeholder="Type a text, then press Explain.",
            continuous_update=False,
            layout=widgets.Layout(width="100%", height="5em"),
        )
        self.button = widgets.Button(description="Explain", button_style="primary")
        self.method = widgets.Dropdown(
            options=names, value=default, description="method"
        )
        names = model_label_names(model)
        self.target = widgets.Dropdown(  # values are class indices; -1 = predicted
            options=[("predicted", PREDICTED)] + [(n, i) for i, n in enumerate(names)],
            value=PREDICTED,
            description="class",
        )
        self.output = widgets.HTML()
        self.button.on_click(lambda _button: self.explain())
        for control in (self.text, self.method, self.target):
            control.observe(self._on_change, names="value")
        super().__init__(
            [
                self.text,
                widgets.HBox([self.button, self.method, self.target]),
                self.output,
            ]
        )
        if text.strip():
            self.explain()

    def _on_change(self, change):
        self.explain()

    def explained(self, text: str, target=None):
        """The :class:`helpers.explain.Explanation` of ``text`` by the chosen method.

        Kept for a few (text, method, class) triples, so switching back is instant.
        """
        return self._cached(text, self.method.value, target)

    def _explained(self, text: str, method: str, target):
        return explain(
            self.model,
            self.tokenizer,
            text,
            [self.registry[method]],
            target,
            progress=False,
            **self.settings,
        )

    def _render(self) -> str:
        wanted = None if self.target.value == PREDICTED else self.target.value
        if self.before is None:
            return self.explained(self.current, wanted).html()
        before = self.explained(self.before, wanted)
        after = self.explained(self.current, before.target[0])
        return comparison_html(before, after)

    def explain(self) -> str:
        """Explain the text in the box (errors shown, escaped); returns the HTML."""
        text = self.text.value
        if not text.strip():
            self.output.value = (
                "<div><i>Type a text above, then press Explain.</i></div>"
            )
            return self.output.value
        if text != self.current:
            self.before, self.current = self.current, text
        try:
            self.output.value = self._render()
        except Exception as err:  # shown in place of the stale output, never lost
            self.output.value = error_html("Cannot explain this text", err)
        return self.output.value
