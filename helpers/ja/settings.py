"""Settings of the book's Japanese model, the e5 sentiment model.

:class:`SentimentSettings` says how multilingual-e5-small is fine-tuned for
sentiment (:mod:`helpers.ja.model`). A frozen dataclass; its
:func:`dataclasses.asdict` is part of the fingerprint that names the cached
model, so a change of setting trains a new model instead of reusing a stale one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Profile
from ..train import TrainSettings


def _e5_training() -> TrainSettings:
    return TrainSettings(
        epochs=2,
        lr=2e-4,
        batch_size=32,
        max_length=512,
        trainable_layers=6,
        cache_features=True,
        bf16_cache=True,
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
    to the longest training sentence's tokens, measured on the data. The
    caching pass runs under bf16 autocast (``bf16_cache``): at the quick
    profile's settings it took 64 s of CPU time instead of 115 s, and the
    validation accuracy was 0.877 instead of 0.879 in float32, 2 of 903
    sentences (one seeded run each on one thread, ``bench/bench_ja.py
    --bf16-cache`` and ``--no-bf16-cache``; adopted because it was not lower
    by more than 0.011, one standard error of an accuracy near 0.88 on 903
    sentences). Training the top layers under bf16 autocast too
    (``bf16_train``) was measured and left off: the 3 epochs took 233 s of
    CPU time instead of 383 s and the validation accuracy was 0.878 instead
    of 0.877 (one seeded run each on one thread, ``bench/bench_ja.py
    --bf16-train``), but the prepare step's peak memory on two threads rose
    from 3.64 to 3.99 GiB, at the 4 GB it is allowed.
    ``prefix``: what multilingual-e5 reads before every sentence, ``""``
    for nothing (:func:`helpers.ja.e5.with_prefix`: part of the saved
    tokenizer, its pieces hidden from explanations). e5 was pretrained on
    texts behind ``"query: "`` (its model card's prefix for classification);
    fine-tuned behind it, the top 4 layers (3 epochs, ``lr`` 1e-4) did not do
    better on the validation sentences than without it (one seeded run each,
    ``bench/bench_ja.py --prefix``), and it lengthens every sentence by 3
    tokens, so the book's model reads none.
    ``train_transcriptions``: also train on the emotion transcriptions of
    ETC train; ``val_fraction`` of chABSA train is held out for validation
    (stratified, ``seed``). The training set is balanced as it is (about
    50 % positive), so no class weights.

    The number of layers was chosen on validation only (ETC valid and the
    held-out part of chABSA train; test never looked at): 6 in the full
    profile (2 epochs at ``lr`` 2e-4). The quick profile (:meth:`for_profile`)
    trains the top 4 for 3 epochs at ``lr`` 1e-4 on sentences cut to 128
    tokens, chosen on the same validation sentences by ``bench/bench_ja.py``
    among the top 2 (2 or 4 epochs, ``lr`` 2e-4 or 1e-4), the top 3 (4
    epochs, ``lr`` 2e-4) and the top 4 (3 epochs, ``lr`` 1e-4 or 2e-4), one
    seeded run each: a bet rather than a finding, since the gaps between
    settings were of the size a reseed can make (those runs trained in
    float32). It takes minutes (``python -m
    helpers.book.prepare`` prints the seconds it took); the chapter prints the
    test scores of the model it loads.
    """

    training: TrainSettings = field(default_factory=_e5_training)
    prefix: str = ""
    train_transcriptions: bool = True
    val_fraction: float = 0.2
    seed: int = 1234

    @classmethod
    def for_profile(cls, profile: Profile) -> SentimentSettings:
        """The settings with ``profile``'s layers, epochs, rate and length ceiling."""
        training = _e5_training().with_(
            trainable_layers=profile.ja_trainable_layers,
            max_length=profile.ja_max_length,
            epochs=profile.ja_epochs,
            lr=profile.ja_lr,
        )
        return cls(training=training)
