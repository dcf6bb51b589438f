"""Settings of the book's small Japanese BERTs: size, vocabulary, training.

:class:`JapaneseSettings` describes the model trained on chABSA alone (and
the size and fine-tuning of every offline Japanese model);
:class:`PretrainSettings` adds the masked-LM stage of the *everyday* model.
Both are frozen dataclasses; their :func:`dataclasses.asdict` is part of the
fingerprint that names a cached model, so a change of setting trains a new
model instead of reusing a stale one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..train import TrainSettings


@dataclass(frozen=True)
class JapaneseSettings:
    """Size and training settings of the offline Japanese BERT (trained from scratch).

    The defaults were tuned on chABSA (validation part of train; each field
    says why). Test accuracy on chABSA's 843 test sentences:
    about 0.81, beside two baselines measured on the same sentences (majority
    class of the training labels about 0.59, bag-of-words logistic regression
    on the same MeCab words about 0.82; ``bench/bench_japanese.py``).
    A 4-layer variant takes about twice as long per epoch, too slow for the
    quick profile on a shared 2-core machine; pass ``JapaneseSettings(layers=4)``
    to try it.
    """

    #: Encoder layers (2; a 4-layer model takes about twice as long per epoch).
    layers: int = 2
    #: Hidden size, a multiple of ``heads``.
    hidden: int = 128
    heads: int = 4
    intermediate: int = 256
    #: Tokens per sentence (about 1.5 % of chABSA's sentences are longer).
    max_length: int = 128
    #: Vocabulary: MeCab words seen at least ``min_freq`` times, and with
    #: ``base_chars`` every kana, CJK and ASCII character
    #: (:func:`helpers.ja.corpus.build_vocab`).
    min_freq: int = 2
    base_chars: bool = True
    #: Training (:func:`helpers.train.train_classifier`, Adam at a constant
    #: rate, high as the model starts from random weights; the best epoch on
    #: the validation part is kept: it peaked at epoch 2 to 4 in our runs).
    epochs: int = 4
    lr: float = 1e-3
    batch_size: int = 32
    #: Share of chABSA train held out for validation, and the seed of everything.
    val_fraction: float = 0.2
    seed: int = 1234

    def training(self) -> TrainSettings:
        """These settings as :class:`helpers.train.TrainSettings`: full fine-tuning
        (every layer learns, no feature cache)."""
        names = ("epochs", "lr", "batch_size", "max_length", "seed")
        return TrainSettings(
            **{name: getattr(self, name) for name in names},
            trainable_layers=None,
            cache_features=False,
        )


#: The settings of the chABSA-only model (the default argument of its functions).
DEFAULTS = JapaneseSettings()


def model_positions(settings: JapaneseSettings) -> int:
    """Position embeddings of the offline model: ``max_length`` (at least 64)."""
    return max(settings.max_length, 64)


@dataclass(frozen=True)
class PretrainSettings:
    """Settings of the everyday Japanese model: architecture and fine-tuning, then MLM.

    ``model``: size, vocabulary (``min_freq=1``: every training word is a
    token), fine-tuning epochs (the best on validation is kept), learning
    rate, ``val_fraction`` of chABSA train held out, ``seed``.
    ``train_transcriptions``: also fine-tune on the emotion transcriptions of
    ETC train (the texts the annotators labelled). ``mlm_*``:
    masked-LM pretraining (AdamW, linear warm-up over ``warmup_fraction`` of
    the steps then linear decay: ``transformers.get_linear_schedule_with_warmup``).

    Measured on validation (ETC valid + chABSA validation part; 2026-11-29,
    one seed each, so differences of about 1 point are noise): fine-tuning
    at 5e-4 peaked at epoch 2-3, so 3 epochs are run (0.827 after 12 MLM
    epochs; 0.825 at 2e-4; 1e-3 overfits by epoch 2); the transcriptions
    raised the bag of words' ETC validation accuracy from 0.796 to 0.813;
    freezing the pretrained embeddings during fine-tuning fell to 0.72.
    12 MLM epochs gave 0.827, 4 gave 0.814, within the noise; 4 are kept
    because 12 take about 9 minutes on a shared 2-core machine
    (``PretrainSettings(mlm_epochs=12)`` for more).
    """

    model: JapaneseSettings = field(
        default_factory=lambda: JapaneseSettings(min_freq=1, epochs=3, lr=5e-4)
    )
    #: Also fine-tune on the emotion transcriptions of ETC train.
    train_transcriptions: bool = True
    #: Masked-LM pretraining: epochs, AdamW rate, batch size, tokens per text.
    mlm_epochs: int = 4
    mlm_lr: float = 1e-3
    mlm_batch_size: int = 64
    mlm_max_length: int = 64
    #: Share of the tokens chosen for masking (BERT's 15 %).
    mask_prob: float = 0.15
    #: Linear warm-up over this share of the steps, then linear decay.
    warmup_fraction: float = 0.06
    weight_decay: float = 0.01
