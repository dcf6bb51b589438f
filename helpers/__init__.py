"""Helpers for the book *BERT sentiment classification and its explanation*.

Chapters import from the submodules: ``config`` (the profile), ``data``
(IMDb), ``models`` (the one model loader), ``training``, ``highlight``,
``attention``, ``gradcam``, ``faithfulness`` and ``japanese``.
"""

__version__ = "0.1.0"
