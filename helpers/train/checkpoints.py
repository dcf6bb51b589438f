"""Checkpoints: saved atomically, with a record of their training; checked on load."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..config import display_path
from ..data.fetch import sha256_of
from ..models import ModelLoadError, load_model

#: The file beside a checkpoint's weights that records how it was trained.
TRAINING_INFO = "training_info.json"
#: The SHA-256 of every other file of a checkpoint (``sha256sum -c`` reads it).
CHECKSUMS = "checksums.sha256"


def save_checkpoint(model, tokenizer, path, info: dict | None = None) -> Path:
    """Save weights, config and tokenizer (``save_pretrained``) for :func:`load_model`.

    Written to a temporary folder beside ``path`` and renamed into place when
    complete: an interruption leaves the previous checkpoint intact.
    ``info`` (e.g. history) goes to ``training_info.json``; the SHA-256 of
    every file goes to ``checksums.sha256`` (:func:`checkpoint_problem`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / TRAINING_INFO).write_text(json.dumps(info or {}, indent=1, default=str))
        files = sorted(f.name for f in tmp.iterdir() if f.is_file())
        sums = "".join(f"{sha256_of(tmp / name)}  {name}\n" for name in files)
        (tmp / CHECKSUMS).write_text(sums)
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


def checkpoint_problem(path) -> str | None:
    """Why ``path`` is not an intact checkpoint of :func:`save_checkpoint`; else None.

    Intact: ``config.json`` and ``checksums.sha256`` are there and every file
    that the checksums name has its recorded SHA-256.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        return "there is no checkpoint yet"
    if not (path / CHECKSUMS).is_file():
        return f"it has no {CHECKSUMS} (saved by an older version, or incomplete)"
    for line in (path / CHECKSUMS).read_text().splitlines():
        digest, _, name = line.partition("  ")
        file = path / name
        if not name or Path(name).name != name or not file.is_file():
            return f"{name or repr(line)}, named in {CHECKSUMS}, is missing"
        if sha256_of(file) != digest:
            return f"{name} is corrupt (its SHA-256 changed since it was saved)"
    return None


def ensure_checkpoint(path, train: Callable[[Path], object]) -> bool:
    """Run ``train(path)`` unless ``path`` holds an intact checkpoint; True if it ran.

    The cache rule of every model the book trains once and loads afterwards:
    ``path`` is named by a fingerprint of what the model is made from, so a
    stale model lives in another folder; a missing or corrupt one
    (:func:`checkpoint_problem`) is trained again, and ``train`` saves it
    with :func:`save_checkpoint`, which replaces the folder atomically.
    Prints one line saying which it did.
    """
    path = Path(path)
    problem = checkpoint_problem(path)
    if problem is None:
        print(f"Loading the cached {display_path(path)}.")
        return False
    print(f"Training {display_path(path)}: {problem}.")
    train(path)
    return True


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
