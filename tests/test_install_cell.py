"""Every chapter opens with the cell that installs the book's package where it is
missing (Binder, Colab, a fresh Jupyter), and that does nothing where it is
installed (the book's build, ``make lab``, these tests)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.py"))
MARK = "# Outside the book's own set-up"


def _first_code_cell(path: Path) -> str:
    cells = path.read_text(encoding="utf-8").split("\n# %%")
    code = [c for c in cells[1:] if not c.startswith(" [markdown]")]
    return code[0].removeprefix("\n")


def _install_cell() -> str:
    cell = _first_code_cell(CHAPTERS[0])
    assert cell.startswith(MARK), f"not the install cell: {cell[:200]}"
    return cell


def _run(cell: str, cwd: Path, monkeypatch, installed: bool) -> list[list[str]]:
    calls: list[list[str]] = []
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(subprocess, "check_call", lambda cmd: calls.append(cmd))
    if not installed:
        real = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a: None if name == "helpers" else real(name, *a),
        )
    exec(compile(cell, "<install cell>", "exec"), {})
    return calls


def test_every_chapter_opens_with_the_same_install_cell():
    assert len(CHAPTERS) >= 9
    cells = {path.name: _first_code_cell(path) for path in CHAPTERS}
    first = _install_cell()
    for name, cell in cells.items():
        assert cell == first, f"{name}: its first code cell is not the install cell"


def test_the_install_cell_does_nothing_where_helpers_is_installed(monkeypatch):
    cell = _install_cell()
    assert _run(cell, ROOT / "notebooks", monkeypatch, installed=True) == []


def test_the_install_cell_installs_the_checkout_with_the_chapters_extra(
    monkeypatch, tmp_path
):
    cell = _install_cell()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    calls = _run(cell, tmp_path / "notebooks", monkeypatch, installed=False)
    assert len(calls) == 1 and calls[0][1:5] == ["-m", "pip", "install", "-q"]
    assert calls[0][-1] == f"{tmp_path}[chapters]"
    (tmp_path / "pyproject.toml").unlink()
    with pytest.raises(ModuleNotFoundError, match="clone the book's repository"):
        _run(cell, tmp_path / "notebooks", monkeypatch, installed=False)
