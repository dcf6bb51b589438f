"""One call that explains any text with any Hugging Face sequence classifier.

::

    from helpers import explain

    result = explain(model, tokenizer, "The plot is thin, but the acting is superb.")
    result                      # in Jupyter: prediction, then each method's highlight
    result.predicted, result.probs
    result.words[0], result.scores["AttnLRP"][0]
    result.save_html("explained.html")

:func:`explain` takes any ``*ForSequenceClassification`` model of the BERT
family (an encoder whose classifier reads the first position) with a fast
tokenizer or a slow one with a word tokenizer, any number of labels, one text
or a list, and returns an :class:`Explanation`: the tokenizer's own words as
written (no special tokens), one score per word for each method, the labels
of ``config.id2label``. Nothing is cut: long texts are read in windows
(:mod:`helpers.windows`).
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .align import require_words
from .attr import Attribution, explainers
from .attr.explanation import TextExplanation
from .data import check_texts
from .escape import isolated
from .highlight import TABLE_CELL, highlight_html, highlight_rows, save_html
from .inputs import label_names, target_tensor
from .models import check_classifier
from .stats import ranked
from .tokens import DEFAULT_MERGE, check_merge
from .windows import encode_long, explain_long, long_words, window_for

#: Chapter 6's recommendation, from its faithfulness benchmark (how far the
#: probability drops when a method's top words are removed) and plausibility
#: (AUPRC against human rationales); ``bench/bench_faithfulness.py`` and
#: ``bench/bench_plausibility.py`` measure them again. The last layer's [CLS]
#: attention is shown beside it as the cheap view of what the classifier's
#: token looks at, which chapter 3 taught to read with care.
DEFAULT_METHODS = ("AttnLRP", "[CLS] attention")

_TEXT_BLOCK = (
    "margin: 0.8em 0 1.2em; padding-top: 0.4em; border-top: 2px solid #ccc; color: #000"
)
_NOTE = "font-size: 0.85em; color: #555; margin: 2px 0"


# --------------------------------------------------------------------------- result


@dataclass
class Explanation:
    """What :func:`explain` returns: one :class:`TextExplanation` per text.

    ``records``: per text, a :class:`helpers.attr.explanation.TextExplanation`
    whose ``tokens`` are the text's words as written (special tokens hidden),
    ``scores`` one tensor ``[n_words]`` per method, ``gaps`` the original
    text before each word and ``windows`` how it was read (``None``: it fit
    in one pass); ``explanation[i]`` is text ``i``'s record. ``labels``: the
    label names in class order (``id2label``); ``window_length``: the content
    tokens per window; ``merge``: how piece scores became word scores. The
    properties give the records' fields as lists over texts.
    """

    records: list[TextExplanation]
    labels: list[str]
    window_length: int = 0
    merge: str = DEFAULT_MERGE

    def __getitem__(self, i: int) -> TextExplanation:
        return self.records[i]

    @property
    def texts(self) -> list[str]:
        """The texts, in order."""
        return [r.text for r in self.records]

    @property
    def probs(self) -> torch.Tensor:
        """Every label's probability per text, ``[n_texts, n_labels]``."""
        return torch.stack([r.probabilities for r in self.records]).float()

    @property
    def predicted(self) -> list[str]:
        """The label predicted for each text."""
        return [self.labels[r.prediction] for r in self.records]

    @property
    def target(self) -> list[str]:
        """The label explained for each text."""
        return [self.labels[r.target] for r in self.records]

    @property
    def words(self) -> list[list[str]]:
        """Per text, its words as written (special tokens hidden)."""
        return [r.tokens for r in self.records]

    @property
    def scores(self) -> dict[str, list[torch.Tensor]]:
        """Per method, one tensor ``[len(words[i])]`` per text."""
        return {m: [r.scores[m] for r in self.records] for m in self.methods}

    @property
    def gaps(self) -> list[list[str]]:
        """Per text, the original text before each word."""
        return [r.gaps or [] for r in self.records]

    @property
    def windows(self) -> list[int]:
        """How many windows each text was read in (1 = it fit)."""
        return [1 if r.windows is None else len(r.windows.spans) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def methods(self) -> list[str]:
        """The methods' names, in the order they were asked for."""
        return self.records[0].methods if self.records else []

    def __repr__(self) -> str:
        return (
            f"Explanation({len(self)} text{'s' if len(self) != 1 else ''}, "
            f"labels={self.labels}, predicted={self.predicted}, "
            f"methods={self.methods})"
        )

    def rows(self) -> list[dict]:
        """One dict per text, method and word: ``pandas.DataFrame(rows())`` is a table.

        Keys: ``text`` (index), ``method``, ``position`` (word index),
        ``word``, ``score``, ``target`` (label explained), ``predicted``.
        """
        out = []
        for method, per_text in self.scores.items():
            for i, scores in enumerate(per_text):
                for j, (word, score) in enumerate(
                    zip(self.words[i], scores.tolist(), strict=True)
                ):
                    out.append(
                        {
                            "text": i,
                            "method": method,
                            "position": j,
                            "word": word,
                            "score": score,
                            "target": self.target[i],
                            "predicted": self.predicted[i],
                        }
                    )
        return out

    def top_words(
        self, i: int = 0, method: str | None = None, k: int = 5, seed: int = 1234
    ) -> list[tuple[str, float]]:
        """The ``k`` highest-scored words of text ``i``, highest first.

        ``method``: default the first one. Equal scores are ordered at random
        (seeded with ``seed``), never by position.
        """
        scores = self.records[i].score(method)
        order = ranked(scores, seed)[:k].tolist()
        return [(self.words[i][j], float(scores[j])) for j in order]

    # ------------------------------------------------------------------ display

    def headline(self, i: int) -> str:
        """One line of HTML: text ``i``'s prediction and the class explained.

        Label names are escaped and isolated (:func:`helpers.escape.isolated`).
        """
        p = float(self.probs[i].max())
        explained = (
            ""
            if self.target[i] == self.predicted[i]
            else f"; explained for <b>{isolated(self.target[i])}</b>"
        )
        return (
            f"predicted <b>{isolated(self.predicted[i])}</b> (p = {p:.3f}){explained}"
        )

    def probability_table(self, i: int) -> str:
        """HTML table: every label's probability for text ``i``."""
        bold = "; font-weight: 700"
        cells = "".join(
            f'<td style="{TABLE_CELL}{bold if name == self.predicted[i] else ""}">'
            f"{isolated(name)}: {float(self.probs[i, k]):.3f}</td>"
            for k, name in enumerate(self.labels)
        )
        return (
            '<table style="border-collapse: collapse; font-size: 0.9em; '
            f'margin: 2px 0"><tr>{cells}</tr></table>'
        )

    def highlight(self, i: int = 0, method: str | None = None, **kwargs) -> str:
        """HTML of text ``i`` highlighted by one method's word scores.

        ``kwargs`` go to :func:`helpers.highlight.highlight_html` (``vmax``,
        ``title``, ``legend``...).
        """
        method = self.methods[0] if method is None else method
        kwargs.setdefault("label", method)
        return highlight_html(
            self.words[i],
            self.scores[method][i],
            gaps=self.gaps[i],
            special_tokens=(),
            **kwargs,
        )

    def _window_note(self, i: int) -> str:
        if self.windows[i] <= 1:
            return ""
        return (
            f'<div style="{_NOTE}">Longer than the model reads at once: read in '
            f"{self.windows[i]} overlapping windows of {self.window_length} tokens, "
            "logits averaged and scores stitched (helpers.windows); nothing "
            "was cut.</div>"
        )

    def text_html(self, i: int) -> str:
        """HTML of text ``i``: prediction, probabilities, one row per method."""
        rows = [(m, self.words[i], self.scores[m][i]) for m in self.methods]
        body = highlight_rows(rows, gaps=self.gaps[i], special_tokens=(), label="score")
        return (
            f'<div class="explanation" style="{_TEXT_BLOCK}">'
            f'<div style="font-weight: 600">text {i + 1}: {self.headline(i)}</div>'
            f"{self.probability_table(i)}{self._window_note(i)}{body}</div>"
        )

    def html(self) -> str:
        """HTML of every text (what Jupyter shows): all user text escaped, isolated."""
        note = (
            f'<div style="{_NOTE}">Word scores: pieces merged by {self.merge}; '
            "each method's row is scaled to its own largest |score|; red = for "
            "the class explained, blue = against it (signed methods).</div>"
        )
        return note + "".join(self.text_html(i) for i in range(len(self)))

    def _repr_html_(self) -> str:
        return self.html()

    def save_html(self, path: str | os.PathLike, title: str = "Explanations") -> Path:
        """A standalone HTML file of :meth:`html` (no scripts, nothing loaded)."""
        return save_html(self.html(), path, title=title)


# --------------------------------------------------------------------------- methods


def resolve_methods(model: nn.Module, tokenizer, methods=None, **options) -> dict:
    """``{name: explainer}`` for ``methods`` (names, explainer objects, or None).

    Names are looked up in :func:`helpers.attr.explainers` (built once, with
    ``options`` such as ``ig_steps=``); an unknown name raises ``ValueError``
    listing the available ones. ``None`` = :data:`DEFAULT_METHODS`.
    """
    if methods is None:
        methods = DEFAULT_METHODS
    if isinstance(methods, (str, Attribution)):
        methods = [methods]
    methods = list(methods)
    if not methods:
        raise ValueError("methods is empty: pass at least one method name.")
    registry = None
    chosen = {}
    for method in methods:
        if isinstance(method, str):
            if registry is None:
                registry = explainers(model, tokenizer, **options)
            if method not in registry:
                raise ValueError(
                    f"unknown method {method!r}: pick from {list(registry)}."
                )
            chosen[method] = registry[method]
        elif isinstance(method, Attribution):
            chosen[method.name] = method
        else:
            raise TypeError(
                "methods must hold method names (helpers.attr.explainers) or "
                f"helpers.attr.Attribution explainers, got {method!r}."
            )
    return chosen


# --------------------------------------------------------------------------- explain


def _explain_one(model, tokenizer, text, explainers, target, window, overlap, merge):
    """One text's :class:`TextExplanation`: word scores of every method."""
    encoding = encode_long(tokenizer, text, window, overlap)
    words = long_words(tokenizer, encoding)
    scores, first = {}, None
    for name, explainer in explainers.items():
        result = explain_long(
            explainer,
            model,
            tokenizer,
            text,
            window=window,
            overlap=overlap,
            target=target if first is None else first.target,
            progress=False,
        )  # every method explains the class the first one explained
        first = result if first is None else first
        scores[name] = words.merge(result.score(), merge)
    return TextExplanation(
        text=encoding.text,
        tokens=words.words,
        scores=scores,
        target=first.target,
        logits=first.logits,
        gaps=words.gaps,
        windows=first.windows if len(encoding.spans) > 1 else None,
    )


def check_explainable(model: nn.Module, tokenizer, merge: str = DEFAULT_MERGE):
    """What every explaining call checks first, each error naming the fix.

    ``model`` is a sequence classifier with a matching ``tokenizer``
    (:func:`helpers.models.check_classifier`), the tokenizer has words to
    align (:func:`helpers.align.require_words`) and ``merge`` is one of
    :data:`helpers.tokens.MERGES`.
    """
    check_classifier(model, tokenizer)
    require_words(tokenizer)
    check_merge(merge)


def explain(
    model: nn.Module,
    tokenizer,
    text_or_texts: str | Sequence[str],
    methods=None,
    target=None,
    max_length: int = 512,
    merge: str = DEFAULT_MERGE,
    *,
    progress: bool = True,
    **options,
) -> Explanation:
    """Explain one text or many with ``methods``; returns an :class:`Explanation`.

    ``model``: a transformers sequence classifier of the BERT family (any
    number of labels); ``tokenizer``: its fast tokenizer, or a slow one
    whose words :func:`helpers.align.align` reads (``BertJapaneseTokenizer``:
    MeCab words, then WordPiece); any other slow one raises ``TypeError``
    saying what is missing. ``methods``: names from
    :func:`helpers.attr.explainers` or explainer objects; default
    :data:`DEFAULT_METHODS`, chapter 6's recommendation.
    ``target``: ``None`` (each text's predicted class), a class index, a label
    name of ``model.config.id2label`` (case-insensitive; an unknown name
    raises ``ValueError`` listing the valid ones), or a list of these, one
    per text. Every method explains the same class for a text.

    ``max_length``: the most tokens the model reads at once (capped by the
    model and tokenizer). Longer texts are not cut: they are read in
    overlapping windows of that length (:func:`helpers.windows.explain_long`;
    the windows' logits are averaged and their scores stitched), and the
    result says how many windows each text took. ``merge``: how a word's
    pieces are combined, ``"sum"`` (the book's rule, :mod:`helpers.tokens`),
    ``"max"`` or ``"mean"``. ``options`` go to the method registry
    (``ig_steps=``, ``seed=``...). The model is switched to eager attention
    and explained in eval mode (its mode is restored).
    """
    from tqdm.auto import tqdm

    check_explainable(model, tokenizer, merge)
    texts = check_texts(text_or_texts)
    names = label_names(model)
    targets = target_tensor(target, len(texts), names)
    window, overlap = window_for(tokenizer, model, max_length)
    chosen = resolve_methods(model, tokenizer, methods, **options)
    results = []
    for i, text in enumerate(
        tqdm(texts, desc="explain", disable=not progress or len(texts) < 2)
    ):
        wanted = None if targets is None else int(targets[i])
        results.append(
            _explain_one(model, tokenizer, text, chosen, wanted, window, overlap, merge)
        )
    n_labels = len(results[0].logits)
    if n_labels != len(names):
        names = label_names(model, n_labels)
    return Explanation(results, labels=names, window_length=window, merge=merge)


# --------------------------------------------------------------------------- module


class _CallableModule(types.ModuleType):
    """``helpers.explain`` is this module *and* callable as :func:`explain`.

    ``from helpers import explain`` may give the module or the function
    depending on what was imported first; calling either explains.
    """

    def __call__(self, *args, **kwargs) -> Explanation:
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
