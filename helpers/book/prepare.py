"""The prepare step: what chapters load but do not teach, built before they run.

``make book`` runs ``python -m helpers.book.prepare`` and then executes the
chapters. Each entry of :data:`ARTEFACTS` is built by the very call its
chapter makes, with the profile and data folders that both read from the
environment, so the chapter finds the fingerprinted cache and only loads it.
Opened without the prepare step (in Jupyter, say), the chapter makes what
is missing itself, with the same call. Training that *is* a chapter's lesson
(chapter 2's fine-tuning) stays in its chapter.

``--record FILE`` (``make book`` passes ``_build/prepared.json``) writes what
each artefact is made of (:func:`fingerprint`) and the chapter that loads it,
so ``.ci/build_book.py`` executes that chapter again when it changed.
``--chapter FILE`` prepares only that chapter's artefacts: after a build in
which a chapter made a skipped artefact itself (chapter 9's corpus run, before
chapter 2 had saved its model), the build script records what the chapter
made, so the next ``make book``, whose prepare step finds it, executes nothing
again.

A new artefact is one more :class:`Artefact` in :data:`ARTEFACTS`: a name,
the chapter, the call, and a ``build`` that trains or downloads into a
fingerprinted cache with progress bars (:func:`helpers.train.ensure_checkpoint`
for a model).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


def fingerprint(built) -> str:
    """SHA-256 of what an artefact's ``build`` returned, for a later ``make book``.

    Each folder it names (a path, a ``{name: folder}`` dict, or a model's or
    tokenizer's ``name_or_path``) counts with every file's name and content
    (a file written again with the same bytes, such as a corpus run's
    ``index.json``, changes nothing); any other string in it (a description,
    a hub name) counts as written.
    """
    digest, items = hashlib.sha256(), [built]
    while items:
        item = items.pop(0)
        if isinstance(item, dict):
            items += item.values()
            continue
        if isinstance(item, tuple | list):
            items += item
            continue
        name = getattr(item, "name_or_path", item)
        if isinstance(name, str | os.PathLike) and Path(name).is_dir():
            for path in sorted(Path(name).rglob("*")):
                if path.is_file():
                    digest.update(f"{path}\0{path.stat().st_size}\0".encode())
                    with path.open("rb") as file:
                        while chunk := file.read(1 << 20):
                            digest.update(chunk)
        elif isinstance(name, str):
            digest.update(f"{name}\0".encode())
    return digest.hexdigest()


def prepare(
    artefacts: Sequence[Artefact] = ARTEFACTS,
    profile: Profile | None = None,
    record: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Build or load every artefact; print and return the seconds each took.

    An artefact whose data is not here is skipped with a line saying so;
    any other error stops the step (and ``make book``). ``record``: a JSON
    file to write ``{artefact: {"chapter": its chapter's file, "fingerprint":
    its fingerprint, or "skipped"}}`` to.
    """
    profile = profile or get_profile()
    print(f"prepare: profile {profile.name}, data folder {data_dir()}")
    seconds, made = {}, {}
    for artefact in artefacts:
        print(f"prepare: {artefact.name} ({artefact.chapter}: {artefact.call})")
        start = time.perf_counter()
        try:
            made[artefact.name] = fingerprint(artefact.build(profile))
            status = "ready"
        except (DataError, ModelLoadError) as err:
            made[artefact.name] = "skipped"
            status = (
                f"skipped, its data is not here ({str(err).splitlines()[0]}); "
                "the chapter says how to get it"
            )
        seconds[artefact.name] = time.perf_counter() - start
        print(f"prepare: {artefact.name}: {status} in {seconds[artefact.name]:.1f} s")
    print(f"prepare: done in {sum(seconds.values()):.1f} s")
    if record is not None:
        Path(record).parent.mkdir(parents=True, exist_ok=True)
        by_name = {a.name: a.chapter for a in artefacts}
        made = {
            name: {"chapter": by_name[name], "fingerprint": sha}
            for name, sha in made.items()
        }
        Path(record).write_text(json.dumps(made, indent=1), encoding="utf-8")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.book.prepare``: prepare every artefact of the book."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", help="a JSON file for the artefacts' fingerprints")
    parser.add_argument(
        "--chapter",
        action="append",
        help="only the artefacts this chapter loads (notebooks/09_corpus.py); "
        "may be given more than once",
    )
    args = parser.parse_args(argv)
    artefacts = ARTEFACTS
    if args.chapter:
        known = sorted({a.chapter for a in ARTEFACTS})
        unknown = [c for c in args.chapter if c not in known]
        if unknown:
            parser.error(
                f"no artefact is loaded by {', '.join(unknown)}; "
                f"--chapter takes one of {', '.join(known)}"
            )
        artefacts = tuple(a for a in ARTEFACTS if a.chapter in args.chapter)
    prepare(artefacts, record=args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
