"""Helpers for the book *BERT sentiment classification and its explanation*.

Chapters import the submodules module-qualified (``from helpers import data``
… ``data.load_reviews(...)``):

* ``config`` (the profile), ``inputs`` (batches, targets, token roles),
  ``data`` (IMDb), ``models`` (the one model loader), ``training`` — chapters 1–2;
* ``highlight``, ``attention`` — chapter 3; ``gradcam``, ``japanese`` — chapter 4;
* ``attr`` (attribution methods), ``metrics`` (faithfulness, sanity check,
  plausibility, cost), ``report`` — chapter 5;
* ``eraser`` (human rationales), ``recommend``, ``windows`` (texts of any
  length) — chapter 6.
"""

__version__ = "0.1.0"
