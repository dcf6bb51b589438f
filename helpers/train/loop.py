"""The training loop: epochs, the learning-rate schedule, the best epoch kept.

:func:`train_classifier` fine-tunes a classifier as :class:`TrainSettings`
say. Batches hold reviews of similar length (length buckets, seeded
shuffles) and are padded to their longest review
(``transformers.DataCollatorWithPadding``); with ``cache_features`` only the
top layers run (:mod:`helpers.train.cache`). The ``"linear"`` schedule is
``transformers.get_linear_schedule_with_warmup``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

from ..config import seed_everything
from ..data import ReviewSet, TokenizedReviews, check_keep, model_max_length
from ..inputs import batches_by_length, to_device
from ..models import count_parameters, freeze_encoder, get_encoder_layers
from .amp import autocast, make_scaler, resolve_device
from .cache import cache_features, set_train_mode, top_forward
from .checkpoints import save_checkpoint
from .settings import TrainSettings, check_labels, check_reviews, check_schedule


@dataclass
class TrainResult:
    """What :func:`train_classifier` returns.

    ``history``: one dict per epoch (train_loss, train_acc, val_loss, val_acc,
    seconds, samples_per_s; ``seconds`` is the epoch's training and validation
    time only: the one-off feature caching runs before epoch 1 and is reported
    on its own as ``cache_seconds``); ``best_epoch``: 1-based
    epoch with the best validation accuracy (its weights are in the model);
    ``checkpoint``: where the best epoch was saved, if a ``checkpoint_dir``
    was given; ``settings``: the :class:`TrainSettings` as used (``head``
    resolved, ``warmup`` ``None`` for the constant rate, ``cache_features``
    as applied), with ``device``, ``train_size`` and ``val_size``;
    ``trained_on``: the :func:`~helpers.train.training_record` of a profile's
    model (set by :func:`~helpers.train.finetune_profile_model`).
    """

    history: list[dict]
    best_epoch: int
    trainable_parameters: int
    cache_seconds: float = 0.0
    checkpoint: Path | None = None
    settings: dict = field(default_factory=dict)
    trained_on: dict = field(default_factory=dict)

    @property
    def best(self) -> dict:
        """The history entry of the best epoch."""
        return self.history[self.best_epoch - 1]


def token_batches(tokenized: TokenizedReviews, collate, batches):
    """Yield padded token batches (dicts with labels) for lists of indices."""
    for idx in batches:
        yield collate([dict(tokenized[i]) for i in idx])


def run_epoch(
    model,
    batches,
    forward,
    *,
    optimizer=None,
    scaler=None,
    scheduler=None,
    device,
    dtype=None,
    desc="",
) -> dict:
    """One pass over ``batches`` (dicts with ``labels``); trains given an optimizer.

    ``forward(batch) -> logits``. Loss and accuracy are weighted by the real
    size of every batch (the last one may be smaller), unlike pytorch_advanced.
    ``scheduler`` (a learning-rate scheduler, optional) steps once after each
    optimizer step; a step the fp16 ``GradScaler`` skips (gradients with
    inf/NaN) does not count. ``dtype`` (e.g. ``torch.bfloat16``): autocast
    to it on any device, else the device's own autocast (none on a CPU).
    """
    num_labels = model.config.num_labels
    total_loss, correct, seen, start = 0.0, 0, 0, time.perf_counter()
    bar = tqdm(batches, desc=desc, leave=False)
    for batch in bar:
        labels = batch["labels"]
        check_labels(labels, num_labels)
        labels = labels.to(device)
        grad = torch.set_grad_enabled(optimizer is not None)
        with grad, autocast(device, dtype):
            logits = forward(batch)
            loss = F.cross_entropy(logits.float(), labels)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scale = scaler.get_scale() if scaler.is_enabled() else None
            scaler.step(optimizer)
            scaler.update()
            skipped = scale is not None and scaler.get_scale() < scale
            if scheduler is not None and not skipped:
                scheduler.step()
        n = len(labels)
        total_loss += float(loss.detach()) * n
        correct += int((logits.argmax(-1) == labels).sum())
        seen += n
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
    seconds = time.perf_counter() - start
    return {
        "loss": total_loss / seen,
        "acc": correct / seen,
        "seconds": seconds,
        "n": seen,
    }


class _Pipeline:
    """Batches and forward function for one data set: cached features or tokens."""

    def __init__(self, model, tokenizer, reviews, settings, head, device, desc):
        self.model, self.device, self.settings = model, device, settings
        self.tokenized = TokenizedReviews(
            tokenizer, reviews, settings.max_length, keep=settings.keep, head=head
        )
        self.collate = DataCollatorWithPadding(tokenizer)
        self.lengths = [len(f["input_ids"]) for f in self.tokenized.features]
        self.labels = torch.tensor(list(reviews.labels), dtype=torch.long)
        self.store = None
        if settings.cache_features and settings.trainable_layers is not None:
            self.n_frozen = len(get_encoder_layers(model)) - settings.trainable_layers
            self.store = cache_features(
                model,
                self.tokenized,
                self.collate,
                self.n_frozen,
                batch_size=max(settings.batch_size, 64),
                device=device,
                desc=desc,
                bf16=settings.bf16_cache,
            )

    def _indices(self, epoch: int | None) -> list[list[int]]:
        return batches_by_length(
            self.lengths,
            self.settings.batch_size,
            shuffle=epoch is not None,
            seed=self.settings.seed,
            epoch=epoch or 0,
        )

    def n_batches(self, epoch: int | None) -> int:
        """How many batches :meth:`batches` gives for ``epoch``."""
        return len(self._indices(epoch))

    def batches(self, epoch: int | None):
        """Index batches: shuffled buckets (``epoch`` given), else sorted by length."""
        idx = self._indices(epoch)
        if self.store is not None:
            self.store.check(self.model, self.n_frozen)
            return [{"index": i, "labels": self.labels[i]} for i in idx]
        return token_batches(self.tokenized, self.collate, idx)

    def forward(self, batch):
        if self.store is not None:
            hidden, mask = self.store.batch(batch["index"], self.device)
            layers = self.settings.trainable_layers
            return top_forward(self.model, hidden, mask, layers)
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "index")}
        return self.model(**to_device(inputs, self.device)).logits

    def close(self):
        if self.store is not None:
            self.store.close()


def _trainable_state(model) -> dict:
    return {
        k: v.detach().to("cpu", copy=True)
        for k, v in model.named_parameters()
        if v.requires_grad
    } | {k: v.detach().to("cpu", copy=True) for k, v in model.named_buffers()}


def _keep_epoch(history: list[dict], best_epoch: int, ties: list[int], rng) -> bool:
    """Whether the last epoch of ``history`` replaces ``best_epoch``.

    Better = higher ``val_acc``, then lower ``val_loss``. On an exact tie with
    the best so far, the new epoch wins with probability 1/k, where k counts
    the tied epochs seen (``ties[0]``, updated here): every tied epoch ends up
    equally likely (reservoir sampling), without waiting for the last one.
    """
    new = history[-1]
    if best_epoch == 0:
        ties[0] = 1
        return True
    old = history[best_epoch - 1]
    new_key = (new["val_acc"], -new["val_loss"])
    old_key = (old["val_acc"], -old["val_loss"])
    if new_key != old_key:
        if new_key > old_key:
            ties[0] = 1
        return new_key > old_key
    ties[0] += 1
    return bool(rng.random() < 1.0 / ties[0])


def make_scheduler(optimizer, schedule: str, total_steps: int, warmup: float = 0.1):
    """The learning-rate scheduler of ``schedule``; ``None`` for ``"constant"``.

    ``"linear"``: ``transformers.get_linear_schedule_with_warmup`` with
    ``int(warmup * total_steps)`` warm-up steps (the factor rises as
    ``step / w``, then falls to 0 at ``total_steps``), the schedule BERT was
    fine-tuned with. Step it once per optimizer step.
    """
    check_schedule(schedule, warmup)
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(
            f"total_steps must be a positive integer, got {total_steps!r}: count "
            "the optimizer steps of all epochs."
        )
    if schedule == "constant":
        return None
    return get_linear_schedule_with_warmup(
        optimizer, int(warmup * total_steps), total_steps
    )


def schedule_rates(
    total_steps: int, lr: float, schedule: str = "linear", warmup: float = 0.1
) -> list[float]:
    """The learning rate of each of ``total_steps`` optimizer steps, as training sets.

    Read from the scheduler :func:`make_scheduler` gives (for a figure).
    """
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=lr)
    scheduler = make_scheduler(optimizer, schedule, total_steps, warmup)
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradient: the weight stays; the scheduler may step
        if scheduler is not None:
            scheduler.step()
    return rates


def _fit(model, tokenizer, train, val, settings, device, checkpoint_dir):
    """The epochs; the model is left with the best one's weights. The history."""
    s = settings
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=s.lr, betas=(0.9, 0.999))
    steps = sum(train.n_batches(epoch) for epoch in range(1, s.epochs + 1))
    scheduler = make_scheduler(optimizer, s.schedule, steps, s.warmup)
    scaler = make_scaler(device)
    history, best_state, best_epoch = [], None, 0
    ties, tie_rng = [1], np.random.default_rng(s.seed)
    for epoch in range(1, s.epochs + 1):
        desc = f"epoch {epoch}/{s.epochs}"
        set_train_mode(model, s.trainable_layers)
        tr = run_epoch(
            model,
            train.batches(epoch),
            train.forward,
            optimizer=optimizer,
            scaler=scaler,
            scheduler=scheduler,
            device=device,
            dtype=torch.bfloat16 if s.bf16_train else None,
            desc=f"{desc} train",
        )
        model.eval()
        va = run_epoch(
            model, val.batches(None), val.forward, device=device, desc=f"{desc} val"
        )
        seconds = tr["seconds"] + va["seconds"]  # caching is cache_seconds
        history.append(
            {
                "epoch": epoch,
                "train_loss": tr["loss"],
                "train_acc": tr["acc"],
                "val_loss": va["loss"],
                "val_acc": va["acc"],
                "seconds": seconds,
                "samples_per_s": tr["n"] / seconds,
            }
        )
        if _keep_epoch(history, best_epoch, ties, tie_rng):
            best_epoch, best_state = epoch, _trainable_state(model)
            if checkpoint_dir is not None:
                info = {"history": history, "best_epoch": epoch}
                save_checkpoint(model, tokenizer, checkpoint_dir, info=info)
        print(
            f"epoch {epoch}: train loss {tr['loss']:.4f} acc {tr['acc']:.3f} | "
            f"val loss {va['loss']:.4f} acc {va['acc']:.3f} | {seconds:.1f}s"
        )
    model.load_state_dict(best_state, strict=False)
    return history, best_epoch


def _pipelines(model, tokenizer, sets, settings, head, device):
    """``(train, val, cache_seconds)``: both data sets tokenized (and cached)."""
    start = time.perf_counter()
    train, val = [
        _Pipeline(
            model,
            tokenizer,
            reviews,
            settings,
            head,
            device,
            f"caching {name} features",
        )
        for reviews, name in zip(sets, ("train", "val"), strict=True)
    ]
    if train.store is None:
        return train, val, 0.0
    seconds = time.perf_counter() - start
    print(
        f"feature caching: {seconds:.1f}s, once, before epoch 1 "
        "(not in the epoch times)"
    )
    return train, val, seconds


def train_classifier(
    model,
    tokenizer,
    train_set: ReviewSet,
    val_set: ReviewSet,
    settings: TrainSettings | None = None,
    *,
    device=None,
    checkpoint_dir=None,
) -> TrainResult:
    """Fine-tune ``model`` on ``train_set`` as ``settings`` say; pick on ``val_set``.

    ``settings``: a :class:`TrainSettings` (default ``TrainSettings()``). With
    ``cache_features`` the frozen bottom runs once per review, before epoch 1
    (:mod:`helpers.train.cache`), timed as ``result.cache_seconds``, not in
    any epoch's ``seconds``. Adam (betas 0.9/0.999), cross-entropy, seeded;
    on CUDA (the default ``device`` when there is one) autocast (bf16, or
    fp16 with a GradScaler); with ``bf16_train`` the training steps run
    under bf16 autocast on any device, the CPU included. Each epoch that
    improves validation is saved to ``checkpoint_dir`` (atomically, when
    given). The model is left in eval mode with the best epoch's weights:
    highest validation accuracy, then lowest loss; exact ties drawn at random
    (seeded), not by position.
    """
    s = TrainSettings() if settings is None else settings
    if not isinstance(s, TrainSettings):
        raise TypeError(
            f"settings must be a TrainSettings, got {type(s).__name__}: pass "
            "TrainSettings(epochs=..., lr=..., ...)."
        )
    num_labels = model.config.num_labels
    check_reviews(train_set, "train_set", num_labels)
    check_reviews(val_set, "val_set", num_labels)
    head = check_keep(s.keep, s.head, model_max_length(tokenizer, s.max_length))
    device = resolve_device(device)
    seed_everything(s.seed)
    model.to(device)
    freeze_encoder(model, s.trainable_layers)
    train, val, cache_seconds = _pipelines(
        model, tokenizer, (train_set, val_set), s, head, device
    )
    try:
        history, best_epoch = _fit(
            model, tokenizer, train, val, s, device, checkpoint_dir
        )
    finally:
        train.close()
        val.close()
    model.eval()
    used = asdict(s) | {
        "head": head,
        "warmup": s.warmup if s.schedule == "linear" else None,
        "cache_features": train.store is not None,
        "device": str(device),
        "train_size": len(train_set),
        "val_size": len(val_set),
    }
    where = Path(checkpoint_dir) if checkpoint_dir is not None else None
    return TrainResult(
        history, best_epoch, count_parameters(model), cache_seconds, where, used
    )
