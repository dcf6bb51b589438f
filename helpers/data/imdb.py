"""IMDb reviews in memory: the reader, the synthetic sample and the splitter.

:func:`load_reviews` uses, in order: an extracted ``aclImdb`` folder named by
``$IMDB_DIR``; one already extracted under :func:`helpers.config.data_dir`; the
official archive downloaded there (:mod:`helpers.data.fetch`); and, when none
of these is possible, a small synthetic sample (:func:`synthetic_reviews`,
announced as *not IMDb*) behind the same loader.
"""

from __future__ import annotations

import os
import random
import re
import string
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Profile, data_dir, get_profile
from .errors import BookWarning, DataError
from .fetch import download, is_partial_extraction, safe_extract

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
#: SHA-256 of the official ``aclImdb_v1.tar.gz`` (Maas et al., 2011).
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_ENV = "IMDB_DIR"
LABELS = {"neg": 0, "pos": 1}


# -------------------------------------------------------------------- reviews in memory
@dataclass
class ReviewSet:
    """Texts with integer labels (1 = positive, 0 = negative) and their source.

    ``movies``: the IMDb movie id of each review (``"tt0453418"``) when known,
    else empty (see :func:`read_imdb_split`). ``dataset``: ``"IMDb"`` or
    ``"synthetic"`` for the book's own readers, ``""`` for others.
    ``split_by``: ``"movie"`` or ``"review"`` for the parts
    :func:`train_val_split` returns.
    """

    texts: list[str]
    labels: list[int]
    source: str
    ids: list[str] = field(default_factory=list)
    skipped: int = 0
    movies: list[str] = field(default_factory=list)
    dataset: str = ""
    split_by: str = ""

    def __post_init__(self):
        if len(self.texts) != len(self.labels):
            raise ValueError(
                f"{len(self.texts)} texts but {len(self.labels)} labels: give one "
                "label per text."
            )
        if not self.ids:
            self.ids = [str(i) for i in range(len(self.texts))]
        if self.movies and len(self.movies) != len(self.texts):
            raise ValueError(
                f"{len(self.texts)} texts but {len(self.movies)} movie ids: give one "
                "movie id per text, or none."
            )

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[str, int]:
        return self.texts[i], self.labels[i]

    def subset(self, indices) -> ReviewSet:
        """The reviews at ``indices``, in that order."""
        indices = list(indices)
        return ReviewSet(
            [self.texts[i] for i in indices],
            [self.labels[i] for i in indices],
            f"{self.source} [subset of {len(indices)}]",
            [self.ids[i] for i in indices],
            movies=[self.movies[i] for i in indices] if self.movies else [],
            dataset=self.dataset,
            split_by=self.split_by,
        )

    def __repr__(self) -> str:
        pos = sum(self.labels)
        neg = len(self) - pos
        counts = f"{len(self)} reviews: {pos} positive, {neg} negative"
        return f"ReviewSet({counts}; {self.source})"


# -------------------------------------------------------- text preprocessing (seed 002)
def strip_line_breaks(text: str) -> str:
    """Replace IMDb's HTML line breaks (``<br />``) by a space."""
    return re.sub(r"<br\s*/?>", " ", text)


def preprocess_text(text: str) -> str:
    """pytorch_advanced's preprocessing, as it was (for the TSV export and comparisons).

    1. remove ``<br />``;
    2. replace every ASCII punctuation character except ``.`` and ``,`` by a space;
    3. put spaces around ``.`` and ``,``.

    BERT's own tokenizer splits punctuation, so the helpers feed it the raw
    review with only ``<br />`` removed (:func:`strip_line_breaks`).
    """
    text = re.sub("<br />", "", text)
    keep = {".", ","}
    text = text.translate({ord(p): " " for p in string.punctuation if p not in keep})
    return text.replace(".", " . ").replace(",", " , ")


# --------------------------------------------------------------------- finding the data
def check_imdb_folder(root: str | os.PathLike, splits=("train", "test")) -> Path:
    """Check that ``root`` has the ``aclImdb`` layout (``<split>/{pos,neg}``)."""
    root = Path(root)
    for split in splits:
        for label in LABELS:
            folder = root / split / label
            if not folder.is_dir():
                raise DataError(
                    f"{folder} is missing: point ${IMDB_ENV} at the extracted "
                    "'aclImdb' folder "
                    "(it holds train/pos, train/neg, test/pos, test/neg)."
                )
    return root


def _extracted_imdb() -> Path | None:
    """The folder ``$IMDB_DIR`` names, else a finished ``<data_dir>/aclImdb``."""
    env = os.environ.get(IMDB_ENV)
    if env:
        return Path(env).expanduser()
    local = data_dir() / "aclImdb"
    if local.is_dir() and not is_partial_extraction(local):
        return local
    return None


def find_imdb(download_if_missing: bool = True) -> Path:
    """Folder of the extracted IMDb data set, downloading it if needed.

    ``$IMDB_DIR`` wins when set; then ``<data_dir>/aclImdb``; then the official
    archive is downloaded to the data dir (resumable, checksum-checked) and
    extracted. Raises :class:`DataError` when none of this works.
    """
    extracted = _extracted_imdb()
    if extracted is not None:
        return check_imdb_folder(extracted)
    local = data_dir() / "aclImdb"
    if not download_if_missing:
        raise DataError(f"IMDb not found: set ${IMDB_ENV} or extract it to {local}.")
    hint = (
        "Without internet, download the archive elsewhere and set "
        f"${IMDB_ENV} to the extracted aclImdb folder."
    )
    archive = download(
        IMDB_URL, data_dir() / "aclImdb_v1.tar.gz", IMDB_SHA256, offline_hint=hint
    )
    safe_extract(archive, data_dir(), env=IMDB_ENV)
    return check_imdb_folder(local)


# ---------------------------------------------------------------------- reading reviews
def read_imdb_split(
    root: str | os.PathLike,
    split: str,
    per_label: int | None = None,
    seed: int = 1234,
    preprocess=strip_line_breaks,
) -> ReviewSet:
    """Read ``root/<split>/{pos,neg}/*.txt``.

    ``per_label``: keep a seeded random sample of that many reviews per label
    (``None`` = all). Empty or whitespace-only reviews are skipped and counted
    in ``ReviewSet.skipped`` (with a warning). A file that is not UTF-8, or a
    label folder left without any review, raises :class:`DataError` naming
    it. When the official archive's ``urls_pos.txt`` / ``urls_neg.txt`` are
    there, ``ReviewSet.movies`` holds each review's movie (see
    :func:`read_movie_ids`), else it is empty.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = check_imdb_folder(root, splits=(split,))
    rng = random.Random(seed)
    urls = {name: read_movie_ids(root / split, name) for name in LABELS}
    texts, labels, ids, movies, skipped = [], [], [], [], 0
    read = dict.fromkeys(LABELS, 0)
    for name, label in sorted(LABELS.items(), key=lambda kv: kv[1]):
        files = sorted((root / split / name).glob("*.txt"))
        if per_label is not None and per_label < len(files):
            files = sorted(rng.sample(files, per_label))
        for path in files:
            text = _read_utf8(path)
            if not text.strip():
                skipped += 1
                continue
            texts.append(preprocess(text) if preprocess else text)
            labels.append(label)
            read[name] += 1
            ids.append(f"{split}/{name}/{path.stem}")
            if urls[name] is not None:
                movies.append(_movie_of(path, urls[name], root / split, name))
    if skipped:
        warnings.warn(
            f"Skipped {skipped} empty review file(s) in {root / split}.", stacklevel=2
        )
    _require_every_label(root / split, read)
    sampled = "" if per_label is None else ", seeded sample"
    source = f"IMDb {split} ({len(texts)} reviews{sampled})"
    grouped = all(u is not None for u in urls.values())
    return ReviewSet(
        texts,
        labels,
        source,
        ids,
        skipped,
        movies=movies if grouped else [],
        dataset="IMDb",
    )


def _require_every_label(folder: Path, read: dict[str, int]) -> None:
    """``DataError`` naming the label folders of ``folder`` that gave no review."""
    empty = [str(folder / name) for name in LABELS if not read[name]]
    if empty:
        raise DataError(
            f"{' and '.join(empty)} {'holds' if len(empty) == 1 else 'hold'} no "
            "reviews (expected non-empty <number>_<rating>.txt files): the copy is "
            f"incomplete. Extract the official archive again ({IMDB_URL}) or point "
            f"${IMDB_ENV} at a complete aclImdb folder."
        )


_MOVIE_URL = re.compile(r"/title/(tt\d+)")


def read_movie_ids(folder: str | os.PathLike, label: str) -> list[str] | None:
    """Movie ids from ``<folder>/urls_<label>.txt``, or ``None`` if it is absent.

    In the official IMDb archive line ``i`` of ``train/urls_pos.txt`` is the
    IMDb address of the movie reviewed in ``train/pos/<i>_<rating>.txt``, e.g.
    ``http://www.imdb.com/title/tt0453418/usercomments`` (movie
    ``tt0453418``). A line without such an id raises :class:`DataError`.
    """
    path = Path(folder) / f"urls_{label}.txt"
    if not path.is_file():
        return None
    ids = []
    for lineno, line in enumerate(_read_utf8(path).splitlines(), start=1):
        match = _MOVIE_URL.search(line)
        if match is None:
            raise DataError(
                f"{path}, line {lineno}: no IMDb movie id (/title/tt...) in "
                f"{line.strip()[:80]!r}: restore the file from the official archive."
            )
        ids.append(match.group(1))
    return ids


def _movie_of(path: Path, urls: list[str], folder: Path, label: str) -> str:
    """The movie of review file ``<id>_<rating>.txt``: line ``id`` of the urls file."""
    number = path.stem.split("_")[0]
    if not number.isdigit() or int(number) >= len(urls):
        raise DataError(
            f"{path.name} has no line in {folder / f'urls_{label}.txt'} ("
            f"{len(urls)} lines; review files are named <line>_<rating>.txt): "
            "restore both from the same archive."
        )
    return urls[int(number)]


def _read_utf8(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not valid UTF-8 (byte {err.start}): re-encode it as UTF-8 or "
            "remove it."
        ) from err


def synthetic_reviews(split: str, per_label: int = 60, seed: int = 1234) -> ReviewSet:
    """A small, generated, clearly-not-IMDb review set for offline quick runs.

    Sentences are drawn (seeded; train and test use different seeds) from
    hand-written positive, negative and neutral phrases about films.
    """
    rng = random.Random(f"{seed}-{split}")
    texts, labels = [], []
    for label, phrases in ((0, _NEGATIVE), (1, _POSITIVE)):
        other = _POSITIVE if label == 0 else _NEGATIVE
        for _ in range(per_label):
            parts = (
                rng.sample(phrases, 3) + rng.sample(_NEUTRAL, 2) + rng.sample(other, 1)
            )
            rng.shuffle(parts)
            parts.append(
                rng.choice(phrases)
            )  # the verdict comes last, as in many reviews
            texts.append(" ".join(parts))
            labels.append(label)
    source = f"synthetic sample (NOT IMDb; {len(texts)} generated reviews)"
    ids = [f"synthetic-{split}-{i}" for i in range(len(texts))]
    return ReviewSet(texts, labels, source, ids, dataset="synthetic")


_POSITIVE = [
    "The acting is superb and the story moved me.",
    "I loved every minute of it.",
    "A wonderful, heartfelt film.",
    "The direction is brilliant and the score is beautiful.",
    "One of the best movies I have seen this year.",
    "The cast is excellent, especially the lead.",
    "Funny, clever and touching.",
    "A masterpiece that I will watch again.",
    "The photography is gorgeous.",
    "I highly recommend it.",
    "The dialogue is sharp and witty.",
    "An enjoyable, uplifting experience.",
    "Great performances all round.",
]
_NEGATIVE = [
    "The acting is wooden and the plot makes no sense.",
    "I was bored from start to finish.",
    "A dull, lifeless film.",
    "The direction is clumsy and the music is annoying.",
    "One of the worst movies I have ever seen.",
    "The cast seems lost, especially the lead.",
    "Neither funny nor moving.",
    "A mess that I want to forget.",
    "The editing is terrible.",
    "Avoid it.",
    "The dialogue is painful to listen to.",
    "A waste of two hours.",
    "Awful performances all round.",
]
_NEUTRAL = [
    "I saw it on a rainy Sunday.",
    "It runs a little over two hours.",
    "The film is based on a novel.",
    "My brother recommended it to me.",
    "It was shot in Canada.",
    "The story follows a family in a small town.",
    "I watched the director's cut.",
    "It came out in the nineties.",
]


def load_reviews(
    split: str, profile: Profile | None = None, allow_synthetic: bool = True
) -> ReviewSet:
    """THE data loader: reviews of ``split`` ("train" or "test") for a profile.

    IMDb (see :func:`find_imdb`), sampled per the profile (``train_per_label``
    / ``test_per_label`` reviews of each label, seeded). When IMDb cannot be
    found or downloaded and ``allow_synthetic`` is true, a synthetic sample is
    returned instead and a warning says so; ``ReviewSet.source`` names it. An
    extracted copy that is incomplete (a label folder missing or without
    reviews) raises :class:`DataError`: it is never replaced by the sample.
    """
    profile = profile or get_profile()
    per_label = profile.train_per_label if split == "train" else profile.test_per_label
    try:
        root = find_imdb()
    except DataError as err:
        if not allow_synthetic or _extracted_imdb() is not None:
            raise
        warnings.warn(
            f"IMDb unavailable ({err}). Using a SYNTHETIC sample, not IMDb.",
            stacklevel=2,
        )
        return synthetic_reviews(
            split, per_label=min(per_label or 60, 60), seed=profile.seed
        )
    return read_imdb_split(root, split, per_label=per_label, seed=profile.seed)


class GroupingWarning(BookWarning):
    """IMDb reviews without movie ids were split by review, not by movie."""


SPLITS = ("auto", "movie", "review")


def train_val_split(
    reviews: ReviewSet, val_fraction: float = 0.2, seed: int = 1234, split="auto"
) -> tuple[ReviewSet, ReviewSet]:
    """Seeded split into train and validation, stratified by label (80/20 default).

    ``split="movie"``: whole movies go to one side (no movie on both), chosen
    at random (seeded) so that each label's share of validation reviews is
    as close to ``val_fraction`` as whole movies allow. IMDb holds up to 30
    reviews per movie, so a review-level split puts the same movie on both
    sides and validation accuracy comes out optimistic. Needs
    ``reviews.movies`` (the official archive's urls files).
    ``split="review"``: pytorch_advanced's split, review by review.
    ``split="auto"`` (default): by movie when the reviews carry movie ids,
    else by review; for IMDb reviews without them a one-line
    :class:`GroupingWarning` says so. The parts' ``source`` and ``split_by``
    state the method.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "movie" and not reviews.movies:
        raise DataError(
            f"{reviews.source} has no movie ids, so it cannot be split by movie: "
            f"read the official IMDb archive ({IMDB_URL}), whose train folder holds "
            "urls_pos.txt and urls_neg.txt, or pass split='review'."
        )
    if split == "auto" and not reviews.movies and reviews.dataset == "IMDb":
        warnings.warn(
            "Validation split by review, not by movie: grouping by movie needs the "
            "official IMDb archive's train/urls_pos.txt and urls_neg.txt.",
            GroupingWarning,
            stacklevel=2,
        )
    by = "movie" if split != "review" and reviews.movies else "review"
    rng = random.Random(seed)
    if by == "movie":
        train_idx, val_idx = _split_by_movie(reviews, val_fraction, rng)
    else:
        train_idx, val_idx = _split_by_review(reviews.labels, val_fraction, rng)
    rng.shuffle(train_idx)
    rng.shuffle(val_idx)
    train, val = reviews.subset(train_idx), reviews.subset(val_idx)
    how = f"split by {by}, seed {seed}"
    train.source = f"{reviews.source}: train part ({how})"
    val.source = f"{reviews.source}: validation part ({how})"
    train.split_by = val.split_by = by
    return train, val


def _split_by_review(labels, val_fraction: float, rng) -> tuple[list, list]:
    """pytorch_advanced's split: per label, a shuffled ``val_fraction`` to
    validation."""
    train_idx, val_idx = [], []
    for label in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(idx)
        n_val = round(len(idx) * val_fraction)
        val_idx += idx[:n_val]
        train_idx += idx[n_val:]
    return train_idx, val_idx


def _split_by_movie(
    reviews: ReviewSet, val_fraction: float, rng
) -> tuple[list[int], list[int]]:
    """Whole movies to one side, label shares of validation near ``val_fraction``.

    Movies are visited in a seeded random order; each goes to validation when
    that brings the validation count of every label closer (in squared
    distance) to ``val_fraction`` of that label's reviews, else to train.
    """
    groups: dict[str, list[int]] = {}
    for i, movie in enumerate(reviews.movies):
        groups.setdefault(movie or f"review {reviews.ids[i]}", []).append(i)
    names = sorted(groups)
    rng.shuffle(names)
    labels = sorted(set(reviews.labels))
    target = {y: reviews.labels.count(y) * val_fraction for y in labels}
    have = dict.fromkeys(labels, 0)
    train_idx, val_idx = [], []
    for name in names:
        counts = {y: 0 for y in labels}
        for i in groups[name]:
            counts[reviews.labels[i]] += 1
        gap = sum((target[y] - have[y]) ** 2 for y in labels)
        gap_after = sum((target[y] - have[y] - counts[y]) ** 2 for y in labels)
        if gap_after < gap:
            val_idx += groups[name]
            have = {y: have[y] + counts[y] for y in labels}
        else:
            train_idx += groups[name]
    if not train_idx or not val_idx:
        raise ValueError(
            f"{len(groups)} movie(s) cannot be split {1 - val_fraction:.0%}/"
            f"{val_fraction:.0%} by movie: use more reviews, or split='review'."
        )
    return train_idx, val_idx


def sample_reviews(reviews: ReviewSet, n: int, seed: int) -> ReviewSet:
    """``n`` reviews drawn at random without replacement, in the order drawn.

    The one way the chapters sample reviews to explain: the same ``seed``
    gives the same reviews. All of them (shuffled) when ``n >= len(reviews)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of reviews, got {n!r}.")
    order = random.Random(seed).sample(range(len(reviews)), min(n, len(reviews)))
    sample = reviews.subset(order)
    sample.source = f"{reviews.source} [{len(order)} sampled, seed {seed}]"
    return sample


def read_review(
    review_id: str, root: str | os.PathLike | None = None, preprocess=strip_line_breaks
) -> str:
    """The text of one IMDb review by its id, ``"<split>/<pos|neg>/<file stem>"``.

    The ids are those of :func:`read_imdb_split` (``"test/pos/12380_7"``).
    ``root``: the extracted ``aclImdb`` folder, else the one :func:`find_imdb`
    finds without downloading. Raises :class:`DataError` when it is missing.
    """
    parts = review_id.split("/")
    if len(parts) != 3 or parts[0] not in ("train", "test") or parts[1] not in LABELS:
        raise ValueError(
            f"review ids read '<train|test>/<pos|neg>/<number>_<rating>', got "
            f"{review_id!r}."
        )
    root = Path(root) if root is not None else find_imdb(download_if_missing=False)
    path = root / parts[0] / parts[1] / f"{parts[2]}.txt"
    if not path.is_file():
        raise DataError(f"{path} is missing: is {root} a complete aclImdb folder?")
    text = _read_utf8(path)
    return preprocess(text) if preprocess else text


# ---------------------------------------- tSV export / import, as pytorch_advanced used
def export_tsv(
    reviews: ReviewSet, path: str | os.PathLike, preprocess=preprocess_text
) -> Path:
    """Write ``text<TAB>label<TAB>`` lines like pytorch_advanced's ``IMDb_train.tsv``.

    Tabs and newlines inside a review are replaced by spaces so each review
    stays one row.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for text, label in zip(reviews.texts, reviews.labels, strict=True):
            text = preprocess(text) if preprocess else text
            f.write(re.sub(r"[\t\r\n]+", " ", text) + f"\t{label}\t\n")
    return path


def read_tsv(
    path: str | os.PathLike, num_labels: int = 2, source: str | None = None
) -> ReviewSet:
    """Read ``text<TAB>label<TAB>`` rows; errors name the file and line.

    Labels must be integers in ``range(num_labels)``; empty texts are errors.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist.")
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) < 2 or not cols[1].strip():
                raise DataError(
                    f"{path}, line {lineno}: no label column (expected "
                    "'text<TAB>label<TAB>')."
                )
            text, raw = cols[0], cols[1].strip()
            if not text.strip():
                raise DataError(f"{path}, line {lineno}: empty text.")
            if raw not in {str(k) for k in range(num_labels)}:
                raise DataError(
                    f"{path}, line {lineno}: label {raw!r} is not one of "
                    f"{list(range(num_labels))}."
                )
            texts.append(text)
            labels.append(int(raw))
    if not texts:
        raise DataError(f"{path} has no rows.")
    return ReviewSet(texts, labels, source or f"{path.name} ({len(texts)} rows)")
