"""The book's configuration builds a site that loads nothing from the network.

The chapters are executed by `make book`; here the book is built *without*
execution (seconds) in a temporary copy, which is enough to check what the
theme, MathJax and the widget manager put into every page.
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    if not jupyter_book.exists():
        pytest.skip("jupyter-book is not installed (install the [book] extra)")
    book = tmp_path_factory.mktemp("book")
    for name in ("_config.yml", "_toc.yml", "intro.md"):
        shutil.copy(ROOT / name, book / name)
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
    proc = subprocess.run(
        [
            str(jupyter_book),
            "build",
            str(book),
            "--builder",
            "html",
            "--warningiserror",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return book / "_build" / "html"


def test_every_chapter_has_a_page(built_book):
    assert (built_book / "index.html").exists()
    for script in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
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
    # chapter 3 has display math: its page must point at the bundled MathJax, and the file must exist
    page = (built_book / "notebooks" / "03_attention.html").read_text(encoding="utf-8")
    sources = re.findall(
        r"""<script[^>]*src=["']([^"']*mathjax[^"']*)["']""", page, re.I
    )
    assert sources and all(not s.startswith(("http", "//")) for s in sources), sources
    assert (built_book / "notebooks" / sources[0].split("?")[0]).resolve().exists()
