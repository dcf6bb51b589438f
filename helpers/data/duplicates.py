"""Reviews held more than once: within a split, and across two (a train–test leak).

* :func:`normalise_whitespace` / :func:`same_text`: the rule reviews are
  compared by;
* :func:`count_duplicates` counts them and returns :class:`Duplicates`, whose
  ``describe()`` says what it found in sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

from .imdb import ReviewSet


def normalise_whitespace(text: str) -> str:
    """``text`` with every run of whitespace made one space, and none at the ends.

    The rule :func:`count_duplicates` compares reviews by: two reviews are the
    same when their normalised texts are equal, character for character (case,
    punctuation and ``<br />`` breaks, already spaces after
    :func:`.imdb.strip_line_breaks`, count).
    """
    return " ".join(text.split())


def same_text(a: str, b: str) -> bool:
    """Whether two reviews are the same text after :func:`normalise_whitespace`."""
    return normalise_whitespace(a) == normalise_whitespace(b)


@dataclass
class Duplicates:
    """What :func:`count_duplicates` found.

    ``extra[name]``: reviews of split ``name`` that repeat an earlier review of
    the same split (a text held three times counts 2); ``conflicts[name]``:
    texts of that split held with more than one label. ``shared``: distinct
    texts found in both splits; ``shared_agree``: those of them whose every
    copy, in both splits, has the same label. ``pairs``: for each shared
    text, ``(id in the first split, id in the second)``, the first copy of
    each, in the order of the second split.
    """

    names: tuple[str, str]
    sizes: dict[str, int]
    extra: dict[str, int]
    conflicts: dict[str, int]
    shared: int
    shared_agree: int
    pairs: list[tuple[str, str]]

    def describe(self) -> str:
        """One sentence per split and one on the two, computed from the counts."""
        first, second = self.names
        text = [
            f"{n.capitalize()}: {_some(self.extra[n], self.sizes[n])} repeat"
            f"{'s' if self.extra[n] == 1 else ''} an earlier one, and "
            f"{_texts(self.conflicts[n])} carr{'y' if self.conflicts[n] > 1 else 'ies'}"
            " two labels."
            for n in self.names
        ]
        if self.shared:
            agree = (
                f"{self.shared_agree} of them with"
                if self.shared_agree < self.shared
                else "each with"
            )
            text.append(
                f"{self.shared:,} text{' is' if self.shared == 1 else 's are'} in "
                f"both {first} and {second} "
                f"({agree} the same label on both sides): a model trained on "
                f"{first} has seen {'it' if self.shared == 1 else 'them'} before "
                "it is tested."
            )
        else:
            text.append(f"No text is in both {first} and {second}.")
        return " ".join(text)


def _some(k: int, n: int) -> str:
    """``"none of its 500 reviews"``, ``"1 of its 2,000 reviews"``."""
    return f"{'none' if k == 0 else f'{k:,}'} of its {n:,} reviews"


def _texts(k: int) -> str:
    """``"no repeated text"``, ``"1 repeated text"``, ``"3 repeated texts"``."""
    return f"{'no' if k == 0 else f'{k:,}'} repeated text{'' if k <= 1 else 's'}"


def _groups(reviews: ReviewSet) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(reviews.texts):
        groups.setdefault(normalise_whitespace(text), []).append(i)
    return groups


def count_duplicates(
    first: ReviewSet, second: ReviewSet, names: tuple[str, str] = ("train", "test")
) -> Duplicates:
    """Exact duplicates within ``first``, within ``second`` and across the two.

    Reviews are compared by :func:`normalise_whitespace`: equal texts after
    every run of whitespace is made one space. A review held in both splits
    is a leak: the model is tested on a text it was trained on. ``names``
    name the two splits in :class:`Duplicates` and its sentences.
    """
    if len(set(names)) != 2:
        raise ValueError(f"names must be two different names, got {names!r}.")
    groups = {n: _groups(r) for n, r in zip(names, (first, second), strict=True)}
    reviews = dict(zip(names, (first, second), strict=True))

    def labels(name, text):
        return {reviews[name].labels[i] for i in groups[name][text]}

    extra = {n: len(reviews[n]) - len(groups[n]) for n in names}
    conflicts = {n: sum(len(labels(n, t)) > 1 for t in groups[n]) for n in names}
    a, b = names
    shared = [t for t in groups[b] if t in groups[a]]
    agree = sum(len(labels(a, t) | labels(b, t)) == 1 for t in shared)
    pairs = [(first.ids[groups[a][t][0]], second.ids[groups[b][t][0]]) for t in shared]
    return Duplicates(
        names=tuple(names),
        sizes={n: len(reviews[n]) for n in names},
        extra=extra,
        conflicts=conflicts,
        shared=len(shared),
        shared_agree=agree,
        pairs=pairs,
    )
