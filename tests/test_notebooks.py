"""The chapters: paired, output-free, and each runs top to bottom in the quick profile on small data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_imdb_folder

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SCRIPTS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_every_chapter_is_paired():
    assert SCRIPTS, "no chapters found"
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SCRIPTS]


def test_toc_lists_every_chapter():
    toc = (ROOT / "_toc.yml").read_text()
    for script in SCRIPTS:
        assert f"notebooks/{script.stem}" in toc


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_in_sync_and_without_outputs(notebook):
    import jupytext

    nb = json.loads(notebook.read_text(encoding="utf-8"))
    with_outputs = [
        i
        for i, c in enumerate(nb["cells"])
        if c.get("outputs") or c.get("execution_count")
    ]
    assert not with_outputs, (
        f"{notebook.name}: cells {with_outputs} carry outputs; clear them"
    )
    from_ipynb = jupytext.writes(jupytext.read(notebook), fmt="py:percent")
    script = notebook.with_suffix(".py").read_text(encoding="utf-8")
    strip = lambda s: [
        l
        for l in s.splitlines()
        if l.strip() and not l.startswith("# ---") and not l.startswith("#   ")
    ]
    assert strip(from_ipynb) == strip(script), (
        f"run `jupytext --sync {notebook.relative_to(ROOT)}`"
    )


@pytest.fixture(scope="module")
def chapter_env(tmp_path_factory):
    """One data dir for all chapters (chapter 2's checkpoint is reused by 3-5), small IMDb-layout data."""
    base = tmp_path_factory.mktemp("chapters")
    imdb = make_imdb_folder(base, per_label=24)
    env = dict(
        os.environ,
        BERT_BOOK_PROFILE="quick",
        BERT_BOOK_DATA=str(base / "data"),
        IMDB_DIR=str(imdb),
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
    )
    return env


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_chapter_runs_top_to_bottom(script, chapter_env):
    proc = subprocess.run(
        [sys.executable, script.name],
        cwd=script.parent,
        env=chapter_env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, (
        f"{script.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
