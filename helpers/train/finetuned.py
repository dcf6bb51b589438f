"""The chapter-2 model: a profile's classifier, trained once, reused while it fits.

:func:`get_finetuned_model` is what chapters 3-6 call; it loads the
checkpoint at :func:`checkpoint_path` when it was trained on what the
profile asks for now (:func:`training_record`, :func:`checkpoint_mismatch`)
and (re)trains it otherwise (:func:`finetune_profile_model`).
:func:`train_fresh` is the one way the helpers and the benchmarks train a new
classifier.
"""

from __future__ import annotations

import hashlib
import re
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

from ..config import Profile, data_dir, display_path, get_profile, seed_everything
from ..data import GroupingWarning, ReviewSet, load_reviews, train_val_split
from ..models import load_model
from .checkpoints import load_checkpoint, read_training_info, save_checkpoint
from .loop import train_classifier
from .settings import PROFILE_FIELDS, TrainSettings

#: The profile fields a checkpoint's training depends on (besides its data).
TRAINING_SETTINGS = (*PROFILE_FIELDS, "val_fraction", "train_per_label")


def checkpoint_path(profile: Profile | None = None) -> Path:
    """``data_dir()/checkpoints/<profile>-<model slug>``: the profile's model."""
    profile = profile or get_profile()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", profile.model_name).strip("-")
    return data_dir() / "checkpoints" / f"{profile.name}-{slug}"


def profile_data(profile: Profile | None = None) -> tuple[ReviewSet, ReviewSet]:
    """The train and validation reviews chapter 2 fine-tunes the profile's model on.

    ``load_reviews("train", profile)`` (IMDb, else the synthetic sample with a
    warning), split by :func:`helpers.data.train_val_split` with the
    profile's ``val_fraction`` and ``seed`` (by movie where the official
    archive's urls files are there, else by review).
    """
    profile = profile or get_profile()
    return train_val_split(
        load_reviews("train", profile), profile.val_fraction, profile.seed
    )


def training_record(profile: Profile, train_set: ReviewSet, val_set: ReviewSet) -> dict:
    """What a checkpoint is trained on: base model, profile settings and data.

    ``data`` holds the data set (``"IMDb"`` or ``"synthetic"``), the split
    method (``"movie"`` or ``"review"``), the split sizes, the seed and a
    SHA-256 of the review ids in training order. Saved with the checkpoint
    as ``trained_on`` and compared by :func:`checkpoint_mismatch`.
    """
    ids = "\n".join(train_set.ids) + "\n--\n" + "\n".join(val_set.ids)
    return {
        "base_model": profile.model_name,
        "settings": {key: getattr(profile, key) for key in TRAINING_SETTINGS},
        "data": {
            "dataset": train_set.dataset or "unknown",
            "split": train_set.split_by or "none",
            "train_size": len(train_set),
            "val_size": len(val_set),
            "seed": profile.seed,
            "reviews_sha256": hashlib.sha256(ids.encode()).hexdigest(),
            "source": train_set.source,
        },
    }


def checkpoint_mismatch(saved: dict, wanted: dict) -> str | None:
    """Why a checkpoint trained as ``saved`` is not ``wanted``; ``None`` if it is.

    Both are :func:`training_record` dicts. A checkpoint trained on the
    synthetic sample never matches once IMDb is there; one trained on IMDb
    still matches when IMDb is not there now (its data cannot be compared).
    """
    if not saved:
        return "it does not record what it was trained on (saved by an older version)"
    if saved.get("base_model") != wanted["base_model"]:
        return (
            f"it was fine-tuned from {saved.get('base_model')!r}, the profile asks "
            f"for {wanted['base_model']!r}"
        )
    old, new = saved.get("data", {}), wanted["data"]
    if old.get("dataset") != "IMDb" and new["dataset"] == "IMDb":
        was = (
            "the synthetic sample"
            if old.get("dataset") == "synthetic"
            else "other data"
        )
        return f"it was trained on {was} and IMDb is there now"
    settings = wanted["settings"]
    changes = _changes(saved.get("settings", {}), settings, list(settings))
    gone = old.get("dataset") == "IMDb" and new["dataset"] != "IMDb"
    keys = ("seed",) if gone else ("dataset", "split", "train_size", "val_size", "seed")
    changes = ", ".join(c for c in (changes, _changes(old, new, keys)) if c)
    if gone:
        return f"the profile asks for other settings: {changes}" if changes else None
    if changes:
        return f"the profile asks for other settings or data: {changes}"
    if old.get("reviews_sha256") != new["reviews_sha256"]:
        return "the training reviews differ (same number, other files)"
    return None


def differing_keys(old: Mapping, new: Mapping, keys=None) -> list[str]:
    """The keys whose values differ between two records, a missing key as ``None``.

    ``keys``: the keys compared, in that order (default: every key of
    either record, sorted). The one comparison behind every "retrain" or
    "another run" message (checkpoints, recipe steps, corpus folders).
    """
    keys = sorted(old.keys() | new.keys()) if keys is None else keys
    return [k for k in keys if old.get(k) != new.get(k)]


def _changes(old: dict, new: dict, keys) -> str:
    differ = differing_keys(old, new, keys)
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in differ)


def train_fresh(
    model_name: str, train_set, val_set, settings: TrainSettings, *, device=None
):
    """Load ``model_name`` afresh, seeded, and fine-tune it (:func:`train_classifier`).

    The one way the helpers and benchmarks train a new classifier: the seed
    (``settings.seed``) is set before loading, so runs with the same seed
    start from the same classifier head and differ only in ``settings``.
    Returns ``(tokenizer, model, result, seconds)``; ``seconds`` is the
    training time, feature caching included, loading not.
    """
    seed_everything(settings.seed)
    tokenizer, model = load_model(model_name)
    start = time.perf_counter()
    result = train_classifier(
        model, tokenizer, train_set, val_set, settings, device=device
    )
    return tokenizer, model, result, time.perf_counter() - start


def finetune_profile_model(profile: Profile | None = None, device=None, data=None):
    """Train the profile's classifier as chapter 2 does, and save it.

    Loads ``profile.model_name``, trains on ``data`` (``(train_set, val_set)``,
    by default :func:`profile_data`) with the profile's settings
    (:meth:`TrainSettings.from_profile`) and saves the
    best epoch to :func:`checkpoint_path`, with its :func:`training_record`.
    Returns ``(tokenizer, model, TrainResult)``; ``result.trained_on`` is the
    record.
    """
    profile = profile or get_profile()
    train_set, val_set = data if data is not None else profile_data(profile)
    settings = TrainSettings.from_profile(profile)
    tokenizer, model, result, _ = train_fresh(
        profile.model_name, train_set, val_set, settings, device=device
    )
    result.trained_on = training_record(profile, train_set, val_set)
    info = {
        "base_model": profile.model_name,
        "profile": profile.name,
        "trained_on": result.trained_on,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "settings": result.settings,
        "train_source": train_set.source,
        "val_source": val_set.source,
    }
    result.checkpoint = save_checkpoint(
        model.cpu(), tokenizer, checkpoint_path(profile), info
    )
    return tokenizer, model, result


def get_finetuned_model(
    profile: Profile | None = None, *, attn_implementation: str | None = None
):
    """THE chapter-2 model: ``(tokenizer, model)`` fine-tuned on IMDb for ``profile``.

    Loads the checkpoint at :func:`checkpoint_path` when it was trained on
    what the profile asks for now (same base model, settings and data, see
    :func:`checkpoint_mismatch`); otherwise it (re)trains it with
    :func:`finetune_profile_model` (seeded) and prints why in one line. The
    model is returned in eval mode on the CPU.
    """
    profile = profile or get_profile()
    path = checkpoint_path(profile)
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        train_set, val_set = profile_data(profile)
    wanted = training_record(profile, train_set, val_set)
    saved = read_training_info(path).get("trained_on", {})
    if (path / "config.json").exists():
        reason = checkpoint_mismatch(saved, wanted)
    else:
        reason = "there is no checkpoint yet"
    _replay(notes, skip=() if reason else (GroupingWarning,))
    if reason is not None:
        print(f"Fine-tuning {display_path(path)}: {reason}.")
        finetune_profile_model(profile, data=(train_set, val_set))
    elif saved["data"]["dataset"] != wanted["data"]["dataset"]:
        print(
            f"Using {display_path(path)}, fine-tuned on {saved['data']['source']}; "
            "IMDb is not there now, so its data cannot be compared."
        )
    return load_checkpoint(
        path, profile.model_name, attn_implementation=attn_implementation
    )


def _replay(notes, skip=()) -> None:
    """Warn again the warnings recorded in ``notes``, but those of ``skip``."""
    for note in notes:
        if not issubclass(note.category, skip):
            warnings.warn_explicit(
                note.message, note.category, note.filename, note.lineno
            )
