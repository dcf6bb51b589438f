"""What a training run is given, checked before any model work.

:class:`TrainSettings` holds how to train (one frozen object instead of a
dozen keywords); :func:`check_reviews` and :func:`check_labels` check the data.
Every error names the fix.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch

from ..config import Profile, get_profile
from ..data import check_keep

#: Learning-rate schedules: the same rate throughout, or warm-up then linear decay.
SCHEDULES = ("constant", "linear")

#: The :class:`TrainSettings` fields a :class:`~helpers.config.Profile` sets.
PROFILE_FIELDS = ("epochs", "lr", "batch_size", "max_length", "trainable_layers")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainSettings:
    """How :func:`helpers.train.train_classifier` fine-tunes a classifier.

    * ``epochs``, ``lr`` (Adam, betas 0.9/0.999), ``batch_size``;
    * ``max_length``: tokens read per review (at most the model's 512);
      ``keep``/``head``: which tokens of a longer review, ``"head"`` (the
      first ones) or ``"head+tail"`` (the first ``head``, default a quarter,
      and the last ones; :func:`helpers.data.tokenize_truncated`);
    * ``trainable_layers``: how many top encoder layers learn, with the head
      (``None``: all of the model, embeddings included);
    * ``cache_features``: run the frozen bottom once per review and train on
      its cached output (ignored when ``trainable_layers`` is ``None``);
      ``bf16_cache``: run that caching pass under bf16 autocast on every
      device (its matrix products round to bf16's 8 significant bits; on a
      CPU with bf16 instructions it took about 40 % less time in one
      measurement), else under
      the device's own (none on a CPU, :func:`helpers.train.amp.autocast`);
    * ``bf16_train``: run the training steps' forward and backward passes
      under bf16 autocast on every device (the optimizer and the weights it
      updates stay float32; validation runs under the device's own autocast),
      else under the device's own;
    * ``schedule``: ``"constant"`` (the rate ``lr`` throughout) or
      ``"linear"`` (warm-up over the first ``warmup`` of all optimizer steps,
      then linear decay to 0: ``transformers.get_linear_schedule_with_warmup``);
    * ``seed``: seeds every random choice of the run.

    Invalid values raise ``ValueError`` when the settings are made. Change
    some with :meth:`with_`; :meth:`from_profile` reads a book profile.
    """

    epochs: int = 2
    lr: float = 5e-5
    batch_size: int = 32
    max_length: int = 256
    trainable_layers: int | None = 1
    cache_features: bool = True
    bf16_cache: bool = False
    bf16_train: bool = False
    keep: str = "head"
    head: int | None = None
    schedule: str = "constant"
    warmup: float = 0.1
    seed: int = 1234

    def __post_init__(self):
        for name, low in (("epochs", 1), ("batch_size", 1), ("max_length", 3)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(
                    f"{name} must be an integer >= {low}, got {value!r}: pass e.g. "
                    f"{name}={getattr(TrainSettings, name)}."
                )
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float):
            raise ValueError(f"lr must be a number, got {self.lr!r}: pass e.g. 3e-4.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(
                f"lr must be a positive finite number, got {self.lr!r}: pass e.g. 3e-4."
            )
        layers = self.trainable_layers
        if layers is not None and (not _is_int(layers) or layers < 0):
            raise ValueError(
                f"trainable_layers must be an integer >= 0 or None, got {layers!r}: "
                "pass 1 (the top layer learns), 0 (only the head) or None (all)."
            )
        for name in ("cache_features", "bf16_cache", "bf16_train"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"{name} must be True or False, got {getattr(self, name)!r}."
                )
        if not _is_int(self.seed):
            raise ValueError(f"seed must be an integer, got {self.seed!r}: e.g. 1234.")
        # checked again against the tokenizer's own limit when training
        check_keep(self.keep, self.head, self.max_length)
        check_schedule(self.schedule, self.warmup)

    @classmethod
    def from_profile(cls, profile: Profile | None = None, **changes) -> TrainSettings:
        """The settings chapter 2 trains a profile's model with (then ``changes``).

        ``epochs``, ``lr``, ``batch_size``, ``max_length``,
        ``trainable_layers`` and ``seed`` from ``profile`` (default: the
        current one); the first tokens of a review and a constant rate.
        """
        profile = profile or get_profile()
        fields = {name: getattr(profile, name) for name in PROFILE_FIELDS}
        return cls(**fields, seed=profile.seed).with_(**changes)

    def with_(self, **changes) -> TrainSettings:
        """A copy with some fields changed (checked again), e.g. ``with_(epochs=1)``."""
        unknown = sorted(set(changes) - set(asdict(self)))
        if unknown:
            raise TypeError(
                f"TrainSettings has no field {', '.join(unknown)}: use one of "
                f"{', '.join(asdict(self))}."
            )
        return replace(self, **changes)


def check_schedule(schedule: str, warmup: float) -> None:
    """Raise ``ValueError`` naming the fix for a bad ``schedule`` or ``warmup``."""
    if schedule not in SCHEDULES:
        raise ValueError(
            f"schedule must be one of {', '.join(map(repr, SCHEDULES))}, got "
            f"{schedule!r}: pass schedule='constant' (the same rate throughout) or "
            "schedule='linear' (warm-up, then linear decay to 0)."
        )
    if (
        isinstance(warmup, bool)
        or not isinstance(warmup, int | float)
        or not 0 <= warmup <= 1
    ):
        raise ValueError(
            f"warmup must be a fraction of the optimisation steps from 0 to 1, got "
            f"{warmup!r}: pass e.g. warmup=0.1 (the first 10 % of the steps)."
        )


def check_labels(labels, num_labels: int = 2) -> None:
    """Raise ``ValueError`` when a label is not an integer in ``range(num_labels)``."""
    values = torch.as_tensor(labels)
    if values.is_floating_point() or values.dtype == torch.bool:
        raise ValueError(
            f"Labels must be integers 0..{num_labels - 1}, got dtype {values.dtype}."
        )
    bad = ((values < 0) | (values >= num_labels)).nonzero().flatten()
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"Label {int(values.flatten()[i])} at position {i} is outside "
            f"range({num_labels}): use 0 = negative, 1 = positive (or load the model "
            f"with num_labels > {int(values.max())})."
        )


def check_reviews(reviews, name: str, num_labels: int = 2) -> None:
    """Check a :class:`~helpers.data.ReviewSet` (texts + labels) before model work."""
    if not hasattr(reviews, "texts") or not hasattr(reviews, "labels"):
        raise TypeError(
            f"{name} must be a helpers.data.ReviewSet (texts, labels), got "
            f"{type(reviews).__name__}."
        )
    if len(reviews.texts) == 0:
        raise ValueError(
            f"{name} is empty: give it at least one review (check load_reviews / "
            "train_val_split)."
        )
    check_labels(list(reviews.labels), num_labels)
