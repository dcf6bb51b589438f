"""THE token highlighter of the book: any per-token score as coloured text.

Chapter 3 uses it for attention, chapter 4 for Grad-CAM and chapter 5 for
gradients; every chapter goes through :func:`highlight_html`:

* **colour scales** (:func:`score_to_color`): *sequential* for scores >= 0
  (white = 0, red = ``vmax``; pytorch_advanced's ``rgb(255, 255(1-a), 255(1-a))``)
  and *diverging* for signed scores (blue = ``-vmax``, white = 0,
  red = ``+vmax``). By default the scale is diverging exactly when a score is
  negative, and ``vmax`` is the largest ``|score|`` among the shown tokens.
* **tokens**: reading words from token strings (``##ing``, ``Ġ``, ``▁``) is a
  best guess; the exact words come from the tokenizer
  (:func:`helpers.align.word_map`), shown with ``gaps=``.
* **safety**: every token, title and tooltip is HTML-escaped, styles are inline
  and nothing is loaded from elsewhere (no scripts, fonts or CDNs), so a review
  containing ``<script>`` shows as text. Text from a user, a model or a
  tokenizer is also direction-isolated (:mod:`helpers.escape`), so a
  right-to-left override (U+202E) left open in a review or a label cannot
  reverse the numbers after it. :func:`save_html` writes a standalone file with
  a Content-Security-Policy that forbids scripts and remote loads.
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .escape import escaped, isolated, isolated_attribute, markup
from .tokens import merge_pieces, piece_text, start_marker

_CJK = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff9f\u3000-\u303f]"
)
_NO_SPACE_BEFORE = set(".,!?;:)]}%'’…")
_NO_SPACE_AFTER = set("([{'’$#")
_FONT = "font-family: system-ui, -apple-system, 'Segoe UI', sans-serif"
_ROW_HEAD = (
    "text-align: right; vertical-align: top; padding: 2px 8px; white-space: nowrap; "
    "font-weight: 600; border-bottom: 1px solid #eee"
)
_ROW_CELL = "text-align: left; padding: 2px 4px; border-bottom: 1px solid #eee"
#: A cell of the probability tables (:mod:`helpers.explain`, :mod:`helpers.explorer`).
TABLE_CELL = "padding: 1px 8px; text-align: right; border-bottom: 1px solid #eee"
_BOX = "border: 1px solid #ddd; padding: 4px 6px; background: #fff; color: #000"
_BAR = "border: 1px solid #999; display: inline-flex"
_BLOCK = "line-height: 1.9; margin: 6px 0"
_TITLE = "font-weight: 600; margin-bottom: 2px"

#: Matplotlib colour maps that match the highlights, one per kind of quantity,
#: used by every figure of the book: white → red for scores >= 0 (attention,
#: rollout, Grad-CAM) and blue < 0 < red, centred at 0, for signed scores.
CMAP = "Reds"
CMAP_SIGNED = "RdBu_r"


# --------------------------------------------------------------------------- colours


def _check_vmax(vmax) -> float:
    try:
        vmax = float(vmax)
    except (TypeError, ValueError) as err:
        raise TypeError(f"vmax must be a number, got {vmax!r}.") from err
    if not math.isfinite(vmax) or vmax < 0:
        raise ValueError(f"vmax must be a finite number >= 0, got {vmax!r}.")
    return vmax


def _rgb(score: float, vmax: float, diverging: bool) -> tuple[int, int, int]:
    """The background colour of ``score`` as an ``(r, g, b)`` triple of 0..255."""
    if vmax == 0:
        return 255, 255, 255
    t = min(abs(score) / vmax, 1.0)
    fade = round(255 * (1 - t))
    if diverging and score < 0:
        return fade, fade, 255
    return 255, fade, fade


def score_to_color(score: float, vmax: float, diverging: bool = False) -> str:
    """CSS colour ``"rgb(r, g, b)"`` of a score on the book's colour scale.

    Sequential (``diverging=False``): 0 -> white ``rgb(255, 255, 255)``,
    ``vmax`` (or more) -> red ``rgb(255, 0, 0)``, linear in between. Negative
    scores are not allowed on this scale (``ValueError``: use ``diverging=True``).
    Diverging: ``-vmax`` -> blue ``rgb(0, 0, 255)``, 0 -> white, ``+vmax`` -> red.
    ``vmax = 0`` maps everything to white (the neutral render of all-zero scores).
    """
    score = float(score)
    if not math.isfinite(score):
        raise ValueError(
            f"score is {score}: replace NaN/inf scores before colouring (e.g. "
            "torch.nan_to_num)."
        )
    vmax = _check_vmax(vmax)
    if score < 0 and not diverging:
        raise ValueError(
            f"score {score:g} is negative: pass diverging=True for signed scores."
        )
    return "rgb({}, {}, {})".format(*_rgb(score, vmax, diverging))


def _text_color(rgb: tuple[int, int, int]) -> str:
    """Black, or white on dark backgrounds (full blue), so text stays readable."""
    r, g, b = rgb
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b >= 110 else "#fff"


# ------------------------------------------------------------- scores and tokens


def _as_scores(scores, n_tokens: int | None = None) -> np.ndarray:
    """``scores`` as a float64 NumPy vector, checked: 1-D, finite, one per token."""
    if hasattr(scores, "detach"):  # torch tensor
        scores = scores.detach().float().cpu().numpy()
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            "scores must be numbers (a list, NumPy array or tensor), got "
            f"{type(scores).__name__}."
        ) from err
    if array.ndim != 1:
        raise ValueError(
            "scores must hold one number per token (1-D), got shape "
            f"{tuple(array.shape)}: "
            "pick one row (e.g. one head or layer) or aggregate the others first."
        )
    if n_tokens is not None and array.shape[0] != n_tokens:
        raise ValueError(
            f"{n_tokens} tokens but {array.shape[0]} scores: pass one score per "
            "token, aligned with them "
            "(trim padding from both, e.g. scores[:len(tokens)], or keep [CLS]/[SEP] "
            "in both)."
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise ValueError(
            f"scores contain NaN or inf at position(s) {bad[:10].tolist()}: fix the "
            "computation that "
            "produced them (e.g. a review with no real token) or replace them with "
            "torch.nan_to_num."
        )
    return array


def _check_tokens(tokens) -> list[str]:
    if isinstance(tokens, str):
        raise TypeError(
            "tokens must be a list of token strings, not one string: use "
            "tokenizer.convert_ids_to_tokens(ids)."
        )
    tokens = list(tokens)
    for i, t in enumerate(tokens):
        if not isinstance(t, str):
            raise TypeError(f"token {i} is {type(t).__name__}, not str.")
    return tokens


def _visible_index(tokens: Sequence[str], special_tokens) -> list[int]:
    """Positions of the tokens shown: all but ``special_tokens``."""
    hidden = frozenset(special_tokens or ())
    return [i for i, t in enumerate(tokens) if t not in hidden]


def _is_cjk(token: str) -> bool:
    return bool(_CJK.search(token))


def _separators(tokens: Sequence[str], join: str | None) -> list[str]:
    """Text before each token: ``join``; ``""`` in words, Japanese, punctuation."""
    marker = start_marker(tokens)
    seps = []
    for i, token in enumerate(tokens):
        if i == 0 or (marker is None and piece_text(token) != token):
            seps.append("")
        elif join is not None:
            seps.append(join)
        elif marker is not None:
            seps.append(" " if token.startswith(marker) else "")
        elif (
            _is_cjk(token)
            or _is_cjk(tokens[i - 1])
            or token[0] in _NO_SPACE_BEFORE
            or tokens[i - 1][-1] in _NO_SPACE_AFTER
        ):
            seps.append("")
        else:
            seps.append(" ")
    return seps


# ------------------------------------------------------------------- HTML pieces


def _token_span(
    shown: str, score: float, vmax: float, diverging: bool, label: str
) -> str:
    """One coloured ``<span>``: ``shown`` (escaped here) on the score's colour."""
    rgb = _rgb(score, vmax, diverging)
    tooltip = f"{isolated_attribute(label)}: {score:.3g}"
    style = f"background-color: rgb({rgb[0]}, {rgb[1]}, {rgb[2]})"
    if _text_color(rgb) != "#000":
        style += f"; color: {_text_color(rgb)}"
    text = escaped(shown)
    return f'<span style="{style}" title="{tooltip}">{text}</span>'


def _opening(title) -> str:
    """The highlight's outer ``<div>`` and, when given, its title
    (:func:`helpers.escape.markup`)."""
    head = f'<div class="token-highlight" style="{_FONT}; {_BLOCK}">'
    if not title:
        return head
    return head + f'<div style="{_TITLE}">{markup(title)}</div>'


def _spans(tokens, scores, vmax, diverging, join, label, gaps=None) -> str:
    """The coloured tokens with what goes between them, escaped, in one ``<bdi>``.

    With ``gaps`` (words read by :mod:`helpers.tokens`) the tokens are shown
    verbatim and ``gaps[i]`` (original text) goes before token ``i``. The
    text is isolated as a whole, so it reads in its own direction (a review
    in Arabic right to left) and nothing in it turns what follows around.
    """
    if gaps is None:
        marker = start_marker(tokens)
        seps = _separators(tokens, join)
        shown = [piece_text(t, marker) for t in tokens]
    else:
        seps, shown = list(gaps), list(tokens)
    spans = "".join(
        escaped(sep) + _token_span(t, s, vmax, diverging, label)
        for sep, t, s in zip(seps, shown, scores, strict=True)
    )
    return f"<bdi>{spans}</bdi>"


def _scale(scores: np.ndarray, diverging: bool | None, vmax) -> tuple[bool, float]:
    """``(diverging, vmax)``: the colour scale for these (already visible) scores."""
    has_negative = bool(scores.size) and float(scores.min()) < 0
    if diverging is None:
        diverging = has_negative
    elif has_negative and not diverging:
        raise ValueError(
            "scores contain negative values: pass diverging=True (blue < 0 < red) or "
            "diverging=None."
        )
    if vmax is None:
        vmax = float(np.abs(scores).max()) if scores.size else 0.0
    return bool(diverging), _check_vmax(vmax)


def legend_html(
    vmax: float, diverging: bool = False, label: str = "score", note: str = ""
) -> str:
    """A small colour bar: ``0 .. vmax`` (white to red) or ``-vmax .. 0 .. +vmax``.

    The diverging bar runs blue, white, red.
    """
    vmax = _check_vmax(vmax)
    steps = np.linspace(-1, 1, 21) if diverging else np.linspace(0, 1, 11)
    cells = "".join(
        f'<span style="display: inline-block; width: 10px; height: 12px; '
        f'background-color: rgb({r}, {g}, {b})"></span>'
        for r, g, b in (_rgb(float(s), 1.0, diverging) for s in steps)
    )
    if diverging:
        scale = f"{-vmax:.3g} (blue) &middot; 0 (white) &middot; {vmax:.3g} (red)"
    else:
        scale = f"0 (white) &rarr; {vmax:.3g} (red)"
    text = f'<span style="margin-left: 6px">{isolated(label)}: {scale}</span>'
    extra = (
        f'<span style="margin-left: 6px; font-style: italic">{isolated(note)}</span>'
        if note
        else ""
    )
    return (
        f'<div style="margin-top: 4px; font-size: 0.85em; color: #333">'
        f'<span style="{_BAR}">{cells}</span>{text}{extra}</div>'
    )


def _truncation_marker(truncated, n_tokens: int) -> str:
    if not truncated:
        return ""
    n = n_tokens if truncated is True else int(truncated)
    return (
        f' <span style="color: #a00; font-style: italic; white-space: nowrap">'
        f"&hellip; [truncated at {n} tokens]</span>"
    )


def _check_gaps(gaps, n_tokens: int, merge) -> list[str]:
    gaps = [str(g) for g in _check_tokens(gaps)]
    if len(gaps) != n_tokens:
        raise ValueError(
            f"{len(gaps)} gaps for {n_tokens} tokens: pass the text before each "
            "word (helpers.tokens.WordMap.gaps)."
        )
    if merge is not None:
        raise ValueError(
            "gaps go with whole words (helpers.align.word_map), which are merged "
            "already: pass merge=None."
        )
    return gaps


def _prepare(tokens, scores, merge, special_tokens=(), gaps=None):
    """``(shown tokens, their scores, token count, their gaps or None)``."""
    tokens = _check_tokens(tokens)
    scores = _as_scores(scores, len(tokens))
    n_tokens = len(tokens)
    if gaps is not None:
        gaps = _check_gaps(gaps, n_tokens, merge)
    if merge is not None and gaps is None:
        words, merged = merge_pieces(tokens, scores, special_tokens or (), merge)
        return words, merged.double().numpy(), n_tokens, None
    keep = _visible_index(tokens, special_tokens)
    shown_gaps = None if gaps is None else [gaps[i] for i in keep]
    return [tokens[i] for i in keep], scores[keep], n_tokens, shown_gaps


def _legend(vmax: float, diverging: bool, label: str, merge: str | None) -> str:
    """One highlight's legend, noting all-zero scores and pieces merged into words."""
    notes = ["all scores are 0: nothing is highlighted"] if vmax == 0 else []
    if merge:
        notes.append(f"pieces merged into words ({merge})")
    return legend_html(vmax, diverging, label, "; ".join(notes))


def highlight_html(
    tokens,
    scores,
    *,
    title: str | None = None,
    legend: bool = True,
    diverging: bool | None = None,
    vmax: float | None = None,
    join: str | None = None,
    truncated: bool | int = False,
    merge: str | None = None,
    label: str = "score",
    special_tokens: Iterable[str] = (),
    gaps: Sequence[str] | None = None,
) -> str:
    """An HTML fragment showing ``tokens`` coloured by ``scores`` (inline styles only).

    ``tokens``: the tokenizer's tokens (``convert_ids_to_tokens``), special
    tokens and padding included or not; ``scores``: one number per token (list,
    NumPy array or tensor). ``special_tokens`` are hidden.
    Each token is a ``<span>`` with ``background-color`` and a ``title``
    tooltip holding its score (``"<label>: <score>"``).

    ``diverging``: ``None`` picks the diverging scale when a score is negative.
    ``vmax``: the score shown as full red (default: the largest ``|score|``
    shown; all-zero scores render white with a note). ``join``: text between
    tokens; ``None`` puts spaces between words but none inside words, around
    punctuation or between Japanese (CJK) tokens; ``""`` joins everything.
    ``merge``: ``"max"``/``"sum"``/``"mean"`` merges ``##`` pieces into words
    (:func:`helpers.tokens.merge_pieces`). ``truncated``: ``True`` or the token
    count adds a "… [truncated at N tokens]" marker. ``label`` names the score
    in tooltips and the legend. ``special_tokens``: the token strings to hide,
    the tokenizer's :func:`helpers.tokens.special_tokens` (default: none, e.g.
    for words already without them). ``gaps``: whole words
    from :func:`helpers.align.word_map` are shown as written, with
    ``gaps[i]`` (the original text between words) before word ``i``.
    ``title`` is text (escaped and isolated) or a
    :class:`helpers.escape.Markup`; the text shown sits in one ``<bdi>`` and
    the tooltips' labels in U+2068/U+2069 (:mod:`helpers.escape`).

    Raises ``ValueError`` for NaN/inf scores, a length other than the tokens',
    or negative scores with ``diverging=False``.
    """
    tokens, scores, n_tokens, gaps = _prepare(
        tokens, scores, merge, special_tokens, gaps
    )
    diverging, vmax = _scale(scores, diverging, vmax)
    parts = [_opening(title), f'<div style="{_BOX}">']
    parts.append(_spans(tokens, scores, vmax, diverging, join, label, gaps))
    parts.append(_truncation_marker(truncated, n_tokens))
    parts.append("</div>")
    if legend:
        parts.append(_legend(vmax, diverging, label, merge))
    parts.append("</div>")
    return "".join(parts)


def highlight_rows(
    rows: Iterable[tuple[str, Sequence[str], object]],
    *,
    title: str | None = None,
    legend: bool = True,
    shared_scale: bool = False,
    diverging: bool | None = None,
    join: str | None = None,
    truncated: bool | int = False,
    merge: str | None = None,
    label: str = "score",
    special_tokens: Iterable[str] = (),
    gaps: Sequence[str] | None = None,
) -> str:
    """A table of highlighted texts, one row per ``(row label, tokens, scores)``.

    The per-head grid of chapter 3: each row is normalised by its own maximum
    (pytorch_advanced's view) unless ``shared_scale``, which colours every row on one
    scale (the largest ``|score|`` of all rows). Other arguments as in
    :func:`highlight_html` (``gaps`` applies to every row: rows of the same
    words); the truncation marker goes after each row.
    """
    prepared = [
        (str(name), *_prepare(tokens, scores, merge, special_tokens, gaps))
        for name, tokens, scores in rows
    ]
    if not prepared:
        raise ValueError(
            "rows is empty: pass at least one (label, tokens, scores) row."
        )
    every = np.concatenate([p[2] for p in prepared])
    diverging, shared_vmax = _scale(every, diverging, None)
    body = []
    for name, tokens, scores, n_tokens, row_gaps in prepared:
        vmax = shared_vmax if shared_scale else _scale(scores, diverging, None)[1]
        spans = _spans(tokens, scores, vmax, diverging, join, label, row_gaps)
        marker = _truncation_marker(truncated, n_tokens)
        body.append(
            f'<tr><th style="{_ROW_HEAD}">{isolated(name)}</th>'
            f'<td style="{_ROW_CELL}">{spans}{marker}</td></tr>'
        )
    parts = [_opening(title)]
    parts.append(
        '<table style="border-collapse: collapse; background: #fff; color: #000">'
        + "".join(body)
        + "</table>"
    )
    if legend:
        parts.append(_rows_legend(shared_scale, shared_vmax, diverging, label))
    parts.append("</div>")
    return "".join(parts)


def _rows_legend(shared_scale: bool, vmax: float, diverging: bool, label: str):
    """The legend of :func:`highlight_rows`: one scale, or each row's maximum."""
    if shared_scale:
        return legend_html(vmax, diverging, label, "one scale for all rows")
    note = "each row scaled to its own maximum"
    return legend_html(1.0, diverging, f"{label} / row max", note)


# --------------------------------------------------------------------------- output


_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; script-src 'none'"
)


def standalone_html(
    fragment: str, title: str = "Token highlights", lang: str = "en"
) -> str:
    """A complete HTML page around ``fragment``: UTF-8, inline styles only, and a
    Content-Security-Policy that blocks scripts and every remote load."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html.escape(lang, quote=True)}">\n'
        '<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{isolated_attribute(title)}</title>\n</head>\n"
        f'<body style="{_FONT}; max-width: 60em; margin: 1em auto; padding: 0 1em">\n'
        f'<h1 style="font-size: 1.3em">{isolated(title)}</h1>\n'
        f"{fragment}\n</body>\n</html>\n"
    )


def save_html(
    fragment: str,
    path: str | os.PathLike,
    title: str = "Token highlights",
    lang: str = "en",
) -> Path:
    """Write ``fragment`` (from :func:`highlight_html`/:func:`highlight_rows`) as a
    self-contained HTML file at ``path`` (folders created); returns the path.

    The file needs nothing else to display: styles are inline, and its
    Content-Security-Policy forbids scripts and loads from anywhere.
    """
    if not isinstance(fragment, str):
        raise TypeError(
            "fragment must be the HTML string from highlight_html, got "
            f"{type(fragment).__name__}."
        )
    path = Path(path)
    if path.suffix.lower() not in {".html", ".htm"}:
        raise ValueError(
            f"{path} should end in .html so browsers open it as a web page."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(standalone_html(fragment, title, lang), encoding="utf-8")
    return path


def highlight(tokens, scores, **kwargs):
    """:func:`highlight_html` as ``IPython.display.HTML`` (a cell shows it last)."""
    from IPython.display import HTML

    return HTML(highlight_html(tokens, scores, **kwargs))


def collapsible(fragment: str, summary: str, expanded: bool = False) -> str:
    """``fragment`` in a ``<details>`` block: only ``summary`` shows until clicked.

    Keeps long highlights (a long review, every head) from making a chapter
    page endless; works in Jupyter, in the built book and in
    :func:`save_html` files, without JavaScript. ``summary`` is escaped and
    isolated (or a :class:`helpers.escape.Markup`); ``expanded=True`` starts open.
    """
    if not isinstance(fragment, str):
        raise TypeError(
            "fragment must be an HTML string (from highlight_html or "
            f"highlight_rows), got {type(fragment).__name__}."
        )
    state = " open" if expanded else ""
    return (
        f'<details class="token-highlight-details"{state}>'
        f'<summary style="cursor: pointer; font-weight: 600">'
        f"{markup(summary)}</summary>\n{fragment}\n</details>"
    )
