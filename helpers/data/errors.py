"""The data layer's error and the book's warning format.

* :class:`DataError`: data missing, corrupt or malformed; every message names
  the file and the fix. The archive errors of :mod:`helpers.data.fetch` derive
  from it.
* :class:`BookWarning`: the base of the book's own warnings, printed as
  ``Name: message`` (see :func:`format_book_warning`, installed on import).
"""

from __future__ import annotations

import warnings


class DataError(RuntimeError):
    """Data is missing, corrupt or malformed; the message names the file and the fix."""


class BookWarning(UserWarning):
    """Base of the book's own warnings, printed as ``Name: message``.

    Python's default format starts with the helper's file path and line
    number (``/.../helpers/data/encode.py:60: TruncationWarning: ...``), which tells
    a reader of a chapter nothing and shows a machine's paths in the book.
    Importing ``helpers.data`` installs :func:`format_book_warning`, which
    drops them for subclasses of this class (in scripts, Jupyter and the
    built book alike); other warnings keep Python's format.
    """


_python_formatwarning = warnings.formatwarning


def format_book_warning(message, category, filename, lineno, line=None) -> str:
    """``warnings.formatwarning`` that prints a :class:`BookWarning` without its source.

    ``TruncationWarning: 1 of 2 texts ...`` instead of
    ``/path/helpers/data/encode.py:60: TruncationWarning: 1 of 2 texts ...``; any
    other warning is formatted by Python's own function.
    """
    if isinstance(category, type) and issubclass(category, BookWarning):
        return f"{category.__name__}: {message}\n"
    return _python_formatwarning(message, category, filename, lineno, line)


if getattr(warnings.formatwarning, "__name__", "") != "format_book_warning":
    warnings.formatwarning = format_book_warning


def plain_file_name(name: str, where: str) -> str:
    """``name`` if it names a file inside its folder, else :class:`DataError`.

    Names read from a data set's own index (ERASER's docids, ETC's
    ``split.json``) are joined to a folder; ``../x``, ``/etc/passwd`` or
    ``a/b`` would read a file outside it, so they are refused.
    """
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise DataError(
            f"{where}: {name!r} is not a plain file name (no folders, no '..'); "
            "the index names a file outside its folder. Extract the data set "
            "again from its official archive."
        )
    return name
