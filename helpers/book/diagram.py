"""One diagram of BERT and where each explanation method reads its signal.

The top row is the classifier: text → embeddings → encoder layers 0 … N−1 (each
self-attention, then hidden states) → the ``[CLS]`` vector → the head →
P(class). Below it, one row per method: a dot in every place the method reads,
joined by a line; a dashed line marks a signal sent back from P(class)
(a gradient or a relevance). The introduction's
``_static/where_methods_read.svg`` is made by :func:`save`.
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass
from pathlib import Path

#: Columns of the diagram, left to right: (key, label of the top-row box).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("text", "review text"),
    ("emb", "embeddings"),
    ("att0", "attention layer 0"),
    ("hid0", "hidden states layer 0"),
    ("dots", "…"),
    ("attN", "attention layer N−1"),
    ("hidN", "hidden states layer N−1"),
    ("cls", "[CLS] vector → head"),
    ("prob", "P(class)"),
)


@dataclass(frozen=True)
class Method:
    """A diagram row: its ``name``, the ``chapter``, the columns it ``reads``, and
    whether a gradient or relevance comes ``back`` from P(class)."""

    name: str
    chapter: int
    reads: tuple[str, ...]
    back: bool
    note: str


METHODS: tuple[Method, ...] = (
    Method("[CLS] attention", 3, ("attN",), False, "[CLS] row, last layer"),
    Method("attention rollout", 3, ("att0", "dots", "attN"), False, "all layers"),
    Method(
        "Grad-CAM", 4, ("hid0", "dots", "hidN", "prob"), True, "each layer × gradient"
    ),
    Method("grad × input, IG", 5, ("emb", "prob"), True, "embeddings × gradient"),
    Method(
        "grad-weighted rollout",
        6,
        ("att0", "dots", "attN", "prob"),
        True,
        "attention × gradient",
    ),
    Method(
        "CP-LRP, AttnLRP",
        6,
        ("emb", "att0", "hid0", "dots", "attN", "hidN", "cls", "prob"),
        True,
        "relevance, layer by layer",
    ),
    Method(
        "comprehensiveness, sufficiency",
        5,
        ("text", "prob"),
        False,
        "delete words, read P",
    ),
)

#: Width in pixels of the book's text column in a 1280-px window (the SVG is
#: drawn at about this width, so its font sizes are about the pixels shown).
COLUMN_PX = 770
#: Font sizes: method names, the other labels (none smaller).
_NAME_SIZE, _LABEL_SIZE = 14, 13
_LEFT, _COL, _TOP, _BOX_H, _ROW, _LINE = 8, 86, 8, 76, 44, 16
_INK, _GREY, _ACCENT = "#222", "#bbb", "#c0392b"
_FONT = "font-family: system-ui, -apple-system, 'Segoe UI', sans-serif"


def _x(key: str) -> float:
    keys = [k for k, _ in COLUMNS]
    return _LEFT + _COL * keys.index(key) + _COL / 2


def _match(method: Method, highlight: str | None) -> bool:
    if highlight is None:
        return True
    wanted = highlight.lower()
    return any(wanted in part.strip().lower() for part in method.name.split(","))


def _check(highlight: str | None) -> None:
    if highlight is not None and not any(_match(m, highlight) for m in METHODS):
        names = ", ".join(m.name for m in METHODS)
        raise ValueError(
            f"No method {highlight!r} in the diagram; pick one of: {names}"
        )


def _text(
    x, y, s, size=_LABEL_SIZE, anchor="middle", color=_INK, weight="normal"
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{color}" font-weight="{weight}">{html.escape(s)}</text>'
    )


def _wrapped(x: float, y: float, label: str, color: str) -> list[str]:
    lines = textwrap.wrap(label, 10, break_long_words=False, break_on_hyphens=False)
    start = y - _LINE / 2 * (len(lines) - 1)
    return [_text(x, start + _LINE * i, s, color=color) for i, s in enumerate(lines)]


def _top_row() -> list[str]:
    parts = []
    for i, (key, label) in enumerate(COLUMNS):
        x = _x(key)
        if key != "dots":
            fill = "#fdecea" if key.startswith("att") else "#eef3fb"
            parts.append(
                f'<rect x="{x - _COL / 2 + 3:.1f}" y="{_TOP}" width="{_COL - 6}" '
                f'height="{_BOX_H}" rx="6" fill="{fill}" stroke="#888"/>'
            )
        parts += _wrapped(x, _TOP + _BOX_H / 2 + 4, label, _INK)
        if i:
            x0 = _x(COLUMNS[i - 1][0]) + _COL / 2 - 3
            y = _TOP + _BOX_H / 2
            parts.append(
                f'<line x1="{x0:.1f}" y1="{y}" x2="{x0 + 6:.1f}" y2="{y}" '
                f'stroke="#888" marker-end="url(#arrow)"/>'
            )
    return parts


def _method_row(m: Method, y: float, on: bool) -> list[str]:
    color = _ACCENT if on else _GREY
    ink = _INK if on else _GREY
    xs = [_x(k) for k in m.reads]
    weight = "bold" if on else "normal"
    parts = [  # the row's label above its dots: name, then chapter and note
        f'<text x="{_LEFT}" y="{y - 12}" font-size="{_LABEL_SIZE}" fill="{ink}">'
        f'<tspan font-size="{_NAME_SIZE}" font-weight="{weight}">'
        f"{html.escape(m.name)}</tspan>"
        f"{html.escape(f'  ·  chapter {m.chapter}: {m.note}')}</text>"
    ]
    reads = [k for k in m.reads if k != "prob"] if m.back else list(m.reads)
    solid = [_x(k) for k in reads]
    if len(solid) > 1:
        parts.append(
            f'<line x1="{min(solid):.1f}" y1="{y}" x2="{max(solid):.1f}" y2="{y}" '
            f'stroke="{color}" stroke-width="2"/>'
        )
    if m.back:
        parts.append(
            f'<line x1="{max(xs):.1f}" y1="{y}" x2="{min(solid):.1f}" y2="{y}" '
            f'stroke="{color}" stroke-width="2" stroke-dasharray="5 3" '
            f'marker-end="url(#arrow-{"on" if on else "off"})" opacity="0.8"/>'
        )
    for key in m.reads:
        shape = "rect" if key == "prob" and m.back else "circle"
        x = _x(key)
        if shape == "rect":
            parts.append(
                f'<rect x="{x - 6:.1f}" y="{y - 6}" width="12" height="12" '
                f'fill="#fff" stroke="{color}" stroke-width="2"/>'
            )
        else:
            parts.append(f'<circle cx="{x:.1f}" cy="{y}" r="6" fill="{color}"/>')
    return parts


def svg(highlight: str | None = None) -> str:
    """The diagram as a standalone SVG string.

    ``highlight``: a method's name or part of it (``"Grad-CAM"``, ``"rollout"``,
    ``"AttnLRP"``, case-insensitive) to draw that row in colour and the others
    in grey; ``None`` colours every row. An unknown name raises ``ValueError``
    listing the names.
    """
    _check(highlight)
    width = _LEFT + _COL * len(COLUMNS) + 8
    first = _TOP + _BOX_H + 40
    legend_y = first + _ROW * (len(METHODS) - 1) + 34
    height = legend_y + 2 * _LINE + 12
    arrows = "".join(
        f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{color}"/></marker>'
        for name, color in (
            ("arrow", "#888"),
            ("arrow-on", _ACCENT),
            ("arrow-off", _GREY),
        )
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" style="max-width: {width}px; {_FONT}">',
        "<title>Where each explanation method reads its signal</title>",
        f"<defs>{arrows}</defs>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        *_top_row(),
    ]
    for i, m in enumerate(METHODS):
        parts += _method_row(m, first + _ROW * i, _match(m, highlight))
    legend = (
        (_LEFT, legend_y, "●  what the method reads"),
        (_LEFT + width / 2, legend_y, "N  number of layers, numbered 0 … N−1"),
        (
            _LEFT,
            legend_y + _LINE + 4,
            "◻ - - ◀  a gradient or relevance sent back from P(class)",
        ),
    )
    for x, y, item in legend:
        parts.append(_text(x, y, item, anchor="start"))
    parts.append("</svg>")
    return "\n".join(parts)


def show(highlight: str | None = None):
    """The diagram as an ``IPython.display.SVG`` (``highlight`` as in :func:`svg`)."""
    from IPython.display import SVG

    return SVG(svg(highlight))


def save(path, highlight: str | None = None) -> Path:
    """Write the diagram to ``path`` (an ``.svg`` file); returns the path."""
    path = Path(path)
    path.write_text(svg(highlight) + "\n", encoding="utf-8")
    return path
