"""Chapter 9's corpus runs: the profile's test sample explained, shard by shard.

:func:`explain_test_sample` is the call both the prepare step and chapter 9
make: it explains :func:`sample_reviews` with chapter 6's recommended methods
(:data:`helpers.explain.DEFAULT_METHODS`: AttnLRP, and ``[CLS]`` attention
beside it) into ``<data>/corpus/<profile>-<method>-<fingerprint>``. The
folder's name hashes the model's weights, the tokenizer, the reviews and the
settings, so a retrained model gets a new folder; finished shards load.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

from .. import corpus, data, train
from ..config import Profile, data_dir, get_profile
from ..explain import DEFAULT_METHODS
from ..models import ModelLoadError


def sample_reviews(profile: Profile) -> data.ReviewSet:
    """The reviews chapter 9 explains: ``profile.corpus_reviews`` of the
    profile's test sample, drawn with its seed (all of it when ``None``)."""
    test = data.load_reviews("test", profile)
    n = profile.corpus_reviews
    if n is None or n >= len(test.texts):
        picked = list(range(len(test.texts)))
    else:
        picked = sorted(random.Random(profile.seed).sample(range(len(test.texts)), n))
    ids = test.ids or [str(i) for i in range(len(test.texts))]
    return data.ReviewSet(
        texts=[test.texts[i] for i in picked],
        labels=[test.labels[i] for i in picked],
        source=f"{test.source}: {len(picked)} reviews (seed {profile.seed})",
        ids=[ids[i] for i in picked],
    )


def run_folder(profile: Profile, model, tokenizer, reviews, method: str) -> Path:
    """``<data>/corpus/<profile>-<method>-<12 hex digits>`` for this run."""
    record = corpus.fingerprint(
        model,
        tokenizer,
        reviews.texts,
        reviews.ids,
        method=method,
        max_length=profile.corpus_max_length,
    )
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", method).strip("-").lower()
    return data_dir() / "corpus" / f"{profile.name}-{slug}-{digest[:12]}"


def explain_test_sample(
    profile: Profile | None = None,
    *,
    methods=DEFAULT_METHODS,
    train_model: bool = True,
) -> dict[str, Path]:
    """Explain :func:`sample_reviews` with each of ``methods`` using chapter 2's
    model; ``{method: folder}`` for :mod:`helpers.corpus_views`.

    Finished folders load (a rerun computes nothing). ``train_model=False``
    (the prepare step) raises :class:`helpers.models.ModelLoadError` instead
    of fine-tuning when chapter 2 has not saved its model yet: that training
    is chapter 2's lesson.
    """
    profile = profile or get_profile()
    if (
        not train_model
        and not (train.checkpoint_path(profile) / "config.json").exists()
    ):
        raise ModelLoadError(
            "chapter 2 has not fine-tuned its model yet: run chapter 2 first"
        )
    tokenizer, model = train.get_finetuned_model(profile, attn_implementation="eager")
    reviews = sample_reviews(profile)
    folders = {}
    for method in methods:
        out = run_folder(profile, model, tokenizer, reviews, method)
        folders[method] = corpus.explain_corpus(
            model,
            tokenizer,
            reviews.texts,
            method,
            out,
            ids=reviews.ids,
            max_length=profile.corpus_max_length,
        )
    return folders
