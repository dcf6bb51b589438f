"""`make book` after `make test`, twice, and after a change under ``helpers/``.

The build script is ``.ci/build_book.py`` (what ``make book`` runs). The
chapters here are one tiny notebook in a temporary book that uses the real
``_config.yml``, so the checks take seconds, not the book's minutes.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "build_book.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("build_book", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_book = _load_script()


def _exclude_patterns() -> list[str]:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["exclude_patterns"]


def _gitignored_examples() -> list[str]:
    """One file per .gitignore entry, at the top and inside ``notebooks/``."""
    paths = []
    for line in (ROOT / ".gitignore").read_text().splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.endswith("/"):
            name = entry.rstrip("/").replace("*", "pkg")
            paths += [f"{name}/README.md", f"notebooks/{name}/README.md"]
        else:
            name = entry.replace("*", "stray")
            paths += [name, f"notebooks/{name}"]
    return paths


def test_only_the_books_sources_are_found_among_tool_folders(tmp_path):
    from sphinx.util.matching import get_matching_files

    sources = ["intro.md", "notebooks/01_data.ipynb"]
    noise = [
        *_gitignored_examples(),
        ".pytest_cache/README.md",
        "notebooks/.pytest_cache/README.md",
        ".ruff_cache/0.8/README.md",
        ".mypy_cache/README.md",
        "notebooks/.ipynb_checkpoints/01_data-checkpoint.ipynb",
        ".venv/lib/python3.12/site-packages/pkg/README.md",
        "venv/share/doc/README.md",
        "_build/jupyter_execute/notebooks/01_data.ipynb",
        "bert_explain_book.egg-info/README.md",
        "helpers/__pycache__/README.md",
    ]
    for rel in sources + noise:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# page\n")
    found = set(get_matching_files(tmp_path, exclude_patterns=_exclude_patterns()))
    assert found == set(sources), sorted(found - set(sources))


def test_fingerprint_changes_with_helpers_config_and_profile(tmp_path, monkeypatch):
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "a.py").write_text("X = 1\n")
    (tmp_path / "_config.yml").write_text("title: t\n")
    monkeypatch.delenv("BERT_BOOK_PROFILE", raising=False)
    first = build_book.fingerprint(tmp_path)
    assert build_book.fingerprint(tmp_path) == first
    (tmp_path / "helpers" / "a.py").write_text("X = 2\n")
    second = build_book.fingerprint(tmp_path)
    assert second != first
    (tmp_path / "_config.yml").write_text("title: u\n")
    third = build_book.fingerprint(tmp_path)
    assert third != second
    monkeypatch.setenv("BERT_BOOK_PROFILE", "full")
    assert build_book.fingerprint(tmp_path) != third


CHAPTER = """\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A chapter

# %%
import sys

sys.path.insert(0, "..")
from helpers import marker

print("marker says", marker.marker())
"""


@pytest.fixture
def mini_book(tmp_path) -> Path:
    jupytext = Path(sys.executable).with_name("jupytext")
    if (
        not Path(sys.executable).with_name("jupyter-book").exists()
        or not jupytext.exists()
    ):
        pytest.skip("jupyter-book or jupytext missing (install the [book] extra)")
    book = tmp_path / "book"
    (book / "notebooks").mkdir(parents=True)
    (book / "helpers").mkdir()
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    shutil.copy(ROOT / "references.bib", book / "references.bib")  # bibtex
    shutil.copytree(ROOT / "_ext", book / "_ext")  # cjk_font
    shutil.copytree(ROOT / "_static", book / "_static")
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: notebooks/ch\n"
    )
    (book / "intro.md").write_text("# A book\n\nAn introduction.\n")
    (book / "helpers" / "__init__.py").write_text("")
    (book / "helpers" / "marker.py").write_text("def marker():\n    return 'MARK-A'\n")
    (book / "notebooks" / "ch.py").write_text(CHAPTER)
    subprocess.run(
        [str(jupytext), "--quiet", "--to", "ipynb", str(book / "notebooks" / "ch.py")],
        check=True,
    )
    # What `make test` leaves behind: a real pytest run in the same tree.
    (book / "tests").mkdir()
    (book / "tests" / "test_x.py").write_text("def test_x():\n    assert True\n")
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests"],
        cwd=book,
        check=True,
        capture_output=True,
    )
    assert (book / ".pytest_cache" / "README.md").exists()
    return book


def _run(book: Path, *extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(book), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _page(book: Path) -> str:
    return (book / "_build" / "html" / "notebooks" / "ch.html").read_text()


def test_book_after_tests_twice_and_after_a_helper_change(mini_book):
    log = _run(mini_book)
    assert "executed notebooks/ch" in log
    assert "marker says MARK-A" in _page(mini_book)

    log = _run(mini_book)  # a second `make book` in the same tree
    assert "executed notebooks/ch" in log

    # Only the helper changes, not the chapter: the page must still be re-executed.
    (mini_book / "helpers" / "marker.py").write_text(
        "def marker():\n    return 'MARK-B'\n"
    )
    log = _run(mini_book)
    assert "executed notebooks/ch" in log
    page = _page(mini_book)
    assert "marker says MARK-B" in page
    assert "MARK-A" not in page


def test_incremental_build_skips_unchanged_chapters_until_a_helper_changes(mini_book):
    _run(mini_book, "--incremental")
    log = _run(mini_book, "--incremental")
    assert "incremental build" in log
    assert "executed notebooks/ch" not in log

    (mini_book / "helpers" / "marker.py").write_text(
        "def marker():\n    return 'MARK-C'\n"
    )
    log = _run(mini_book, "--incremental")
    assert "full build" in log
    assert "executed notebooks/ch" in log
    assert "marker says MARK-C" in _page(mini_book)


def test_a_chapter_in_the_toc_that_is_not_executed_fails_the_build(mini_book):
    text = (mini_book / "_config.yml").read_text()
    (mini_book / "_config.yml").write_text(
        text.replace("execute_notebooks: force", 'execute_notebooks: "off"')
    )
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(mini_book)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert "were not executed: notebooks/ch" in proc.stdout
