"""Helpers for the book *BERT sentiment classification and its explanation*.

Chapters import the submodules module-qualified (``from helpers import data``
… ``data.load_reviews(...)``):

* ``config`` (the profile), ``inputs`` (batches, targets, token roles),
  ``data`` (IMDb; ``data.etc``: everyday Japanese), ``models`` (the one model
  loader), ``train`` — chapters 1–2;
* ``highlight``, ``attention`` — chapter 3; ``gradcam``, ``ja`` (Japanese) — chapter 4;
* ``attr`` (attribution methods), ``metrics`` (faithfulness, sanity check,
  plausibility, cost), ``stats`` (correlation and intervals) — chapter 5;
* ``data.eraser`` (human rationales), ``windows`` (texts of any length) — chapter 6;
* ``tokens`` (special tokens and the one merge), ``align`` (words of any
  fast tokenizer or slow word-level one, as Japanese BERTs have), ``explain``
  (one call that explains any text with any model), ``explorer`` (widgets),
  ``corpus`` and ``corpus_views`` (a whole corpus, on several processes, and
  what the model learned across it) — for your own model;
* ``book`` — the book's own material (the running example, recipes, tables,
  figures and generated prose), which nothing else in ``helpers`` imports:
  ``from helpers.book import examples, report``.

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
