"""User text on an HTML page: escaped, and direction-isolated.

Every string that comes from a user, a model or a tokenizer (a review, a label
name, a method name) reaches a page through :func:`isolated` (a ``<bdi>``) or,
in an attribute value or a ``<title>``, :func:`isolated_attribute` (U+2068 …
U+2069): ``<script>`` stays text, and a right-to-left override (U+202E) left
open inside it cannot reverse what follows. A title that mixes the package's
words with user text is a :class:`Markup` built with :func:`isolated`.
"""

from __future__ import annotations

import html
import re

#: Each explicit bidi opener (UAX #9) and the control that closes it.
_CLOSER = dict.fromkeys("\u202a\u202b\u202d\u202e", "\u202c") | dict.fromkeys(
    "\u2066\u2067\u2068", "\u2069"
)
_PARAGRAPH_END = re.compile("([\n\r\x1c-\x1e\x85\u2029])")


def _balanced(text: str) -> str:
    """``text`` with every explicit bidi control paired, as UAX #9 pairs them.

    A U+202C or U+2069 with nothing of its own to close (it would close the
    isolate around the text) is dropped; what is left open (U+202A…U+202E,
    U+2066…U+2068) is closed where the text ends, and before each paragraph
    separator (a line break), so no override or isolate reaches past the text.
    """
    out: list[str] = []
    opened: list[str] = []
    for char in text:
        if char in _CLOSER:
            opened.append(char)
        elif char == "\u202c" and not (opened and _CLOSER[opened[-1]] == char):
            continue  # closes no embedding: an isolate (or nothing) is innermost
        elif char == "\u2069" and char not in map(_CLOSER.get, opened):
            continue
        elif char == "\u202c":
            opened.pop()
        elif char == "\u2069":  # closes its isolate and whatever opened inside it
            while _CLOSER[opened.pop()] != char:
                pass
        elif _PARAGRAPH_END.match(char):
            out += [_CLOSER[c] for c in reversed(opened)]
            opened.clear()
        out.append(char)
    return "".join(out + [_CLOSER[c] for c in reversed(opened)])


def escaped(text) -> str:
    """``text`` escaped for HTML, its bidi controls paired, with no isolate of its
    own: for pieces of one text that is isolated as a whole."""
    return html.escape(_balanced(str(text)))


def isolated(text) -> str:
    """``text`` escaped for HTML and direction-isolated (``<bdi>``).

    Every string that comes from a user, a model or a tokenizer (a review, a
    label name, a method name) goes through this before it reaches a page:
    ``<script>`` stays text, and an unclosed right-to-left override inside it
    (U+202E) cannot reverse what follows it: its bidi controls are paired
    (:func:`_balanced`), so a stray U+2069 cannot end the isolate early either.
    """
    return f"<bdi>{escaped(text)}</bdi>"


def isolated_attribute(text) -> str:
    """``text`` escaped for an attribute value or a ``<title>``, direction-isolated.

    Where no ``<bdi>`` element may go, each line of the text is wrapped in
    U+2068 FIRST STRONG ISOLATE and U+2069 POP DIRECTIONAL ISOLATE, after its
    own bidi controls are paired (a stray U+2069 or U+202C inside it is
    dropped, an override or isolate left open is closed), so nothing in it
    turns what follows around; quotes are escaped, so the value cannot close
    its attribute.
    """
    parts = _PARAGRAPH_END.split(_balanced(str(text)))
    lines = [p if i % 2 else f"\u2068{p}\u2069" for i, p in enumerate(parts)]
    return html.escape("".join(lines), quote=True)


class Markup(str):
    """HTML built by the caller, shown as is (titles, summaries).

    For a title that mixes the package's words with user text: wrap each
    user part in :func:`isolated`, e.g. ``Markup(f"predicted {isolated(label)}
    (p = {p:.2f})")``. Any object with an ``__html__`` method (markupsafe's
    ``Markup``) counts the same; any other title is one piece of user text.
    """

    def __html__(self) -> str:
        return str(self)


def markup(text) -> str:
    """``text`` as HTML: a :class:`Markup` as is, anything else :func:`isolated`."""
    return text.__html__() if hasattr(text, "__html__") else isolated(text)
