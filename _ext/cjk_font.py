"""Sphinx extension: ship a Japanese webfont with the book's pages.

A reader whose system has no CJK font would see the book's Japanese text as
empty boxes. The pages therefore bring their own font: IPAexGothic, the font
that japanize-matplotlib already ships for the figures (IPA Font License
Agreement v1.0). At the end of an HTML build the font and its licence are
copied from the installed japanize-matplotlib into ``_static/fonts/``;
``_static/book.css`` declares it with ``@font-face`` and puts it first in the
theme's font stacks, limited by ``unicode-range`` to CJK characters (so Latin
text keeps the theme's fonts, and a page without Japanese never loads it).
Nothing is fetched from the web. ``.ci/check_book.py`` checks that every
page's CJK characters are drawn with it.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

# The files of japanize-matplotlib's fonts/ folder that the pages ship.
FONT_FILES = (
    "ipaexg.ttf",
    "IPA_Font_License_Agreement_v1.0.txt",
    "Readme_ipaexg00301.txt",
)


def font_folder() -> Path:
    """japanize-matplotlib's ``fonts/`` folder; a clear error when it is missing."""
    spec = importlib.util.find_spec("japanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            "cjk_font: the book's Japanese webfont comes from japanize-matplotlib, "
            "which is not installed: pip install -e '.[ja,book]' (or make install)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    missing = [name for name in FONT_FILES if not (folder / name).is_file()]
    if missing:
        raise ExtensionError(f"cjk_font: {', '.join(missing)} not found in {folder}")
    return folder


def copy_font(app, exception) -> None:
    """After an HTML build, copy the font and its licence to ``_static/fonts``."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "fonts"
    target.mkdir(parents=True, exist_ok=True)
    folder = font_folder()
    for name in FONT_FILES:
        shutil.copyfile(folder / name, target / name)


def setup(app):
    font_folder()  # fail at the start of the build, not after it
    app.connect("build-finished", copy_font)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
