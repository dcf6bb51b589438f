"""Checkpoints: saved atomically, with a record of their training; checked on load."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ..models import ModelLoadError, load_model

#: The file beside a checkpoint's weights that records how it was trained.
TRAINING_INFO = "training_info.json"


def save_checkpoint(model, tokenizer, path, info: dict | None = None) -> Path:
    """Save weights, config and tokenizer (``save_pretrained``) for :func:`load_model`.

    Written to a temporary folder beside ``path`` and renamed into place when
    complete: an interruption leaves the previous checkpoint intact.
    ``info`` (e.g. history) goes to ``training_info.json``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / TRAINING_INFO).write_text(json.dumps(info or {}, indent=1, default=str))
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_training_info(path) -> dict:
    """The ``training_info.json`` saved with a checkpoint (``{}`` if absent)."""
    file = Path(path) / TRAINING_INFO
    return json.loads(file.read_text()) if file.exists() else {}


def check_checkpoint(path, base_model: str | None = None, num_labels: int = 2) -> None:
    """Raise :class:`ModelLoadError` unless ``path`` holds the expected classifier.

    Expected: a sequence classifier of ``num_labels`` labels, fine-tuned from
    ``base_model`` (when both it and the checkpoint's record name one).
    """
    path = Path(path)
    config_file = path / "config.json"
    if not config_file.exists():
        raise ModelLoadError(
            f"{path} has no config.json: it is not a checkpoint saved by "
            "save_checkpoint()."
        )
    config = json.loads(config_file.read_text())
    archs = config.get("architectures") or []
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        raise ModelLoadError(
            f"{path} holds {archs or 'an unknown architecture'}, not a sequence "
            "classifier: delete it (or pick another folder) and train again."
        )
    labels = len(config.get("id2label") or {}) or config.get("num_labels", 2)
    if labels != num_labels:
        raise ModelLoadError(
            f"{path} is a classifier with {labels} labels, {num_labels} were expected: "
            "delete it and train again, or pass the matching num_labels."
        )
    trained_from = read_training_info(path).get("base_model")
    if base_model and trained_from and trained_from != base_model:
        raise ModelLoadError(
            f"{path} was fine-tuned from {trained_from!r}, not {base_model!r}: "
            "delete the folder to retrain, or select the matching profile."
        )


def load_checkpoint(
    path, base_model: str | None = None, num_labels: int = 2, attn_implementation=None
):
    """``(tokenizer, model)`` from a checkpoint, after :func:`check_checkpoint`."""
    check_checkpoint(path, base_model, num_labels)
    return load_model(
        path, num_labels=num_labels, attn_implementation=attn_implementation
    )
