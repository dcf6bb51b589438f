"""Settings of the book's Japanese models: the e5 sentiment model, the tiny BERT.

:class:`SentimentSettings` says how multilingual-e5-small is fine-tuned for
sentiment (:mod:`helpers.ja.model`); :class:`JapaneseSettings` sizes the
untrained MeCab BERT the appendix builds. Both are frozen dataclasses; the
:func:`dataclasses.asdict` of :class:`SentimentSettings` is part of the
fingerprint that names the cached model, so a change of setting trains a new
model instead of reusing a stale one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..train import TrainSettings


def _e5_training() -> TrainSettings:
    return TrainSettings(
        epochs=2,
        lr=2e-4,
        batch_size=32,
        max_length=512,
        trainable_layers=6,
        cache_features=True,
        schedule="linear",
        warmup=0.1,
        seed=1234,
    )


@dataclass(frozen=True)
class SentimentSettings:
    """How the e5 sentiment model is trained (:func:`helpers.ja.load_e5_sentiment`).

    ``training``: :class:`helpers.train.TrainSettings` (the top
    ``trainable_layers`` encoder layers and the head learn, on features of
    the frozen bottom cached once; linear warm-up and decay; the best epoch on
    validation is kept). Its ``max_length`` is a ceiling: the model reads up
    to the longest training sentence's tokens, measured on the data.
    ``train_transcriptions``: also train on the emotion transcriptions of
    ETC train; ``val_fraction`` of chABSA train is held out for validation
    (stratified, ``seed``). The training set is balanced as it is (about
    50 % positive), so no class weights.

    Chosen on validation only (ETC valid + chABSA validation part, 903
    sentences; 2026-12-06, one seed each, on a shared 2-core machine, one
    thread): the top 4 layers at 2e-4 reached 0.863 (epoch 1 of 2), the top
    6 layers 0.873 (epoch 2 of 2), so 6 learn; the 6-layer run took about
    14 minutes there, the 4-layer one about 10.
    """

    training: TrainSettings = field(default_factory=_e5_training)
    train_transcriptions: bool = True
    val_fraction: float = 0.2
    seed: int = 1234


@dataclass(frozen=True)
class JapaneseSettings:
    """Size of a small BERT for the MeCab tokenizer (the appendix's, untrained).

    ``max_length``: tokens per sentence; the vocabulary keeps the MeCab words
    seen at least ``min_freq`` times and, with ``base_chars``, every kana,
    CJK and ASCII character (:func:`helpers.ja.corpus.build_vocab`).
    """

    layers: int = 2
    #: Hidden size, a multiple of ``heads``.
    hidden: int = 128
    heads: int = 4
    intermediate: int = 256
    max_length: int = 128
    min_freq: int = 2
    base_chars: bool = True
    seed: int = 1234


def model_positions(settings: JapaneseSettings) -> int:
    """Position embeddings of the small model: ``max_length`` (at least 64)."""
    return max(settings.max_length, 64)
