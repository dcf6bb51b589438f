"""The book's configuration: an offline site without script errors.

The chapters are executed by `make book`; here the book is built *without*
execution (seconds) in a temporary copy, which is enough to check what the
theme, MathJax and the widget manager put into every page. Where Chromium and
Playwright are installed (CI installs both), the browser check of
``.ci/check_book.py`` runs on that build too.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REMOTE = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["'](?:https?:)?//""",
    re.I,
)
# The book's own files at the top level (besides _static/ and notebooks/).
BOOK_FILES = (
    "_config.yml",
    "_toc.yml",
    "intro.md",
    "api.md",
    "checklist.md",
    "glossary.md",
    "references.md",
    "references.bib",
)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
needs_browser = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or importlib.util.find_spec("playwright") is None,
    reason="Chromium or Playwright missing (apt-get install chromium; [book] extra)",
)


def _jupyter_book() -> Path:
    path = Path(sys.executable).with_name("jupyter-book")
    if not path.exists():
        pytest.skip("jupyter-book is not installed (install the [book] extra)")
    return path


def _build(book: Path, warnings_are_errors: bool = True):
    command = [str(_jupyter_book()), "build", str(book), "--builder", "html"]
    if warnings_are_errors:
        command.append("--warningiserror")
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    book = tmp_path_factory.mktemp("book")
    for name in BOOK_FILES:
        shutil.copy(ROOT / name, book / name)
    shutil.copytree(ROOT / "_static", book / "_static")
    shutil.copytree(ROOT / "_ext", book / "_ext")
    shutil.copytree(
        ROOT / "notebooks",
        book / "notebooks",
        ignore=shutil.ignore_patterns("*.py", ".ipynb_*"),
    )
    config = book / "_config.yml"
    text = config.read_text()
    assert "execute_notebooks: force" in text, "the book must execute its chapters"
    config.write_text(
        text.replace("execute_notebooks: force", 'execute_notebooks: "off"')
    )
    proc = _build(book)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return book / "_build" / "html"


def test_api_reference_has_a_section_per_public_module(built_book):
    import pkgutil

    import helpers

    page = (built_book / "api.html").read_text()
    modules = [m.name for m in pkgutil.walk_packages(helpers.__path__, "helpers.")]
    assert len(modules) > 20
    for module in modules:
        assert f'id="module-{module}"' in page, f"{module} missing from api.md"
    # autodoc rendered the docstrings, not only the headings
    assert "gradcam_for_texts" in page


def test_every_chapter_has_a_page(built_book):
    assert (built_book / "index.html").exists()
    notebooks = ROOT / "notebooks"
    scripts = [*notebooks.glob("[0-9][0-9]_*.py"), *notebooks.glob("appendix_*.py")]
    for script in sorted(scripts):
        assert (built_book / "notebooks" / f"{script.stem}.html").exists(), script.stem


def test_no_page_loads_anything_from_the_network(built_book):
    pages = sorted(built_book.rglob("*.html"))
    assert pages
    remote = {
        str(p.relative_to(built_book)): REMOTE.findall(p.read_text(encoding="utf-8"))
        for p in pages
    }
    assert not {k: v for k, v in remote.items() if v}, "pages load remote resources"


def test_mathjax_is_served_locally(built_book):
    # chapter 3 has display math: its page must point at the bundled MathJax,
    # and the file must exist
    page = (built_book / "notebooks" / "03_attention.html").read_text(encoding="utf-8")
    sources = re.findall(
        r"""<script[^>]*src=["']([^"']*mathjax[^"']*)["']""", page, re.I
    )
    assert sources and all(not s.startswith(("http", "//")) for s in sources), sources
    assert (built_book / "notebooks" / sources[0].split("?")[0]).resolve().exists()


def test_pages_declare_no_script_twice_and_set_a_theme_mode(built_book):
    # the two JavaScript errors Chromium reported on every page before the fix
    page = (built_book / "notebooks" / "01_data.html").read_text(encoding="utf-8")
    inline = " ".join(re.findall(r"<script>(.*?)</script>", page, re.S))
    declared = re.findall(r"\b(?:const|let)\s+(\w+)", inline)
    assert len(declared) == len(set(declared)), f"declared twice: {declared}"
    assert "THEBE_JS_URL" not in page
    assert 'data-default-mode="light"' in page
    assert "book.css" in page, "_static/book.css (88-column code cells) not loaded"


def test_a_cell_that_raises_fails_the_build(tmp_path):
    import nbformat

    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    shutil.copy(ROOT / "references.bib", tmp_path / "references.bib")  # bibtex
    shutil.copytree(ROOT / "_ext", tmp_path / "_ext")  # cjk_font
    toc = "format: jb-book\nroot: intro\nchapters:\n  - file: chapter\n"
    (tmp_path / "_toc.yml").write_text(toc)
    (tmp_path / "intro.md").write_text("# Intro\n")
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Chapter"),
            nbformat.v4.new_code_cell("raise RuntimeError('a chapter broke')"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(notebook, tmp_path / "chapter.ipynb")
    proc = _build(tmp_path, warnings_are_errors=False)
    assert proc.returncode != 0
    assert "a chapter broke" in proc.stdout + proc.stderr


def _check_book(*args: str):
    return subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "check_book.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@needs_browser
def test_browser_check_passes_on_the_built_pages(built_book, tmp_path):
    proc = _check_book(str(built_book), "--screenshots", str(tmp_path))
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert any(line.startswith("OK   notebooks/03_attention.html") for line in lines)
    shots = sorted(p.name for p in tmp_path.glob("*.png"))
    assert "notebooks__01_data.png" in shots and "index.png" in shots


@needs_browser
def test_browser_check_reports_every_kind_of_failure(tmp_path):
    (tmp_path / "bad.html").write_text(
        '<html><head><script src="https://example.com/x.js"></script></head><body>'
        "<p>Raw \\(x^2\\) here.</p><img src='missing.png'>"
        "<p>| review | IG: top 3 words deleted |\n|---|---|\n| gem | bad |</p>"
        '<div class="cell_input"><pre style="width: 200px; overflow: auto">'
        + "x"
        * 200
        + "</pre></div>"
        "<script>const A = 1;</script><script>const A = 2;</script>"
        "<script>console.error('boom')</script></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "good.html").write_text(
        "<html><body><p>fine | a pipe</p><pre>| a | b |\n|---|---|</pre>"
        "<table><tr><td>|</td><td>---</td></tr></table></body></html>"
    )
    proc = _check_book(str(tmp_path))
    assert proc.returncode == 1
    bad = next(line for line in proc.stdout.splitlines() if "bad.html" in line)
    assert bad.startswith("FAIL")
    for reason in (
        "remote request: https://example.com/x.js",
        "image does not load: missing.png",
        "raw TeX",
        "raw pipe table: '| review | IG: top 3 words deleted | |---|---|",
        "scrolls sideways: code",
        "page error: Identifier 'A' has already been declared",
        "console error: boom",
    ):
        assert reason in bad, reason
    assert any(line.startswith("OK   good.html") for line in proc.stdout.splitlines())


def _bundled_font() -> Path:
    spec = importlib.util.find_spec("japanize_matplotlib")
    if spec is None:
        pytest.skip("japanize-matplotlib (the book's Japanese font) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "fonts" / "ipaexg.ttf"


def _cjk_page(text: str, font_face: bool = True) -> str:
    face = '@font-face { font-family: "T"; src: url("fonts/ipaexg.ttf"); }'
    return (
        f"<html><head><style>{face if font_face else ''}"
        'body { font-family: "T", sans-serif; }</style></head>'
        f"<body><p>Japanese: {text}</p></body></html>"
    )


@needs_browser
def test_browser_check_fails_on_cjk_text_the_bundled_font_does_not_draw(tmp_path):
    (tmp_path / "fonts").mkdir()
    shutil.copy(_bundled_font(), tmp_path / "fonts" / "ipaexg.ttf")
    pages = {
        "a_good.html": _cjk_page("私は不運な人間です。"),
        "b_good_again.html": _cjk_page("ポジティブ"),  # the font from the cache
        "c_no_font.html": _cjk_page("私は不運な人間です。", font_face=False),
        "d_missing_glyph.html": _cjk_page("丄は IPAexGothic にない"),
    }
    for name, html in pages.items():
        (tmp_path / name).write_text(html, encoding="utf-8")
    proc = _check_book(str(tmp_path))
    lines = {line.split()[1]: line for line in proc.stdout.splitlines()[:-1]}
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert lines["a_good.html"].startswith("OK"), lines["a_good.html"]
    assert lines["b_good_again.html"].startswith("OK"), lines["b_good_again.html"]
    assert (
        "CJK text without a bundled font: '私は不運な人間です。'"
        in lines["c_no_font.html"]
    )
    missing = lines["d_missing_glyph.html"]
    assert "CJK glyphs missing from the bundled font: '丄'" in missing, missing


@needs_browser
def test_japanese_highlights_in_the_book_are_drawn_with_the_bundled_font(tmp_path):
    """helpers.highlight writes its own font stack inline; the book's stylesheet
    must still put the bundled CJK font first there, or Japanese shows as boxes."""
    from helpers.highlight import highlight_html

    (tmp_path / "fonts").mkdir()
    shutil.copy(_bundled_font(), tmp_path / "fonts" / "ipaexg.ttf")
    shutil.copy(ROOT / "_static" / "book.css", tmp_path / "book.css")
    body = highlight_html(["私は", "不運", "な", "人間", "です", "。"], [0.1] * 6)
    page = (
        '<html><head><link rel="stylesheet" href="book.css"></head>'
        f"<body>{body}</body></html>"
    )
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    proc = _check_book(str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _check_book_module():
    spec = importlib.util.spec_from_file_location(
        "check_book", ROOT / ".ci" / "check_book.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_raw_pipe_tables_are_found_in_text_and_nowhere_else():
    find = _check_book_module().raw_pipe_tables
    table = "| review | IG: top 3 words deleted |\n|---|---|\n| gem | bad, dull |"
    assert find([table]) == [" ".join(table.split())[:60]]
    assert find([table.replace("|---|---|", "| :--- | ---: |")])
    assert find(["a | b\n---|---\nc | d"])  # outer pipes are optional
    assert find([" ".join(table.split())])  # line breaks collapsed
    assert find([table, table]) == find([table])  # a list item and its paragraph
    for fine in (
        "a | b, and a rule:\n---",
        "| a single row |",
        "|---|---|",  # a separator alone is no table
        "ratio 3 | 4 -- not a table",
    ):
        assert find([fine]) == [], fine
