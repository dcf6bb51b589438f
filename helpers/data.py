"""The one way the book gets data: IMDb reviews, tokenized for BERT.

* :func:`load_reviews` returns a :class:`ReviewSet` for a split and profile. It
  uses, in order: an extracted ``aclImdb`` folder named by ``$IMDB_DIR``; one
  already extracted under :func:`helpers.config.data_dir`; the official archive
  downloaded there (resumable, SHA-256 checked, extracted safely); and, when
  none of these is possible, a small synthetic sample shipped with the package
  (announced as *not IMDb*).
* :func:`encode_texts` and :func:`make_loader` turn texts into BERT inputs with a
  fast WordPiece tokenizer, truncation and dynamic padding.
"""

from __future__ import annotations

import errno
import hashlib
import inspect
import lzma
import os
import random
import re
import shutil
import string
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from .config import (  # noqa: F401  (LABEL_NAMES: its home is config, re-exported)
    DATA_ENV,
    LABEL_NAMES,
    Profile,
    data_dir,
    display_path,
    get_profile,
)

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
#: SHA-256 of the official ``aclImdb_v1.tar.gz`` (Maas et al., 2011).
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_ENV = "IMDB_DIR"
LABELS = {"neg": 0, "pos": 1}
MODEL_MAX_POSITIONS = 512


class DataError(RuntimeError):
    """Data is missing, corrupt or malformed; the message names the file and the fix."""


class BookWarning(UserWarning):
    """Base of the book's own warnings, printed as ``Name: message``.

    Python's default format starts with the helper's file path and line
    number (``/.../helpers/data.py:560: TruncationWarning: ...``), which tells
    a reader of a chapter nothing and shows a machine's paths in the book.
    Importing ``helpers.data`` installs :func:`format_book_warning`, which
    drops them for subclasses of this class (in scripts, Jupyter and the
    built book alike); other warnings keep Python's format.
    """


class TruncationWarning(BookWarning):
    """Some texts were longer than ``max_length`` tokens and were truncated."""


_python_formatwarning = warnings.formatwarning


def format_book_warning(message, category, filename, lineno, line=None) -> str:
    """``warnings.formatwarning`` that prints a :class:`BookWarning` without its source.

    ``TruncationWarning: 1 of 2 texts ...`` instead of
    ``/path/helpers/data.py:560: TruncationWarning: 1 of 2 texts ...``; any
    other warning is formatted by Python's own function.
    """
    if isinstance(category, type) and issubclass(category, BookWarning):
        return f"{category.__name__}: {message}\n"
    return _python_formatwarning(message, category, filename, lineno, line)


if getattr(warnings.formatwarning, "__name__", "") != "format_book_warning":
    warnings.formatwarning = format_book_warning


# --------------------------------------------------------------------------- #
# Reviews in memory
# --------------------------------------------------------------------------- #
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


# --------------------------------------------------------------------------- #
# Text preprocessing (seed 002)
# --------------------------------------------------------------------------- #
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


# --------------------------------------------------------------------------- #
# Download, checksum, safe extraction
# --------------------------------------------------------------------------- #
def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    timeout: float = 60,
    offline_hint: str = "Without internet, download it elsewhere.",
) -> Path:
    """Download ``url`` to ``dest`` with resume and an optional SHA-256 check.

    Bytes go to ``dest + ".part"``; an interrupted download resumes from there
    with an HTTP ``Range`` request. When the ``.part`` file is already
    complete the server answers 416 (range not satisfiable): the file is then
    checked and finished instead of failing on every retry. Only a complete
    file whose checksum matches is renamed to ``dest``; a mismatch deletes the
    partial file and raises :class:`DataError`, so nothing corrupt is left
    looking valid. ``offline_hint`` ends a failed download's error: how to
    get the data without this machine's internet (which variable to set).
    """
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    try:
        _fetch(url, part, have, timeout, dest.name)
    except urllib.error.HTTPError as err:
        if not (err.code == 416 and have):
            raise _download_error(url, part, err, offline_hint) from err
        _check_complete_part(url, part, have, sha256, err.headers)
    except (urllib.error.URLError, OSError) as err:
        raise _download_error(url, part, err, offline_hint) from err
    if sha256 is not None:
        try:
            _check_part_checksum(url, part, sha256)
        except DataError as err:
            raise DataError(f"{err} {offline_hint}") from None
    part.replace(dest)
    return dest


def _fetch(url: str, part: Path, have: int, timeout: float, name: str) -> None:
    """Append the bytes after the first ``have`` to ``part`` (all when 0)."""
    from tqdm.auto import tqdm

    request = urllib.request.Request(
        url, headers={"Range": f"bytes={have}-"} if have else {}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        resumed = have and getattr(response, "status", 200) == 206
        total = response.headers.get("Content-Length")
        total = int(total) + (have if resumed else 0) if total else None
        with (
            open(part, "ab" if resumed else "wb") as f,
            tqdm(
                total=total,
                initial=have if resumed else 0,
                unit="B",
                unit_scale=True,
                desc=f"download {name}",
            ) as bar,
        ):
            for block in iter(lambda: response.read(1 << 16), b""):
                f.write(block)
                bar.update(len(block))


def _download_error(url: str, part: Path, err: Exception, hint: str) -> DataError:
    return DataError(
        f"Could not download {url}: {err}. Partial data kept in "
        f"{display_path(part)} (the next call resumes). {hint}"
    )


def _check_complete_part(url, part: Path, have: int, sha256, headers) -> None:
    """After a 416 answer: accept ``part`` only if it is the whole file.

    With a checksum, the checksum decides (checked by the caller). Without
    one, the total size in the answer's ``Content-Range: bytes */N`` must be
    ``have``; otherwise the partial file is deleted and the error says so.
    """
    if sha256 is not None:
        return
    match = re.fullmatch(r"bytes \*/(\d+)", (headers or {}).get("Content-Range", ""))
    if match is None or int(match.group(1)) != have:
        part.unlink(missing_ok=True)
        raise DataError(
            f"{url} refused to resume at byte {have} (HTTP 416) and the size of the "
            "file is unknown or different: the partial download was deleted; run "
            "again to download it afresh."
        )


def _check_part_checksum(url: str, part: Path, sha256: str) -> None:
    got = sha256_of(part)
    if got != sha256:
        part.unlink()
        raise DataError(
            f"Checksum mismatch for {url}: expected {sha256}, got {got}. "
            "The corrupt download was deleted; run again to download it afresh."
        )


class UnsafeArchiveError(DataError):
    """An archive member was refused: it would write outside the destination.

    Absolute paths, ``..`` escapes, symbolic or hard links that point outside
    the archive, and device files (character, block, FIFO). Distinct from
    :class:`CorruptArchiveError` (unreadable archive) and :class:`DiskFullError`.
    """


class CorruptArchiveError(DataError):
    """The archive cannot be read: truncated, or not a valid (compressed) tar."""


class DiskFullError(DataError):
    """No space (or quota) left while writing the extracted files."""


#: Marks a folder as the project's own unfinished extraction (safe to delete).
PARTIAL_MARK = ".bert-book-partial-extraction"
#: Python's safe tar filter (3.12, back-ported to 3.10.12 and 3.11.4).
HAS_DATA_FILTER = hasattr(tarfile, "data_filter")


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a tar archive into ``dest``, refusing members that escape it.

    Members with absolute paths, ``..`` components, links pointing outside
    (a hard link's target is read from the archive root, a symbolic link's
    from the member's folder), or device files raise
    :class:`UnsafeArchiveError`. Python's ``filter="data"`` does the
    extraction where available, otherwise each member is checked against what
    is already on disk just before it is written, and written without owner
    or permission bits: the same guarantees. Extraction happens in a marked
    temporary folder renamed into place only when complete. An existing
    folder of the same name is replaced only when it is the project's own
    unfinished extraction (it carries :data:`PARTIAL_MARK`); anything else
    raises :class:`DataError`. An unreadable archive raises
    :class:`CorruptArchiveError`, a full disk :class:`DiskFullError`.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.exists():
        raise DataError(f"Archive {archive} does not exist: download it first.")
    dest.mkdir(parents=True, exist_ok=True)
    _remove_partial(dest.glob(".extract-*"))
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    try:
        _mark_partial(tmp, archive)
        _extract_members(archive, tmp)
        children = [c for c in tmp.iterdir() if c.name != PARTIAL_MARK]
        for child in children:
            _make_room(dest / child.name)
        for child in children:  # marked until all are in place
            if child.is_dir():
                _mark_partial(child, archive)
            child.replace(dest / child.name)
        for child in children:
            if (dest / child.name).is_dir():
                (dest / child.name / PARTIAL_MARK).unlink(missing_ok=True)
    except OSError as err:
        raise _extraction_error(archive, dest, err) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def is_partial_extraction(folder: str | os.PathLike) -> bool:
    """True when ``folder`` is the project's own unfinished extraction."""
    return (Path(folder) / PARTIAL_MARK).is_file()


def _mark_partial(folder: Path, archive: Path) -> None:
    text = f"pid {os.getpid()}: unfinished extraction of {archive.name}\n"
    (folder / PARTIAL_MARK).write_text(text)


def _abandoned(folder: Path) -> bool:
    """An unfinished extraction whose process is gone (not one under way)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    if not is_partial_extraction(folder):
        return False
    match = re.match(r"pid (\d+):", (folder / PARTIAL_MARK).read_text())
    if match is None or int(match.group(1)) == os.getpid():
        return True
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


def _remove_partial(folders) -> None:
    for folder in folders:
        if _abandoned(folder):
            shutil.rmtree(folder)


def _make_room(target: Path) -> None:
    """Delete ``target`` if it is an abandoned extraction; refuse anything else."""
    if not target.exists() and not target.is_symlink():
        return
    if _abandoned(target):
        shutil.rmtree(target)
        return
    raise DataError(
        f"{display_path(target)} already exists and was not left by an unfinished "
        "extraction here, so it is kept: move it away (or delete it) and run "
        f"again, or, if it is the extracted data, point ${IMDB_ENV} at it."
    )


def _extract_members(archive: Path, root: Path) -> None:
    """Check every member, then extract them into ``root`` (see safe_extract)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member, root)
            if HAS_DATA_FILTER:
                tar.extractall(root, members=members, filter="data")
                return
            trusted = {"filter": "fully_trusted"} if _HAS_FILTER_ARG else {}
            for member in members:  # links extracted so far are on disk now
                check_member(member, root)
                tar.extract(member, root, set_attrs=False, **trusted)
    except UnsafeArchiveError:
        raise
    except _FILTER_ERRORS as err:
        raise UnsafeArchiveError(f"Refusing {archive.name}: {err}.") from err
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as err:
        raise _corrupt(archive, err) from err
    except OSError as err:
        if err.errno is None:  # gzip/bz2 data errors carry no errno
            raise _corrupt(archive, err) from err
        raise


_HAS_FILTER_ARG = "filter" in inspect.signature(tarfile.TarFile.extract).parameters
_FILTER_ERRORS = getattr(tarfile, "FilterError", ())


def _corrupt(archive: Path, err: Exception) -> CorruptArchiveError:
    return CorruptArchiveError(
        f"{display_path(archive)} is corrupt or truncated ({err}). Delete it and "
        "download it again."
    )


def _extraction_error(archive: Path, dest: Path, err: OSError) -> DataError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        free = shutil.disk_usage(dest).free / 1e9
        return DiskFullError(
            f"No space left in {display_path(dest)} while extracting "
            f"{archive.name} ({free:.1f} GB free): free some space, or set "
            f"${DATA_ENV} to a folder on a larger disk, and run again."
        )
    return DataError(
        f"Could not write the files of {archive.name} into {display_path(dest)} "
        f"({err}): check that the folder is writable."
    )


def check_member(member: tarfile.TarInfo, root: str | os.PathLike) -> None:
    """Raise :class:`UnsafeArchiveError` when ``member`` would escape ``root``.

    Paths are resolved against what is on disk under ``root`` now (links
    extracted before included). A hard link's target is a path from the
    archive root; a symbolic link's is relative to the member's folder.
    """
    root = os.path.realpath(root)
    name = member.name
    if name.startswith(("/", os.sep)) or os.path.isabs(name):
        raise UnsafeArchiveError(f"Refusing archive member {name!r}: absolute path.")
    if not _inside(os.path.join(root, name), root):
        raise UnsafeArchiveError(
            f"Refusing archive member {name!r}: it would be written outside the "
            "destination folder."
        )
    if member.issym() or member.islnk():
        base = os.path.dirname(name) if member.issym() else ""
        kind = "symbolic" if member.issym() else "hard"
        if os.path.isabs(member.linkname) or not _inside(
            os.path.join(root, base, member.linkname), root
        ):
            raise UnsafeArchiveError(
                f"Refusing {kind} link {name!r} -> {member.linkname!r}: it points "
                "outside the archive."
            )
    if member.isdev():
        raise UnsafeArchiveError(
            f"Refusing device file {name!r} in the archive (character, block or "
            "FIFO device)."
        )


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), root]) == root


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


def find_imdb(download_if_missing: bool = True) -> Path:
    """Folder of the extracted IMDb data set, downloading it if needed.

    ``$IMDB_DIR`` wins when set; then ``<data_dir>/aclImdb``; then the official
    archive is downloaded to the data dir (resumable, checksum-checked) and
    extracted. Raises :class:`DataError` when none of this works.
    """
    env = os.environ.get(IMDB_ENV)
    if env:
        return check_imdb_folder(Path(env).expanduser())
    local = data_dir() / "aclImdb"
    if local.is_dir() and not is_partial_extraction(local):
        return check_imdb_folder(local)
    if not download_if_missing:
        raise DataError(f"IMDb not found: set ${IMDB_ENV} or extract it to {local}.")
    hint = (
        "Without internet, download the archive elsewhere and set "
        f"${IMDB_ENV} to the extracted aclImdb folder."
    )
    archive = download(
        IMDB_URL, data_dir() / "aclImdb_v1.tar.gz", IMDB_SHA256, offline_hint=hint
    )
    safe_extract(archive, data_dir())
    return check_imdb_folder(local)


# --------------------------------------------------------------------------- #
# Reading reviews
# --------------------------------------------------------------------------- #
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
    in ``ReviewSet.skipped`` (with a warning). A file that is not UTF-8 raises
    :class:`DataError` naming it. When the official archive's
    ``urls_pos.txt`` / ``urls_neg.txt`` are there, ``ReviewSet.movies`` holds
    each review's movie (see :func:`read_movie_ids`), else it is empty.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = check_imdb_folder(root, splits=(split,))
    rng = random.Random(seed)
    urls = {name: read_movie_ids(root / split, name) for name in LABELS}
    texts, labels, ids, movies, skipped = [], [], [], [], 0
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
            ids.append(f"{split}/{name}/{path.stem}")
            if urls[name] is not None:
                movies.append(_movie_of(path, urls[name], root / split, name))
    if skipped:
        warnings.warn(
            f"Skipped {skipped} empty review file(s) in {root / split}.", stacklevel=2
        )
    if not texts:
        raise DataError(f"No reviews found in {root / split}: the folders are empty.")
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
    returned instead and a warning says so; ``ReviewSet.source`` names it.
    """
    profile = profile or get_profile()
    per_label = profile.train_per_label if split == "train" else profile.test_per_label
    try:
        root = find_imdb()
    except DataError as err:
        if not allow_synthetic:
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


# --------------------------------------------------------------------------- #
# TSV export / import, as pytorch_advanced used
# --------------------------------------------------------------------------- #
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


# --------------------------------------------------------------------------- #
# Tokenization and batching
# --------------------------------------------------------------------------- #
def check_texts(texts) -> list[str]:
    """Return ``texts`` as a list of strings; raise for empty or non-string items."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise ValueError("No texts given: pass at least one non-empty review.")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"Text {i} is {type(t).__name__}, not str.")
        if not t.strip():
            raise ValueError(
                f"Text {i} is empty or whitespace only: remove it or give it some "
                "words."
            )
    return texts


def model_max_length(tokenizer, max_length: int | None) -> int:
    """``max_length`` capped at BERT's 512 positions (and the tokenizer's own limit)."""
    limit = min(
        MODEL_MAX_POSITIONS,
        getattr(tokenizer, "model_max_length", MODEL_MAX_POSITIONS)
        or MODEL_MAX_POSITIONS,
    )
    return limit if max_length is None else min(int(max_length), limit)


def encode_texts(
    tokenizer, texts, max_length: int | None = MODEL_MAX_POSITIONS, warn: bool = True
):
    """Tokenize texts into padded tensors ``[CLS] ... [SEP]``, at most ``max_length``.

    Raises ``ValueError`` naming an empty text. Texts with more tokens than
    ``max_length`` (at most 512, the model's positions) are truncated, and a
    :class:`TruncationWarning` names them and their lengths.
    """
    texts = check_texts(texts)
    max_length = model_max_length(tokenizer, max_length)
    if warn:
        lengths = [
            len(ids)
            for ids in tokenizer(texts, add_special_tokens=True, verbose=False)[
                "input_ids"
            ]
        ]
        long = [(i, n) for i, n in enumerate(lengths) if n > max_length]
        if long:
            shown = ", ".join(f"text {i} ({n} tokens)" for i, n in long[:5])
            warnings.warn(
                f"{len(long)} text(s) truncated to {max_length} tokens: {shown}"
                f"{' ...' if len(long) > 5 else ''}. Only the first {max_length} "
                "tokens are used.",
                TruncationWarning,
                stacklevel=2,
            )
    return tokenizer(
        texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )


def _is_bert_wordpiece(tokenizer) -> bool:
    """True for a fast tokenizer with BERT's normalizer, pre-tokenizer and WordPiece."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    from tokenizers import models, normalizers, pre_tokenizers

    return (
        isinstance(backend.normalizer, normalizers.BertNormalizer)
        and isinstance(backend.pre_tokenizer, pre_tokenizers.BertPreTokenizer)
        and isinstance(backend.model, models.WordPiece)
    )


def _first_words(text: str, n_words: int) -> str:
    """``text`` up to the whitespace after its ``n_words``-th word (all if shorter)."""
    if len(text) < 2 * n_words:  # too short for n_words words and whitespace
        return text
    match = re.match(rf"\s*(?:\S+\s+){{{n_words}}}", text)
    return text[: match.end()] if match else text


#: What :func:`tokenize_truncated` keeps of a text longer than ``max_length``.
KEEP = ("head", "head+tail")


def default_head(max_length: int) -> int:
    """Content tokens ``"head+tail"`` keeps from the start when ``head`` is not given.

    A quarter of the ``max_length - 2`` content tokens (``[CLS]`` and
    ``[SEP]`` take the other two), rounded to the nearest integer with halves
    rounded up: 128 of 510 for ``max_length=512``, the split Sun et al. (2019,
    *How to Fine-Tune BERT for Text Classification?*) found best on IMDb
    (first 128 and last 382 tokens); 64 for 256, 32 for 128.
    """
    content = max_length - 2
    return (content + 2) // 4


def check_keep(keep: str, head: int | None, max_length: int) -> int | None:
    """Check ``keep`` and ``head`` for ``max_length``; the head count to use.

    Returns ``None`` for ``keep="head"``, else ``head`` (or
    :func:`default_head`), which must be an integer from 0 to
    ``max_length - 2``. Raises ``ValueError`` naming the fix otherwise.
    """
    if keep not in KEEP:
        raise ValueError(
            f"keep must be one of {', '.join(map(repr, KEEP))}, got {keep!r}: pass "
            "keep='head' (the first tokens) or keep='head+tail' (the first and the "
            "last tokens)."
        )
    if keep == "head":
        if head is not None:
            raise ValueError(
                f"head={head!r} is only used with keep='head+tail': pass "
                "keep='head+tail', or leave head out."
            )
        return None
    content = max_length - 2
    if content < 1:
        raise ValueError(
            f"max_length {max_length} leaves no room for text between [CLS] and "
            "[SEP]: pass max_length >= 3."
        )
    if head is None:
        return default_head(max_length)
    if isinstance(head, bool) or not isinstance(head, int) or not 0 <= head <= content:
        raise ValueError(
            f"head must be an integer from 0 to {content} (the content tokens of "
            f"max_length {max_length}, [CLS] and [SEP] excluded), got {head!r}: pass "
            f"a smaller head, a larger max_length, or head=None (default "
            f"{default_head(max_length)})."
        )
    return head


def tokenize_truncated(
    tokenizer, texts, max_length: int, *, keep: str = "head", head: int | None = None
) -> dict[str, list[list[int]]]:
    """The ids of ``tokenizer(texts, truncation=True, ...)``, faster for long texts.

    ``keep="head"`` (default) keeps the first ``max_length`` tokens, as the
    tokenizer's own truncation does. Tokenizing a review costs time in
    proportion to its length, but truncation keeps only the first tokens. For
    BERT's WordPiece every whitespace-separated word is tokenized on its own
    and gives at least one token (almost always), so a text cut after its
    first ``max_length`` words starts with the same tokens as the whole text.
    The cut text is tokenized; where it does not fill ``max_length`` tokens (a
    word that gave none, such as a lone zero-width space) the whole text is
    tokenized again, so the result is exact. Other tokenizers are called as
    they are.

    ``keep="head+tail"`` (Sun et al., 2019) keeps, of a text longer than
    ``max_length`` tokens, ``[CLS]``, its first ``head`` content tokens, its
    last ``max_length - 2 - head`` content tokens and ``[SEP]``; a text that
    fits is unchanged. ``head=None`` takes :func:`default_head` (a quarter of
    the content tokens: 128 of 510 for 512). The texts that fill
    ``max_length`` are tokenized whole for this, so the result is exact. It
    needs a tokenizer that adds one token before the text and one after
    (BERT's ``[CLS] ... [SEP]``). Bad ``keep`` or ``head`` raise ``ValueError``
    (see :func:`check_keep`).

    Returns a dict of lists (``input_ids``, ``attention_mask``, ...).
    """
    head = check_keep(keep, head, max_length)
    texts = check_texts(texts)
    out = _first_tokens(tokenizer, texts, max_length)
    if head is None:
        return out
    if tokenizer.num_special_tokens_to_add(pair=False) != 2:
        raise ValueError(
            f"keep='head+tail' needs a tokenizer that adds one token before a text "
            f"and one after ([CLS] ... [SEP]); {type(tokenizer).__name__} adds "
            f"{tokenizer.num_special_tokens_to_add(pair=False)}: use keep='head'."
        )
    full_rows = [i for i, ids in enumerate(out["input_ids"]) if len(ids) >= max_length]
    if not full_rows:
        return out
    whole = tokenizer([texts[i] for i in full_rows], verbose=False)
    tail = max_length - 2 - head
    for j, i in enumerate(full_rows):
        n = len(whole["input_ids"][j])
        if n <= max_length:  # it fits: the truncated ids are all of them
            continue
        for k in out:
            row = list(whole[k][j])
            out[k][i] = row[: 1 + head] + row[n - 1 - tail :]
    return out


def _first_tokens(tokenizer, texts: list[str], max_length: int) -> dict:
    """The first ``max_length`` tokens of each text (see :func:`tokenize_truncated`)."""
    if not _is_bert_wordpiece(tokenizer):
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        return {k: list(enc[k]) for k in enc}
    cut = [_first_words(t, max_length) for t in texts]
    enc = tokenizer(cut, truncation=True, max_length=max_length)
    out = {k: list(enc[k]) for k in enc}
    redo = [
        i
        for i, (c, t) in enumerate(zip(cut, texts, strict=True))
        if len(c) < len(t) and len(out["input_ids"][i]) < max_length
    ]
    if redo:
        full = tokenizer(
            [texts[i] for i in redo], truncation=True, max_length=max_length
        )
        for k in out:
            for j, i in enumerate(redo):
                out[k][i] = full[k][j]
    return out


class TokenizedReviews(Dataset):
    """Reviews tokenized once (fast tokenizer, batched), labels attached.

    ``max_length`` is capped at the model's 512 positions
    (:func:`model_max_length`); ``keep`` and ``head`` choose which tokens a
    longer review keeps (``"head"``: the first ones; ``"head+tail"``: the
    first ``head`` and the last ones), see :func:`tokenize_truncated`.
    """

    def __init__(
        self,
        tokenizer,
        reviews: ReviewSet,
        max_length: int = 256,
        *,
        keep: str = "head",
        head: int | None = None,
    ):
        if len(reviews) == 0:
            raise ValueError(
                f"{reviews.source} is empty: there is nothing to tokenize."
            )
        texts = check_texts(reviews.texts)
        enc = tokenize_truncated(
            tokenizer,
            texts,
            model_max_length(tokenizer, max_length),
            keep=keep,
            head=head,
        )
        self.features = [{k: enc[k][i] for k in enc} for i in range(len(texts))]
        self.labels = list(reviews.labels)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict:
        return {**self.features[i], "labels": self.labels[i]}


def make_collate(tokenizer, pad_to_max: bool = False, max_length: int = 256):
    """Collate function: pad to the batch's longest (default) or to ``max_length``."""

    def collate(items):
        labels = torch.tensor([it.pop("labels") for it in items], dtype=torch.long)
        padding = "max_length" if pad_to_max else "longest"
        batch = tokenizer.pad(
            items,
            padding=padding,
            max_length=max_length if pad_to_max else None,
            return_tensors="pt",
        )
        batch = dict(batch)
        batch["labels"] = labels
        return batch

    return collate


def make_loader(
    tokenizer,
    reviews: ReviewSet,
    batch_size: int = 32,
    max_length: int = 256,
    shuffle: bool = False,
    pad_to_max: bool = False,
    seed: int = 1234,
) -> DataLoader:
    """A ``DataLoader`` of dicts (input_ids, attention_mask, token_type_ids, labels).

    Padding is dynamic (to the longest review in each batch) unless
    ``pad_to_max`` pads every batch to ``max_length`` as pytorch_advanced did.
    Shuffling is seeded.
    """
    dataset = TokenizedReviews(tokenizer, reviews, max_length)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=make_collate(
            tokenizer, pad_to_max, model_max_length(tokenizer, max_length)
        ),
    )


def token_lengths(tokenizer, texts) -> list[int]:
    """WordPiece tokens per text, ``[CLS]`` and ``[SEP]`` included, untruncated."""
    return [len(ids) for ids in tokenizer(list(texts), verbose=False)["input_ids"]]


def padding_fraction(loader: DataLoader) -> float:
    """Share of all positions in a loader's batches that are padding."""
    real = total = 0
    for batch in loader:
        real += int(batch["attention_mask"].sum())
        total += batch["attention_mask"].numel()
    return 1 - real / total


def decode_batch(tokenizer, batch: dict, n: int = 2, max_tokens: int = 40) -> list[str]:
    """The first ``n`` reviews of a batch as WordPiece tokens (``##``: subwords)."""
    rows = []
    pairs = zip(batch["input_ids"][:n], batch["attention_mask"][:n], strict=True)
    for ids, mask in pairs:
        tokens = tokenizer.convert_ids_to_tokens(ids[mask.bool()].tolist())
        more = (
            f" ... (+{len(tokens) - max_tokens} tokens)"
            if len(tokens) > max_tokens
            else ""
        )
        rows.append(" ".join(tokens[:max_tokens]) + more)
    return rows
