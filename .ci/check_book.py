#!/usr/bin/env python3
"""Open every page of the built book in headless Chromium, offline, and check it.

A page fails on any of:

* a request that is not ``file://`` (``data:`` and ``blob:`` are fine), or a
  local file that does not load;
* a console error or an uncaught page error;
* an image that does not load (``naturalWidth`` 0 once the page has loaded);
* raw TeX left in the visible text (``\\(``, ``\\)``, ``\\[``, ``$$``): MathJax
  did not render it;
* a raw pipe table in the visible text (a paragraph, list item or cell,
  outside code, holding a ``|---|---|`` separator line among lines of
  ``|`` cells): Markdown output that myst-nb rendered as CommonMark, which has
  no tables (:func:`raw_pipe_tables`);
* a code block (``div.cell_input pre``, ``.highlight pre``) that scrolls
  sideways at a 1280 x 900 window: its lines do not fit the text column.
* CJK text (Japanese) not drawn with a bundled webfont: a reader without a
  CJK font would see empty boxes. Every CJK character of the page, visible or
  folded, must be matched by a loaded ``@font-face`` (``document.fonts.load``
  with the element's own font) and be in that font file's character map (read
  with fontTools from the font files the pages requested).

One line per page: ``OK`` or ``FAIL``, the page height in pixels at 1280 x 900
and the reasons. The exit status is 1 when any page fails. Usage::

    python .ci/check_book.py [_build/html] [--screenshots DIR]

Chromium is Debian's (``apt-get install -y chromium``), driven by Playwright's
Python package; ``playwright install`` (a browser download) is never needed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
RAW_TEX = ("\\(", "\\)", "\\[", "$$")
REDIRECT = 'http-equiv="Refresh"'  # index.html only sends the reader to intro.html

# Waits until MathJax (when the page loads it) has typeset the page.
WAIT_FOR_MATHJAX = """async () => {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) { await mj.startup.promise; }
  await document.fonts.ready;
}"""

# Images that do not load; lazy ones are made eager and awaited first.
BROKEN_IMAGES = """async () => {
  const images = Array.from(document.images);
  await Promise.all(images.map((img) => {
    img.loading = "eager";
    return img.decode().catch(() => null);
  }));
  return images.filter((img) => img.naturalWidth === 0)
    .map((img) => img.getAttribute("src"));
}"""

# Visible text (outside code, scripts and rendered math) that still holds TeX.
RAW_TEX_SNIPPETS = """(patterns) => {
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip) || !parent.checkVisibility()) continue;
    const text = node.textContent;
    const at = Math.min(...patterns.map((p) => text.indexOf(p)).filter((i) => i >= 0));
    if (at < Infinity) found.push(text.slice(Math.max(0, at - 20), at + 40).trim());
  }
  return found;
}"""

# The text of every visible block (outside code) that could hold a pipe table.
TEXT_BLOCKS = """() => {
  const skip = "pre, code, script, style, textarea, .highlight";
  const selector = "p, li, dd, dt, td, th, caption, figcaption, blockquote";
  return Array.from(document.querySelectorAll(selector))
    .filter((el) => !el.closest(skip) && el.checkVisibility())
    .map((el) => el.textContent);
}"""

# A table's separator line, ``|---|:---:|`` (outer pipes optional, >= 2 columns).
SEPARATOR_LINE = re.compile(
    r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)+\|?\s*$", re.MULTILINE
)
# The same separator once the line breaks are collapsed: ``| a | |---|---| ...``.
INLINE_SEPARATOR = re.compile(r"\|\s*:?-{3,}:?\s*\|\s*:?-{3,}:?\s*\|")
# A cell with something besides dashes and colons between two pipes.
CELL = re.compile(r"\|[^|\n]*[^\s|:-][^|\n]*\|")


def raw_pipe_tables(blocks: list[str]) -> list[str]:
    """The blocks of text that are Markdown pipe tables left unrendered.

    A block counts when it holds a separator line (``|---|---|``) and another
    line with a ``|``, or the separator inline (its line breaks collapsed).
    Returns the start of each such block (deduplicated, in order).
    """
    found: list[str] = []
    for text in blocks:
        lines = [line for line in text.splitlines() if line.strip()]
        separator = SEPARATOR_LINE.search(text)
        cells = any("|" in line and not SEPARATOR_LINE.match(line) for line in lines)
        inline = INLINE_SEPARATOR.search(text) and CELL.search(text)
        if (separator and cells) or inline:
            head = " ".join(text.split())[:60]
            if head not in found:
                found.append(head)
    return found


# Code blocks whose content is wider than the block: the reader must scroll.
SCROLLED_CODE = """() => {
  const selector = "div.cell_input pre, .highlight pre";
  const blocks = new Set(document.querySelectorAll(selector));
  return Array.from(blocks)
    .filter((pre) => pre.checkVisibility() && pre.scrollWidth > pre.clientWidth + 1)
    .map((pre) => {
      const lines = pre.textContent.split("\\n");
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
      const where = pre.closest("div.cell_output") ? "output" : "code";
      const sizes = `${pre.scrollWidth}>${pre.clientWidth}px`;
      return `${where} ${sizes}: ${longest.trim().slice(0, 60)}`;
    });
}"""


# CJK characters: kana, CJK symbols and punctuation, ideographs (with extension
# A, compatibility and the supplementary planes) and full-width forms. The
# bundled font's unicode-range in _static/book.css covers the same ranges.
CJK = (
    "[\\u3000-\\u303f\\u3040-\\u30ff\\u3400-\\u4dbf\\u4e00-\\u9fff"
    "\\uf900-\\ufaff\\uff00-\\uffef\\u{20000}-\\u{2ffff}]"
)

# Each group of CJK characters that share one element font, with the families
# of the webfonts (@font-face) that draw them once loaded; [] means none does,
# and the characters fall back to whatever the reader's system has.
CJK_FONTS = """async (pattern) => {
  const cjk = new RegExp(pattern, "gu");
  const skip = "script, style, noscript, template";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const byFont = new Map();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    const chars = node.textContent.match(cjk);
    if (!parent || parent.closest(skip) || !chars) continue;
    const s = getComputedStyle(parent);
    const font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    if (!byFont.has(font)) byFont.set(font, new Set());
    chars.forEach((c) => byFont.get(font).add(c));
  }
  const groups = [];
  for (const [font, chars] of byFont) {
    const text = Array.from(chars).join("");
    const faces = await document.fonts.load(font, text);
    const loaded = faces.filter((f) => f.status === "loaded").map((f) => f.family);
    groups.push({ text, families: loaded });
  }
  return groups;
}"""

# Font files the pages requested, and their character maps once read. A font
# that an earlier page loaded may come from the browser's cache without a
# request, so both are kept for the whole run.
FONT_URLS: set[str] = set()
FONT_CMAPS: dict[str, frozenset[int]] = {}


@dataclass
class PageReport:
    """What went wrong on one page, and its height at 1280 x 900."""

    name: str
    height: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        status = "FAIL" if self.problems else "OK  "
        text = f"{status} {self.name:<34} height {self.height:>6} px"
        return text + ("  " + "; ".join(self.problems) if self.problems else "")


def book_pages(root: Path) -> list[Path]:
    """Every HTML page of the book under ``root``, without theme assets (``_*``)."""
    return sorted(
        p
        for p in root.rglob("*.html")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts)
    )


def check_page(context, path: Path, root: Path, screenshots: Path | None) -> PageReport:
    """Load ``path`` in a new tab of ``context`` and collect its problems."""
    report = PageReport(str(path.relative_to(root)))
    page = context.new_page()
    page.on("request", lambda r: _remote(report, r.url))
    page.on("requestfinished", _font_file)
    page.on("requestfailed", lambda r: _failed(report, r))
    page.on("console", lambda m: _console(report, m))
    page.on("pageerror", lambda e: report.problems.append(f"page error: {e}"))
    try:
        url = path.resolve().as_uri()
        page.goto(url, wait_until="load", timeout=60_000)
        if REDIRECT in path.read_text(encoding="utf-8", errors="replace"):
            page.wait_for_url(lambda u: u != url, wait_until="load", timeout=10_000)
        page.evaluate(WAIT_FOR_MATHJAX)
        for src in page.evaluate(BROKEN_IMAGES):
            report.problems.append(f"image does not load: {src}")
        for snippet in page.evaluate(RAW_TEX_SNIPPETS, list(RAW_TEX)):
            report.problems.append(f"raw TeX: {snippet!r}")
        for table in raw_pipe_tables(page.evaluate(TEXT_BLOCKS)):
            report.problems.append(f"raw pipe table: {table!r}")
        for block in page.evaluate(SCROLLED_CODE):
            report.problems.append(f"scrolls sideways: {block}")
        report.problems.extend(cjk_problems(page.evaluate(CJK_FONTS, CJK)))
        report.height = page.evaluate("document.documentElement.scrollHeight")
        if screenshots is not None:
            name = report.name.replace("/", "__").removesuffix(".html") + ".png"
            page.screenshot(path=str(screenshots / name), full_page=True)
    except Exception as err:  # a page that hangs or crashes is a failed page
        report.problems.append(f"{type(err).__name__}: {err}".splitlines()[0])
    finally:
        page.close()
    return report


def cjk_problems(groups: list[dict]) -> list[str]:
    """Problems of a page's CJK text (``CJK_FONTS``'s groups): no webfont, or
    characters that no requested font file has a glyph for (empty boxes)."""
    problems = [
        f"CJK text without a bundled font: {g['text'][:20]!r}"
        for g in groups
        if not g["families"]
    ]
    chars = {ord(c) for g in groups if g["families"] for c in g["text"]}
    if chars:
        covered = frozenset().union(*(_cmap(url) for url in sorted(FONT_URLS)))
        missing = "".join(chr(c) for c in sorted(chars - covered))
        if missing:
            problems.append(
                f"CJK glyphs missing from the bundled font: {missing[:20]!r}"
            )
    return problems


def _cmap(url: str) -> frozenset[int]:
    """Characters of a local font file; none for one fontTools cannot read here
    (the theme's icon fonts are WOFF2, which needs the brotli package)."""
    if url.endswith(".woff2") and importlib.util.find_spec("brotli") is None:
        return frozenset()
    if url not in FONT_CMAPS:
        from fontTools.ttLib import TTFont  # installed with matplotlib

        try:
            with TTFont(unquote(urlparse(url).path), lazy=True) as font:
                FONT_CMAPS[url] = frozenset(font.getBestCmap())
        except (ImportError, OSError):
            FONT_CMAPS[url] = frozenset()
    return FONT_CMAPS[url]


def _font_file(request) -> None:
    if request.resource_type == "font" and request.url.startswith("file:"):
        FONT_URLS.add(request.url)


def _remote(report: PageReport, url: str) -> None:
    if not url.startswith(LOCAL_SCHEMES):
        report.problems.append(f"remote request: {url[:100]}")


def _failed(report: PageReport, request) -> None:
    if request.url.startswith("file:"):
        report.problems.append(f"does not load: {request.url[:100]}")


def _console(report: PageReport, message) -> None:
    if message.type == "error":
        report.problems.append(f"console error: {message.text[:200]}")


def check_book(root: Path, chromium: str, screenshots: Path | None) -> int:
    """Check every page under ``root``; print one line each; return 0 when all pass."""
    from playwright.sync_api import sync_playwright

    pages = book_pages(root)
    if not pages:
        print(f"no HTML pages under {root}: build the book first (make book)")
        return 2
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
    start, failed = time.perf_counter(), 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        context = browser.new_context(viewport=VIEWPORT, offline=True)
        for path in pages:
            report = check_page(context, path, root, screenshots)
            failed += bool(report.problems)
            print(report.line(), flush=True)
        browser.close()
    seconds = time.perf_counter() - start
    print(f"{len(pages)} pages, {failed} failed ({seconds:.0f} s)")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default="_build/html", type=Path)
    parser.add_argument(
        "--screenshots",
        type=Path,
        metavar="DIR",
        help="save a full-page screenshot of every page, 1280 px wide, here",
    )
    parser.add_argument(
        "--chromium",
        default=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        help="the Chromium binary (default: $CHROMIUM or /usr/bin/chromium)",
    )
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"{args.chromium} not found: install it (apt-get install -y chromium)")
        return 2
    if not args.root.is_dir():
        print(f"{args.root} is not a folder: build the book first (make book)")
        return 2
    return check_book(args.root, args.chromium, args.screenshots)


if __name__ == "__main__":
    sys.exit(main())
