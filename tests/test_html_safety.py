"""Every HTML producer of the package against hostile text.

A review, the words a tokenizer reads from it, a model's label names
(``id2label``), a method's name, a table's row or a title may hold markup or
an unclosed U+202E RIGHT-TO-LEFT OVERRIDE, even after a stray U+2069 POP
DIRECTIONAL ISOLATE or an isolate of its own left open. Whatever produces HTML
must show them as text (escaped) and keep each inside a ``<bdi>`` (or, in an
attribute or a ``<title>``, where no element fits, between U+2068 FIRST STRONG
ISOLATE and U+2069 POP DIRECTIONAL ISOLATE), so that "p = 0.508" after a label
can never render as "805.0 = p". :func:`bidi_problems` follows the explicit
levels of the Unicode bidi algorithm (UAX #9, rules X1-X8, with a ``<bdi>`` as
the U+2068…U+2069 that CSS puts around it) to find digits shown under an
override and controls left open.

:data:`PRODUCERS` lists them, one entry per public function or method;
:func:`test_every_html_producer_is_listed` fails when a new one appears in
``helpers`` without an entry here.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
from html.parser import HTMLParser

import pytest
from tiny import tiny_bert, tiny_tokenizer

import helpers
from helpers import attention, escape, explorer, highlight
from helpers.attr import GradientXInput
from helpers.book import examples, recipes, report, train_plots
from helpers.explain import explain
from helpers.stats import ConfidenceInterval

RLO = "\u202e"
#: Each hostile string, and the piece of it that marks it in the output (the
#: tokenizer splits a text into words, so the mark is one of its words).
HOSTILE = {
    "script": ("<script>alert(1)</script>", "alert"),
    "img": ("<img src=x onerror=alert(1)>", "alert"),
    "svg": ('"><svg onload=alert(1)>', "alert"),
    "rlo": (f"{RLO}evil", RLO),  # an override left open, then text
    "pdi": (f"abc\u2069{RLO}evil", RLO),  # closes the isolate, then an override
    "rli": (f"\u2067{RLO}evil", RLO),  # an isolate and an override left open
    "pdf": (f"\u202c\u2069\u202c{RLO}evil", RLO),  # closers of nothing, then RLO
}
LIVE = ("<script", "<img", "<svg")
ISOLATE = re.compile("\u2068[^\u2069]*\u2069")
EMBEDDINGS = {"\u202a": None, "\u202b": None, "\u202d": "L", "\u202e": "R"}
ISOLATES = "\u2066\u2067\u2068"
PARAGRAPH_ENDS = "\n\r\x1c\x1d\x1e\x85\u2029"


def bidi_problems(text: str, paragraphs: bool = True) -> list[str]:
    """Digits shown under an override in ``text``, and controls left open at its end.

    The explicit embedding levels of UAX #9 (X1-X8, no overflow): an override
    holds until its U+202C, the end of the isolate it sits in, or the end of
    the paragraph (a line break in an attribute; ``paragraphs=False`` for a
    page's text, where a line break is a space).
    """
    problems: list[str] = []
    stack: list[tuple[str, str | None]] = []  # (opener, override direction)
    for i, char in enumerate(text):
        if char in EMBEDDINGS:
            stack.append((char, EMBEDDINGS[char]))
        elif char in ISOLATES:
            stack.append((char, None))
        elif char == "\u202c" and stack and stack[-1][0] not in ISOLATES:
            stack.pop()
        elif char == "\u2069" and any(c in ISOLATES for c, _ in stack):
            while stack.pop()[0] not in ISOLATES:
                pass
        elif paragraphs and char in PARAGRAPH_ENDS:
            stack.clear()
        elif char.isdigit() and stack and stack[-1][1]:
            problems.append(f"digit under an override at {i} of {text!r}")
    if stack:
        problems.append(f"{text!r} leaves {[c for c, _ in stack]} open")
    return problems


class Page(HTMLParser):
    """Parses a page; ``problems`` lists each place the hostile text escaped."""

    VOID = frozenset({"br", "meta", "img", "hr", "input", "link"})

    def __init__(self, page: str, mark: str):
        super().__init__(convert_charrefs=True)
        self.mark, self.seen, self.problems = mark, 0, []
        self.open: list[list] = []  # [tag, text inside, holds an override]
        self.shown: list[str] = []  # the page's text, a <bdi> as U+2068…U+2069
        self.feed(page)
        self.close()
        self.problems += bidi_problems("".join(self.shown), paragraphs=False)
        if self.open:
            self.problems.append(f"unclosed elements {[t for t, *_ in self.open]}")

    def _isolated_text(self, where: str, value: str) -> None:
        """An attribute or ``<title>``: the mark only between FSI and PDI."""
        if self.mark not in value:
            return
        self.seen += 1
        if self.mark in ISOLATE.sub("", value):
            self.problems.append(f"{where} {value!r} not isolated by U+2068/U+2069")
        for part in ISOLATE.findall(value):
            if RLO in part and re.search(r"\d", part):
                self.problems.append(f"{where}: numbers inside the isolate {part!r}")
        self.problems += [f"{where}: {p}" for p in bidi_problems(value)]

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "img", "svg", "iframe", "object"):
            self.problems.append(f"live <{tag}> element")
        if any(t == "title" for t, *_ in self.open):
            self.problems.append(f"<{tag}> inside <title> shows as text")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler attribute {name}")
            self._isolated_text(f"attribute {name}", value or "")
        if tag not in self.VOID:
            self.open.append([tag, [], False])
        if tag == "bdi":
            self.shown.append("\u2068")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.open.pop()

    def handle_endtag(self, tag):
        if not any(t == tag for t, *_ in self.open):
            self.problems.append(f"</{tag}> closes nothing")
            return
        if tag == "bdi":
            self.shown.append("\u2069")
        while True:
            name, text, override = self.open.pop()
            if name == tag:
                break
            self.problems.append(f"<{name}> closed by </{tag}>")
        if override and re.search(r"\d", "".join(text)):
            self.problems.append(
                f"the <bdi> holding an override holds numbers: {''.join(text)!r}"
            )

    def handle_data(self, data):
        for element in self.open:
            element[1].append(data)
        tags = [t for t, *_ in self.open]
        if "title" in tags:
            self._isolated_text("<title>", data)
            return
        self.shown.append(data)
        if self.mark not in data:
            return
        self.seen += 1
        if "bdi" not in tags:
            self.problems.append(f"{data!r} outside <bdi> (in {tags})")
        elif RLO in data:
            innermost = max(i for i, t in enumerate(tags) if t == "bdi")
            self.open[innermost][2] = True


# --------------------------------------------------------------------- the inputs

SCORES = [0.5, -0.2, 1.0, 0.1, 0.3]


def _tokens(h: str) -> list[str]:
    return ["the", "film", h, "was", "good"]


def _text(h: str) -> str:
    return f"the movie was {h} great"


@functools.cache
def _model(h: str):
    """``(model, tokenizer)``: a tiny 2-label BERT whose label names hold ``h``."""
    labels = {0: f"neg{h}", 1: f"pos{h}"}
    return tiny_bert(id2label=labels, dropout=0.0, perturb=0.05), tiny_tokenizer()


def _method(h: str):
    """Gradient × input under a hostile name (an explainer of the user's own)."""
    method = GradientXInput(_model(h)[0])
    method.name = f"grad{h}"
    return method


@functools.cache
def _explained(h: str, target=None, text: str | None = None):
    model, tokenizer = _model(h)
    text = _text(h) if text is None else text
    return explain(model, tokenizer, text, [_method(h)], target, progress=False)


def _both_targets(render):
    """``render`` of the explanation for each class (one of them not predicted)."""
    return lambda h: "".join(render(_explained(h, t)) for t in (0, 1))


def _review(h: str):
    model, tokenizer = _model(h)
    return attention.explain_review(model, tokenizer, _text(h))


def _render_review(h: str) -> str:
    ra = _review(h)
    views = [{}, {"rollout": True}, {"layer": "all"}, {"head": "grid"}]
    return "".join(
        attention.render_review(ra, true_label=0, name=h, **view) for view in views
    )


def _fragment(h: str) -> str:
    return highlight.highlight_html(_tokens(h), SCORES, title=h, label=h)


def _saved(path_of):
    """A page written to a file by ``path_of(h, path)``, read back."""

    def render(h, tmp_path):
        return path_of(h, tmp_path / "page.html").read_text(encoding="utf-8")

    return render


def _text_explorer(h: str) -> str:
    model, tokenizer = _model(h)
    box = explorer.text_explorer(model, tokenizer, _text(h), [_method(h)])
    first = box.output.value
    box.text.value = f"the film was not {h} good"  # an edit: before and after
    return first + box.output.value


def _attention_explorer(h: str) -> str:
    model, tokenizer = _model(h)
    box = explorer.attention_explorer(model, tokenizer, [(_text(h), 0)])
    first = box.output.value
    box.head.value = "grid"
    return first + box.output.value


def _edit_pair(h: str):
    before = _explained(h)
    after = _explained(h, before.records[0].target, f"the film was not {h} good")
    return before, after


def _predictions(h: str) -> str:
    model, tokenizer = _model(h)
    example = examples.Example(name=h, text=_text(h), label=0, source=h)
    return examples.predictions_html(examples.predictions(model, tokenizer, [example]))


def _misclassified(h: str) -> str:
    row = {"id": h, "text": _text(h), "label": 0, "pred": 1, "confidence": 0.75}
    return train_plots.misclassified_html([row], label_names=(f"neg{h}", f"pos{h}"))


def _table(h: str) -> str:
    row = {"method": h, "comprehensiveness": ConfidenceInterval(0.3, 0.2, 0.4, 9)}
    row[h] = h  # a column of the user's own
    return report.table_html([row], caption=h, columns=["method", h])


def _steps(h: str) -> str:
    row = {
        "step": h,
        "trainable_layers": 1,
        "keep": "head",
        "max_length": 64,
        "lr": 3e-4,
        "schedule": "constant",
        "val_acc": 0.8,
        "n_val": 50,
        "best_epoch": 1,
        "seconds": 12.0,
    }
    return recipes.steps_html([row])


#: ``{qualified name: render(hostile) -> HTML}``: every public function or
#: method that returns (or shows, or writes) HTML. A renderer taking a second
#: argument gets a temporary folder.
PRODUCERS = {
    "helpers.escape.isolated": escape.isolated,
    "helpers.escape.isolated_attribute": lambda h: (
        f'<span title="{escape.isolated_attribute(h)}">x</span>'
    ),
    "helpers.escape.escaped": lambda h: f"<bdi>{escape.escaped(h)}</bdi>",
    "helpers.escape.markup": escape.markup,
    "helpers.highlight.highlight_html": _fragment,
    "helpers.highlight.highlight_rows": lambda h: highlight.highlight_rows(
        [(h, _tokens(h), SCORES), ("mean", _tokens(h), SCORES)], title=h, label=h
    ),
    "helpers.highlight.legend_html": lambda h: highlight.legend_html(
        1.0, True, label=h, note=h
    ),
    "helpers.highlight.collapsible": lambda h: highlight.collapsible(
        _fragment(h), summary=h
    ),
    "helpers.highlight.highlight": lambda h: (
        highlight.highlight(_tokens(h), SCORES, title=h, label=h).data
    ),
    "helpers.highlight.standalone_html": lambda h: highlight.standalone_html(
        _fragment(h), title=h
    ),
    "helpers.highlight.save_html": _saved(
        lambda h, path: highlight.save_html(_fragment(h), path, title=h)
    ),
    "helpers.attr.explanation.TextExplanation.html": lambda h: _review(h).html(
        title=h, label=h
    ),
    "helpers.attention.render_review": _render_review,
    "helpers.explain.Explanation.html": _both_targets(lambda r: r.html()),
    "helpers.explain.Explanation._repr_html_": _both_targets(lambda r: r._repr_html_()),
    "helpers.explain.Explanation.text_html": _both_targets(lambda r: r.text_html(0)),
    "helpers.explain.Explanation.headline": _both_targets(lambda r: r.headline(0)),
    "helpers.explain.Explanation.probability_table": _both_targets(
        lambda r: r.probability_table(0)
    ),
    "helpers.explain.Explanation.highlight": _both_targets(
        lambda r: r.highlight(0, title=r.target[0])
    ),
    "helpers.explain.Explanation.save_html": _saved(
        lambda h, path: _explained(h, 0).save_html(path, title=h)
    ),
    "helpers.explorer.error_html": lambda h: explorer.error_html(h, ValueError(h)),
    "helpers.explorer.comparison_html": lambda h: explorer.comparison_html(
        *_edit_pair(h)
    ),
    "helpers.explorer.edit_gallery": lambda h: explorer.edit_gallery(
        *_model(h), [(_text(h), f"the film was not {h} good")], "grad x input"
    ),
    "helpers.explorer.TextExplorer.explain": _text_explorer,
    "helpers.explorer.AttentionExplorer.refresh": _attention_explorer,
    "helpers.book.examples.predictions_html": _predictions,
    "helpers.book.train_plots.misclassified_html": _misclassified,
    "helpers.book.report.table_html": _table,
    "helpers.book.recipes.steps_html": _steps,
}

#: Names the scan below finds that return no HTML, and why.
NOT_HTML = {
    "helpers.data.imdb.strip_line_breaks": "removes IMDb's line breaks",
}


@pytest.mark.parametrize("case", list(HOSTILE))
@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_hostile_text_is_escaped_and_isolated(producer, case, tmp_path):
    hostile, mark = HOSTILE[case]
    render = PRODUCERS[producer]
    wants_folder = len(inspect.signature(render).parameters) == 2
    page = render(hostile, tmp_path) if wants_folder else render(hostile)
    assert isinstance(page, str)
    assert not [live for live in LIVE if live in page.lower()]
    parsed = Page(page, mark)
    assert parsed.seen, f"the hostile text never reached {producer}'s output"
    assert not parsed.problems, "\n".join(parsed.problems)


def _public(module):
    """``(qualified name, object)`` of the module's own functions and methods."""
    for name, obj in vars(module).items():
        if getattr(obj, "__module__", None) != module.__name__ or name[0] == "_":
            continue
        if inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj
        elif inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if inspect.isfunction(member) and (
                    attr[0] != "_" or attr == "_repr_html_"
                ):
                    yield f"{module.__name__}.{name}.{attr}", member


def test_every_html_producer_is_listed():
    """A public function with "html" in its name or first docstring line is listed."""
    found = set()
    for info in pkgutil.walk_packages(helpers.__path__, "helpers."):
        for qualified, obj in _public(importlib.import_module(info.name)):
            first = (inspect.getdoc(obj) or "").split("\n")[0]
            if "html" in qualified.rsplit(".", 1)[-1].lower() or "HTML" in first:
                found.add(qualified)
    unlisted = found - set(PRODUCERS) - set(NOT_HTML)
    assert not unlisted, f"add these HTML producers to PRODUCERS: {sorted(unlisted)}"
    assert found >= set(NOT_HTML)
    for name in PRODUCERS:  # the list names what helpers has
        assert callable(_resolve(name)), name


def _resolve(qualified: str):
    """The object a qualified name points at (``AttributeError`` if none)."""
    parts = qualified.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise AttributeError(qualified)
