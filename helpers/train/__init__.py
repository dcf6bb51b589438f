"""Fine-tuning a BERT sentiment classifier, fast where it matters (chapter 2).

Chapters call it module-qualified: ``from helpers import train`` …
``train.train_classifier(model, tokenizer, train_set, val_set,
train.TrainSettings(epochs=2))``. One module per idea:

* :mod:`~helpers.train.settings`: :class:`TrainSettings` (how to train, one
  checked object) and the input checks;
* :mod:`~helpers.train.amp`: the device and mixed precision;
* :mod:`~helpers.train.cache`: the frozen bottom run once per review, its
  :class:`FeatureCache` (which records what it was made from), the top;
* :mod:`~helpers.train.loop`: :func:`train_classifier`, epochs, the schedule
  (``transformers.get_linear_schedule_with_warmup``), the best epoch;
* :mod:`~helpers.train.evaluation`: :func:`predict_logits`, :func:`evaluate`,
  :func:`scores_from_logits`, :func:`misclassified`;
* :mod:`~helpers.train.checkpoints`: atomic saving, checked loading, the
  train-once cache rule (:func:`ensure_checkpoint`);
* :mod:`~helpers.train.finetuned`: the chapter-2 model
  (:func:`get_finetuned_model`) and :func:`train_fresh`, the one way to seed,
  load and fine-tune a new classifier.

Chapter 2's figures are in :mod:`helpers.book.train_plots`.
"""

from .amp import autocast, make_scaler, resolve_device
from .cache import (
    CACHE_IN_MEMORY_BYTES,
    CacheSource,
    FeatureCache,
    bottom_forward,
    cache_features,
    cls_only_layer,
    set_train_mode,
    top_forward,
)
from .checkpoints import (
    CHECKSUMS,
    TRAINING_INFO,
    check_checkpoint,
    checkpoint_problem,
    ensure_checkpoint,
    load_checkpoint,
    read_training_info,
    save_checkpoint,
)
from .evaluation import evaluate, misclassified, predict_logits, scores_from_logits
from .finetuned import (
    TRAINING_SETTINGS,
    checkpoint_mismatch,
    checkpoint_path,
    differing_keys,
    finetune_profile_model,
    get_finetuned_model,
    profile_data,
    train_fresh,
    training_record,
)
from .loop import (
    TrainResult,
    make_scheduler,
    run_epoch,
    schedule_rates,
    token_batches,
    train_classifier,
)
from .settings import SCHEDULES, TrainSettings, check_labels, check_reviews

__all__ = [
    "CACHE_IN_MEMORY_BYTES",
    "CHECKSUMS",
    "SCHEDULES",
    "TRAINING_INFO",
    "TRAINING_SETTINGS",
    "CacheSource",
    "FeatureCache",
    "TrainResult",
    "TrainSettings",
    "autocast",
    "bottom_forward",
    "cache_features",
    "check_checkpoint",
    "check_labels",
    "check_reviews",
    "checkpoint_mismatch",
    "checkpoint_path",
    "checkpoint_problem",
    "cls_only_layer",
    "differing_keys",
    "ensure_checkpoint",
    "evaluate",
    "finetune_profile_model",
    "get_finetuned_model",
    "load_checkpoint",
    "make_scaler",
    "make_scheduler",
    "misclassified",
    "predict_logits",
    "profile_data",
    "read_training_info",
    "resolve_device",
    "run_epoch",
    "save_checkpoint",
    "schedule_rates",
    "scores_from_logits",
    "set_train_mode",
    "token_batches",
    "top_forward",
    "train_classifier",
    "train_fresh",
    "training_record",
]
