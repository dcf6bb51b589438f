"""`make book` after `make test`, twice, and after a change under ``helpers/``.

The build script is ``.ci/build_book.py`` (what ``make book`` runs). The
chapters here are one tiny notebook in a temporary book that uses the real
``_config.yml``, so the checks take seconds, not the book's minutes.
"""

from __future__ import annotations

import importlib.util
import json
import os
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


def test_fingerprint_changes_with_every_shared_input(tmp_path, monkeypatch):
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "a.py").write_text("X = 1\n")
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "_toc.yml").write_text("root: intro\nchapters:\n- file: ch\n")
    (tmp_path / "ch.ipynb").write_text("{}")
    monkeypatch.delenv("BERT_BOOK_PROFILE", raising=False)
    seen = [build_book.fingerprint(tmp_path)]
    assert build_book.fingerprint(tmp_path) == seen[0]  # nothing changed

    def changed() -> bool:
        seen.append(build_book.fingerprint(tmp_path))
        return seen[-1] != seen[-2]

    (tmp_path / "helpers" / "a.py").write_text("X = 2\n")
    assert changed()
    (tmp_path / "helpers" / "sub").mkdir()
    (tmp_path / "helpers" / "sub" / "b.py").write_text("Y = 1\n")
    assert changed()
    (tmp_path / "_config.yml").write_text("title: u\n")
    assert changed()
    (tmp_path / "_ext").mkdir()  # the book's Sphinx extension
    (tmp_path / "_ext" / "font.py").write_text("Z = 1\n")
    assert changed()
    (tmp_path / "references.bib").write_text("@misc{a, title={A}}\n")
    assert changed()
    (tmp_path / "bench" / "results").mkdir(parents=True)  # a benchmark's report
    (tmp_path / "bench" / "results" / "accuracy.json").write_text('{"acc": 0.9}')
    assert changed()
    (tmp_path / "_build").mkdir()  # the prepare step made (or made again) a model
    record = tmp_path / "_build" / "prepared.json"
    record.write_text('{"model": {"chapter": "ch.py", "fingerprint": "abc"}}')
    assert changed()
    record.write_text('{"model": {"chapter": "ch.py", "fingerprint": "abd"}}')
    assert changed()
    assert seen[-1]["prepared"]["model"]["fingerprint"] == "abd"
    monkeypatch.setenv("BERT_BOOK_PROFILE", "full")
    assert changed()
    monkeypatch.setenv("IMDB_DIR", str(tmp_path / "imdb"))
    assert changed()
    real_version = build_book.metadata.version
    monkeypatch.setattr(
        build_book.metadata,
        "version",
        lambda name: "99.0" if name == "torch" else real_version(name),
    )
    assert changed()
    assert seen[-1]["versions"]["torch"] == "99.0"
    monkeypatch.setattr(build_book.platform, "python_version", lambda: "3.99.0")
    assert changed()
    (tmp_path / "ch.ipynb").write_text('{"cells": []}')  # the chapter's own file
    assert changed()
    assert {k for k in seen[-1] if seen[-1][k] != seen[-2][k]} == {"chapters"}


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


def test_a_second_build_reuses_the_chapters_until_an_input_changes(mini_book):
    log = _run(mini_book)  # no earlier build: every chapter
    assert "full build (no earlier build recorded)" in log
    assert "executed notebooks/ch" in log
    assert "marker says MARK-A" in _page(mini_book)

    log = _run(mini_book)  # a second `make book` in the same tree
    assert "incremental build" in log
    assert "executed notebooks/ch" not in log
    assert "marker says MARK-A" in _page(mini_book)  # the output is kept

    # Only the helper changes, not the chapter: the page must still be re-executed.
    (mini_book / "helpers" / "marker.py").write_text(
        "def marker():\n    return 'MARK-B'\n"
    )
    log = _run(mini_book)
    assert "full build (changed: files_sha256)" in log
    assert "executed notebooks/ch" in log
    page = _page(mini_book)
    assert "marker says MARK-B" in page
    assert "MARK-A" not in page

    # The chapter's content changes but its file keeps its old time (a copy
    # with `cp -p`): executed again all the same.
    chapter = mini_book / "notebooks" / "ch.ipynb"
    stat = chapter.stat()
    chapter.write_text(chapter.read_text().replace("marker says", "marker said"))
    os.utime(chapter, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    log = _run(mini_book)
    assert "whose own file or prepared artefact changed (notebooks/ch" in log
    assert "executed notebooks/ch" in log
    assert "marker said MARK-B" in _page(mini_book)

    log = _run(mini_book, "--full")  # `make book FORCE=1`
    assert "full build (--full)" in log
    assert "executed notebooks/ch" in log


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


def test_a_change_to_the_chapter_that_trains_the_model_rebuilds_every_chapter(
    tmp_path,
):
    """Chapter 2 trains the classifier chapters 3-9 load: editing it must not
    leave them showing the old model's outputs; another chapter's edit must
    re-execute that chapter only."""
    (tmp_path / "_build").mkdir()
    now = {
        "files_sha256": "h",
        "chapters": {"notebooks/02_finetune": "a", "notebooks/03_attention": "b"},
    }
    state = tmp_path / "_build" / build_book.STATE
    state.write_text(json.dumps(now))
    edited = {**now, "chapters": {**now["chapters"], "notebooks/03_attention": "c"}}
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "03_attention.ipynb").write_text("{}")
    assert build_book.plan(tmp_path, edited, full=False) == (
        False,
        ["notebooks/03_attention"],
    )
    retrained = {**now, "chapters": {**now["chapters"], "notebooks/02_finetune": "z"}}
    assert build_book.plan(tmp_path, retrained, full=False) == (
        True,
        ["notebooks/02_finetune", "notebooks/03_attention"],
    )


def test_a_changed_prepared_artefact_executes_only_the_chapter_that_loads_it(
    tmp_path,
):
    """Chapter 9's corpus run is chapter 9's input, not every chapter's."""
    (tmp_path / "_build").mkdir()
    (tmp_path / "notebooks").mkdir()
    for chapter in ("04_gradcam", "09_corpus"):
        (tmp_path / "notebooks" / f"{chapter}.ipynb").write_text("{}")
    before = {
        "files_sha256": "h",
        "prepared": {
            "model": {"chapter": "notebooks/04_gradcam.py", "fingerprint": "a"},
            "shards": {"chapter": "notebooks/09_corpus.py", "fingerprint": "skipped"},
        },
        "chapters": {"notebooks/04_gradcam": "b", "notebooks/09_corpus": "c"},
    }
    (tmp_path / "_build" / build_book.STATE).write_text(json.dumps(before))
    assert build_book.plan(tmp_path, before, full=False) == (False, [])
    shards = {"chapter": "notebooks/09_corpus.py", "fingerprint": "d"}
    now = {**before, "prepared": {**before["prepared"], "shards": shards}}
    assert build_book.plan(tmp_path, now, full=False) == (
        False,
        ["notebooks/09_corpus"],
    )
    # an artefact that no chapter of the table of contents loads: all of them
    stray = {"chapter": "notebooks/99_gone.py", "fingerprint": "e"}
    now = {**before, "prepared": {**before["prepared"], "stray": stray}}
    assert build_book.plan(tmp_path, now, full=False)[0] is True


PREPARE = """\
import argparse
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--record")
parser.add_argument("--chapter", action="append")
args = parser.parse_args()
made = Path("shards.txt")  # what the chapter makes when the prepare step cannot
sha = made.read_text() if made.exists() else "skipped"
record = {"shards": {"chapter": "notebooks/ch.py", "fingerprint": sha}}
Path(args.record).parent.mkdir(parents=True, exist_ok=True)
Path(args.record).write_text(json.dumps(record))
"""

MAKES_SHARDS = """
# %%
from pathlib import Path

if not Path("../shards.txt").exists():
    Path("../shards.txt").write_text("shards-1")
"""


def _prepare(book: Path) -> None:
    """``make book``'s prepare step, with the mini book's own prepare module."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers.book.prepare",
            "--record",
            "_build/prepared.json",
        ],
        cwd=book,
        check=True,
    )


def test_a_second_build_after_a_chapter_made_its_own_artefact_executes_nothing(
    mini_book,
):
    """A clean clone: the prepare step skips chapter 9's corpus run (chapter 2's
    model is not there yet), chapter 9 makes it; the second ``make book``, whose
    prepare step finds it, must execute nothing again."""
    (mini_book / "helpers" / "book").mkdir()
    (mini_book / "helpers" / "book" / "__init__.py").write_text("")
    (mini_book / "helpers" / "book" / "prepare.py").write_text(PREPARE)
    chapter = mini_book / "notebooks" / "ch.py"
    chapter.write_text(CHAPTER + MAKES_SHARDS)
    jupytext = Path(sys.executable).with_name("jupytext")
    subprocess.run(
        [str(jupytext), "--quiet", "--to", "ipynb", str(chapter)], check=True
    )

    _prepare(mini_book)  # skipped
    log = _run(mini_book)
    assert "full build (no earlier build recorded)" in log
    assert "executed notebooks/ch" in log
    assert (mini_book / "shards.txt").read_text() == "shards-1"

    _prepare(mini_book)  # now finds what the chapter made
    log = _run(mini_book)
    assert "incremental build" in log
    assert "executed notebooks/ch" not in log

    (mini_book / "shards.txt").write_text("shards-2")  # made again, differently
    _prepare(mini_book)
    log = _run(mini_book)
    assert "executing only the chapters whose own file or prepared" in log
    assert "executed notebooks/ch" in log
