"""The prepare step: what chapters load but do not teach, built before they run.

``make book`` runs ``python -m helpers.book.prepare`` and then executes the
chapters. Each entry of :data:`ARTEFACTS` is built by the very call its
chapter makes, with the profile and data folders that both read from the
environment, so the chapter finds the fingerprinted cache and only loads it.
Opened without the prepare step (in Jupyter, say), the chapter makes what
is missing itself, with the same call. Training that *is* a chapter's lesson
(chapter 2's fine-tuning) stays in its chapter.

A new artefact is one more :class:`Artefact` in :data:`ARTEFACTS`: a name,
the chapter, the call, and a ``build`` that trains or downloads into a
fingerprinted cache with progress bars (:func:`helpers.train.ensure_checkpoint`
for a model).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import ja
from ..config import Profile, data_dir, get_profile
from ..data import DataError
from ..models import ModelLoadError
from . import corpus_sample


@dataclass(frozen=True)
class Artefact:
    """One thing a chapter needs that is not its lesson.

    ``chapter``: the chapter's file (``notebooks/04_gradcam.py``); ``call``:
    the call that loads it there, as the chapter writes it;
    ``build(profile)``: that same call, which loads what its cache holds and
    makes the rest. It raises :class:`helpers.data.DataError` or
    :class:`helpers.models.ModelLoadError` when the data it needs is not on
    this machine (the chapter then says how to get it).
    """

    name: str
    chapter: str
    call: str
    build: Callable[[Profile], object]


#: What ``make book`` prepares, in this order.
ARTEFACTS: tuple[Artefact, ...] = (
    Artefact(
        name="Japanese sentiment model",
        chapter="notebooks/04_gradcam.py",
        call="ja.get_japanese_model(profile)",
        build=ja.get_japanese_model,
    ),
    Artefact(
        name="test sample explained (AttnLRP, [CLS] attention)",
        chapter="notebooks/09_corpus.py",
        call="corpus_sample.explain_test_sample(profile)",
        build=functools.partial(corpus_sample.explain_test_sample, train_model=False),
    ),
)


def prepare(
    artefacts: Sequence[Artefact] = ARTEFACTS, profile: Profile | None = None
) -> dict[str, float]:
    """Build or load every artefact; print and return the seconds each took.

    An artefact whose data is not here is skipped with a line saying so;
    any other error stops the step (and ``make book``).
    """
    profile = profile or get_profile()
    print(f"prepare: profile {profile.name}, data folder {data_dir()}")
    seconds = {}
    for artefact in artefacts:
        print(f"prepare: {artefact.name} ({artefact.chapter}: {artefact.call})")
        start = time.perf_counter()
        try:
            artefact.build(profile)
            status = "ready"
        except (DataError, ModelLoadError) as err:
            status = (
                f"skipped, its data is not here ({str(err).splitlines()[0]}); "
                "the chapter says how to get it"
            )
        seconds[artefact.name] = time.perf_counter() - start
        print(f"prepare: {artefact.name}: {status} in {seconds[artefact.name]:.1f} s")
    print(f"prepare: done in {sum(seconds.values()):.1f} s")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.book.prepare``: prepare every artefact of the book."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    prepare()
    return 0


if __name__ == "__main__":
    sys.exit(main())
