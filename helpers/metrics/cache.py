"""Each method's metric numbers on disk, with what they were made from.

Chapters 5 and 6 score several of the same methods on the same reviews with
the same model. ``evaluate_faithfulness(..., cache=...)`` and
``sanity_check(..., cache=...)`` keep each method's numbers in a file of a
:class:`ResultsCache` and load them the next time the same numbers are
asked for, instead of computing them again.

A file records its **fingerprint**, what its numbers were made from: the
model (class, configuration, attention kernel and the SHA-256 of every
weight, :func:`model_fingerprint`), the method's settings
(:meth:`helpers.attr.Attribution.settings`), the run (the reviews as token
ids, the seed, the fractions, the batch sizes ...), the source of the whole
``helpers`` package (:func:`code_fingerprint`) and the versions of Python,
NumPy, torch, transformers and Captum. A file is loaded only when its
fingerprint is the one asked for; a stale or unreadable file is computed again
and overwritten, never trusted. A method whose settings cannot be described
(:class:`helpers.attr.StoredMaps`) is always computed. The numbers loaded are
the numbers computed (``tests/test_metric_cache.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..atomic import remove_dead_temporaries, temporary

#: The ``helpers`` package, whose source is part of every fingerprint.
_PACKAGE = Path(__file__).resolve().parents[1]
#: The packages whose versions are part of every fingerprint.
_PACKAGES = ("numpy", "torch", "transformers", "captum")
#: The key of the fingerprint inside a file.
_FINGERPRINT = "__fingerprint__"


def code_fingerprint() -> str:
    """SHA-256 of the source of every module of the ``helpers`` package."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of ``model``'s state dict: each tensor's name and raw bytes.

    The one hash of a model's weights: the metric cache and the corpus
    runner's manifest (:func:`helpers.corpus.fingerprint`) both use it.
    """
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().cpu().contiguous().view(-1)
        digest.update(name.encode() + b"\0")
        digest.update(flat.view(torch.uint8).numpy().tobytes() + b"\0")
    return digest.hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 of ``model``'s class, configuration, attention kernel and weights.

    Every tensor of the state dict counts (name, dtype, shape and bytes:
    :func:`weights_sha256`), so a model trained again, or changed in place,
    has another fingerprint.
    """
    digest = hashlib.sha256(type(model).__qualname__.encode() + b"\0")
    config = getattr(model, "config", None)
    if config is not None:
        digest.update(config.to_json_string(use_diff=False).encode() + b"\0")
        digest.update(str(getattr(config, "_attn_implementation", "")).encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"\0{name}\0{tensor.dtype}\0{tuple(tensor.shape)}".encode())
    digest.update(b"\0" + weights_sha256(model).encode())
    return digest.hexdigest()


def inputs_fingerprint(batches) -> str:
    """SHA-256 of the reviews as the metrics see them: each batch's token
    ids, attention mask, token types and rows (:class:`helpers.data.TextBatch`)."""
    digest = hashlib.sha256()
    for batch in batches:
        digest.update(json.dumps([int(r) for r in batch.rows]).encode())
        for key in sorted(batch.inputs):
            value = torch.as_tensor(batch.inputs[key]).cpu().contiguous()
            digest.update(f"\0{key}\0{tuple(value.shape)}\0".encode())
            digest.update(value.reshape(-1).to(torch.int64).numpy().tobytes())
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """Python's version and each package's of :data:`_PACKAGES` (or ``""``)."""
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = ""
    return found


class ResultsCache:
    """A folder of per-method metric numbers, each file with its fingerprint.

    ``ResultsCache(folder)``: the folder is created on the first save. One
    file per kind of run, method and reviews (``<kind>-<method>-<hash>.npz``);
    a file is overwritten when the same method is asked for on the same reviews
    with another fingerprint. :attr:`loaded` and :attr:`computed` count what
    this object served and what it saved, for a chapter to print.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.loaded = 0
        self.computed = 0
        self._code = code_fingerprint()
        self._versions = versions()

    def __repr__(self) -> str:
        return f"ResultsCache({str(self.folder)!r})"

    def fingerprints(
        self, kind: str, model: nn.Module, methods, run: dict
    ) -> dict[str, dict | None]:
        """``{method name: fingerprint}``; ``None`` for a method whose settings
        cannot be described (it is not cached). ``run``: the run's settings,
        JSON-able, with the reviews' :func:`inputs_fingerprint`."""
        shared = {
            "kind": kind,
            "run": run,
            "model": model_fingerprint(model),
            "code": self._code,
            "versions": self._versions,
        }
        out = {}
        for name, method in methods.items():
            settings = getattr(method, "settings", lambda: None)()
            out[name] = None if settings is None else {**shared, "method": settings}
        return out

    def path(self, kind: str, name: str, run: dict) -> Path:
        """The file of method ``name``'s numbers of a ``kind`` run on ``run``'s
        reviews."""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "method"
        digest = hashlib.sha256(
            json.dumps([name, run.get("inputs")]).encode()
        ).hexdigest()[:16]
        return self.folder / f"{kind}-{slug}-{digest}.npz"

    def load(self, path: Path, fingerprint: dict | None) -> dict | None:
        """The arrays saved at ``path`` when its fingerprint is ``fingerprint``;
        ``None`` when there is no file, it is stale or it cannot be read."""
        if fingerprint is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as saved:
                if str(saved[_FINGERPRINT]) != _canonical(fingerprint):
                    return None
                arrays = {k: saved[k] for k in saved.files if k != _FINGERPRINT}
        except (
            OSError,
            ValueError,
            KeyError,
            EOFError,
            zipfile.BadZipFile,
        ):  # torn or foreign file
            return None
        self.loaded += 1
        return arrays

    def save(self, path: Path, fingerprint: dict | None, arrays: dict) -> None:
        """Write ``arrays`` and ``fingerprint`` to ``path``, whole or not at all
        (:mod:`helpers.atomic`); nothing for a ``None`` fingerprint."""
        if fingerprint is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_dead_temporaries(self.folder, r".+\.npz")
        staged = temporary(path)
        with open(staged, "wb") as handle:
            np.savez(handle, **arrays, **{_FINGERPRINT: _canonical(fingerprint)})
        os.replace(staged, path)
        self.computed += 1


class CachedRun:
    """One run's methods: those loaded from a cache and those to compute.

    ``CachedRun(cache, kind, model, methods, run)`` loads, for every method
    whose file has the fingerprint of this run, its arrays (:attr:`loaded`,
    ``{name: {array name: array}}``); :attr:`todo` lists the other methods,
    in ``methods``' order. With ``cache=None`` every method is to compute and
    nothing is saved. After computing, :meth:`add` and :meth:`save` write a
    method's arrays.
    """

    def __init__(self, cache: ResultsCache | None, kind: str, model, methods, run):
        self.cache = cache
        self.loaded: dict[str, dict[str, np.ndarray]] = {}
        self._where: dict[str, tuple[Path, dict | None]] = {}
        self._added: dict[str, dict[str, np.ndarray]] = {}
        if cache is not None:
            prints = cache.fingerprints(kind, model, methods, run)
            for name in methods:
                path = cache.path(kind, name, run)
                arrays = cache.load(path, prints[name])
                if arrays is None:
                    self._where[name] = (path, prints[name])
                else:
                    self.loaded[name] = arrays
        self.todo = [name for name in methods if name not in self.loaded]

    def add(self, name: str, key: str, array: np.ndarray) -> None:
        """Keep ``array`` under ``key`` to save with method ``name``'s numbers."""
        if self.cache is not None and name in self._where:
            self._added.setdefault(name, {})[key] = np.asarray(array)

    def save(self, name: str, arrays: dict) -> None:
        """Save method ``name``'s ``arrays`` (and what :meth:`add` kept)."""
        if self.cache is not None and name in self._where:
            path, fingerprint = self._where[name]
            extra = self._added.get(name, {})
            self.cache.save(path, fingerprint, {**arrays, **extra})


def as_cache(cache) -> ResultsCache | None:
    """``cache`` as a :class:`ResultsCache`: one, a folder, or ``None`` (none)."""
    if cache is None or isinstance(cache, ResultsCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return ResultsCache(cache)
    raise TypeError(
        f"cache must be a ResultsCache, a folder or None, got {type(cache).__name__}."
    )


def _canonical(value) -> str:
    """``value`` as one JSON string, keys sorted (what a file records)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
