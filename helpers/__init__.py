"""Helpers for the book *BERT sentiment classification and its explanation*.

Chapters import the submodules module-qualified (``from helpers import data``
… ``data.load_reviews(...)``); ``helpers/README.md`` shows the layers on one
page. ``helpers.book`` is the book's own material, which nothing else in
``helpers`` imports.

``helpers.explain`` is both the module and the call:
``from helpers import explain; explain(model, tokenizer, "a text")``. It is
imported on first use, so ``import helpers`` stays light (no torch).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """Import ``helpers.explain`` on first use (it needs torch and transformers)."""
    if name == "explain":
        import importlib

        return importlib.import_module(".explain", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
