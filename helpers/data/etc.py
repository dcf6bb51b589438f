"""Everyday Japanese with sentiment labels: the ETC Dataset, read sentence by sentence.

The ETC Dataset (Emotion Transcription in Conversation; UEC Inaba Lab,
https://github.com/UEC-InabaLab/ETCDataset) holds 997 Japanese dialogues about
first-person everyday experiences, 10 utterances each (speaker and listener
take turns). For every utterance the speaker wrote an *emotion transcription*
(what they felt), and 3 annotators each labelled it with a set of Ekman
emotions (喜び 悲しみ 恐怖 怒り 驚き 嫌悪) or 該当なし (none).

* :func:`find_etc` finds the data: a folder given as an argument; an extracted
  folder named by ``$ETC_DIR``; one already under :func:`helpers.config.data_dir`;
  else the GitHub archive of the pinned commit :data:`ETC_COMMIT`, downloaded
  there (resumable) and extracted safely.
* :func:`load_etc` returns a :class:`helpers.data.imdb.ReviewSet` of labelled
  utterances for one split of the dataset's own split by dialogue
  (``etc/split.json``).

**Checksums.** GitHub builds the ``codeload`` archive on demand, so its
SHA-256 is not known in advance. The project's shared copy
(``etc_ja_dialogues.tar.gz``, SHA-256
``ba11933e2fb29de949aafce28c07cf86b99d1f88ee4addb919439fd66600c7d1``) is a
*repack*, not that archive: its top folder is ``ETCDataset/`` (the codeload
archive's is ``ETCDataset-<commit>/``) and it leaves out
``etc/personality_traits.json``. What the code checks is therefore the
*content*: :data:`ETC_CONTENT_SHA256` is a digest of ``etc/split.json`` and every
``etc/dialogues/*.json`` (:func:`etc_content_digest`), identical in the shared
copy and in the git tree of :data:`ETC_COMMIT`. A downloaded archive whose
content differs is deleted with an error; a folder given by the user is used,
with a warning when its content differs.

**Labels** (:func:`utterance_label`): each annotator's set of emotions is a
vote: exactly ``{喜び}`` = positive; a non-empty set of negative emotions only
(悲しみ 恐怖 怒り 嫌悪) = negative; anything else (該当なし, 驚き, or joy mixed with
a negative emotion) = no vote. An utterance is positive (1) when at least 2 of
the 3 annotators vote positive, negative (0) when at least 2 vote negative,
and dropped otherwise. Surprise has no valence of its own, and a single
annotator is too noisy to decide alone. The labels describe the emotion the
speaker *felt* when saying the utterance, not a reader's judgement of the text.

**Licence: CC BY-NC 4.0** (:data:`LICENCE`); cite :data:`CITATION` wherever the
data is used, and do not try to identify or impersonate the speakers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

from ..config import data_dir
from .errors import DataError, plain_file_name
from .fetch import download, safe_extract
from .imdb import ReviewSet

ETC_REPO = "UEC-InabaLab/ETCDataset"
ETC_COMMIT = "6c4f7e10ff2cd3191c2375248b35de095a480d91"
ETC_URL = f"https://codeload.github.com/{ETC_REPO}/tar.gz/{ETC_COMMIT}"
ETC_ENV = "ETC_DIR"
#: Digest of ``etc/split.json`` + ``etc/dialogues/*.json`` at :data:`ETC_COMMIT`.
ETC_CONTENT_SHA256 = "72283ee82aac0352b95c5034c4009119e30c28fce83634951f2269b10d500fff"
SPLITS = ("train", "valid", "test")
ROLES = ("speaker", "listener")
TEXT_FIELDS = ("utterance", "emotion_transcription")
POSITIVE_EMOTIONS = frozenset({"喜び"})
NEGATIVE_EMOTIONS = frozenset({"悲しみ", "恐怖", "怒り", "嫌悪"})
OTHER_LABELS = frozenset({"驚き", "該当なし"})
EMOTIONS = POSITIVE_EMOTIONS | NEGATIVE_EMOTIONS | OTHER_LABELS
MIN_VOTES = 2

LICENCE = (
    "ETC Dataset: CC BY-NC 4.0 (https://creativecommons.org/licenses/by-nc/4.0/); "
    "non-commercial use only, with credit; sentiment labels derived by this project "
    "from the annotators' emotions. Do not try to identify or impersonate speakers."
)
CITATION = (
    "田中, 上原, 井上, 稲葉: ETC Dataset (Emotion Transcription in Conversation), "
    "言語処理学会第32回年次大会 (2026); https://github.com/UEC-InabaLab/ETCDataset "
    f"(commit {ETC_COMMIT[:8]})."
)


# ------------------------------------------------------------------- the labelling rule
def annotator_vote(emotions) -> int | None:
    """One annotator's vote: 1 for ``{喜び}``, 0 for negative ones only, else None."""
    found = set(emotions)
    if found == POSITIVE_EMOTIONS:
        return 1
    if found and found <= NEGATIVE_EMOTIONS:
        return 0
    return None


def utterance_label(annotations) -> int | None:
    """Sentiment of one utterance from its annotators' emotion sets (the module's rule).

    ``annotations``: one list of emotion labels per annotator (3 in ETC).
    Returns 1 (positive) or 0 (negative) when at least :data:`MIN_VOTES`
    annotators vote for it (:func:`annotator_vote`), else ``None`` (dropped).
    """
    votes = [annotator_vote(a) for a in annotations]
    for label in (0, 1):
        if votes.count(label) >= MIN_VOTES:
            return label
    return None


# -------------------------------------------------------- finding and checking the data
def check_etc_folder(root: str | os.PathLike) -> Path:
    """The dataset folder (the one holding ``etc/split.json``), given it or its parent.

    ``root`` may be the folder holding ``etc/`` (``ETCDataset/`` or
    ``ETCDataset-<commit>/``), the ``etc`` folder itself, or a folder holding
    exactly one ``ETCDataset*/``. Raises :class:`DataError` naming the fix.
    """
    root = Path(root).expanduser()
    if (root / "etc" / "split.json").is_file():
        return root
    if root.name == "etc" and (root / "split.json").is_file():
        return root.parent
    found = sorted(p.parent.parent for p in root.glob("ETCDataset*/etc/split.json"))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise DataError(
            f"{root} holds several ETC copies ({', '.join(p.name for p in found)}): "
            f"point ${ETC_ENV} at one of them."
        )
    raise DataError(
        f"ETC Dataset not found in {root}: no etc/split.json there or in an "
        f"ETCDataset*/ folder below it. Extract the archive ({ETC_URL}) and set "
        f"${ETC_ENV} to the folder holding etc/split.json (or its parent)."
    )


def etc_content_digest(root: str | os.PathLike) -> str:
    """Hex SHA-256 over ``etc/split.json`` and ``etc/dialogues/*.json`` (names, bytes).

    Independent of how the files were packed, so the shared repack and the
    codeload archive of the same commit give the same digest.
    """
    etc = check_etc_folder(root) / "etc"
    digest = hashlib.sha256()
    files = [etc / "split.json", *sorted((etc / "dialogues").glob("*.json"))]
    for path in files:
        name = path.relative_to(etc).as_posix()
        digest.update(
            f"{name}\t{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode()
        )
    return digest.hexdigest()


def etc_home() -> Path:
    """The loader's own folder in the data folder: downloads are extracted there.

    Named after the pinned commit (``etc-6c4f7e10``). The loader creates it and
    deletes it only when the content it extracted there is wrong, so nothing
    else in the data folder (IMDb, ERASER, checkpoints) is ever touched.
    """
    return data_dir() / f"etc-{ETC_COMMIT[:8]}"


def _download_etc() -> Path:
    """Download, extract and check the pinned commit's archive in :func:`etc_home`."""
    hint = (
        f"Without internet, download {ETC_URL} elsewhere, extract it and set "
        f"${ETC_ENV} to the extracted folder."
    )
    name = f"ETCDataset-{ETC_COMMIT[:8]}.tar.gz"
    archive = download(ETC_URL, data_dir() / name, offline_hint=hint)
    home = etc_home()
    home.mkdir(parents=True)  # find_etc comes here only when it is absent
    safe_extract(archive, home, env=ETC_ENV)
    try:
        root = check_etc_folder(home)
        got = etc_content_digest(root)
    except DataError as err:
        root, got = None, f"unreadable: {err}"
    if got != ETC_CONTENT_SHA256:
        archive.unlink(missing_ok=True)
        shutil.rmtree(home, ignore_errors=True)  # the loader's own folder only
        raise DataError(
            f"The ETC archive downloaded from {ETC_URL} has other content than "
            f"commit {ETC_COMMIT[:8]} (digest {got}, expected {ETC_CONTENT_SHA256}); "
            f"the archive and {home} (the loader's own folder) were deleted, "
            f"nothing else in {data_dir()}: run again, or download it elsewhere "
            f"and set ${ETC_ENV}."
        )
    return root


def find_etc(
    path: str | os.PathLike | None = None, download_if_missing: bool = True
) -> Path:
    """The ETC dataset folder (holding ``etc/split.json``), downloading it if needed.

    Order: ``path``; ``$ETC_DIR``; an ``ETCDataset*/`` folder in
    :func:`helpers.config.data_dir` (the loader's own :func:`etc_home`, or
    one extracted by hand); the archive of :data:`ETC_COMMIT`, downloaded
    there, extracted into :func:`etc_home` and its content checked. A folder given by
    ``path`` or ``$ETC_DIR`` whose content differs from the pinned commit is
    used with a warning.
    """
    if path is not None or os.environ.get(ETC_ENV):
        root = check_etc_folder(path if path is not None else os.environ[ETC_ENV])
        if etc_content_digest(root) != ETC_CONTENT_SHA256:
            warnings.warn(
                f"{root} differs from ETC commit {ETC_COMMIT[:8]}: figures computed "
                "on it will not match the book's.",
                stacklevel=2,
            )
        return root
    if etc_home().is_dir():
        return check_etc_folder(etc_home())
    if any(data_dir().glob("ETCDataset*/etc/split.json")):  # extracted by hand
        return check_etc_folder(data_dir())
    if not download_if_missing:
        raise DataError(
            f"ETC Dataset not found: set ${ETC_ENV} or extract it into {data_dir()}."
        )
    return _download_etc()


def _read_json(path: Path):
    if not path.is_file():
        raise DataError(
            f"{path} is missing: the ETC copy is incomplete. Extract the archive again "
            f"({ETC_URL})."
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(
            f"{path} is not valid UTF-8 JSON ({err}): the file is corrupt; extract "
            "the ETC archive again."
        ) from err


def read_split(root: str | os.PathLike) -> dict[str, list[str]]:
    """``etc/split.json``: the dialogue files of each split, checked to be disjoint."""
    path = check_etc_folder(root) / "etc" / "split.json"
    split = _read_json(path)
    if not isinstance(split, dict) or set(split) != set(SPLITS):
        raise DataError(f"{path} must map exactly {list(SPLITS)} to lists of files.")
    seen: dict[str, str] = {}
    for name in SPLITS:
        files = split[name]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise DataError(f"{path}: {name!r} must be a list of file names.")
        for f in files:
            plain_file_name(f, str(path))
            if f in seen:
                raise DataError(
                    f"{path}: dialogue {f} is in both {seen[f]!r} and {name!r}."
                )
            seen[f] = name
    return {name: list(split[name]) for name in SPLITS}


def read_dialogue(path: str | os.PathLike) -> list[dict]:
    """The turns of one dialogue file, checked: role, texts and emotion sets.

    Returns a list of dicts with ``turn``, ``role``, ``utterance``,
    ``emotion_transcription`` and ``emotions``. A malformed file raises
    :class:`DataError` naming the file and the turn.
    """
    path = Path(path)
    data = _read_json(path)
    turns = data.get("dialogue") if isinstance(data, dict) else None
    if not isinstance(turns, list) or not turns:
        raise DataError(f"{path}: no 'dialogue' list of turns.")
    for i, turn in enumerate(turns):
        where = f"{path}, entry {i}"
        if not isinstance(turn, dict) or turn.get("role") not in ROLES:
            raise DataError(f"{where}: 'role' must be one of {list(ROLES)}.")
        for key in ("utterance", "emotion_transcription"):
            if not isinstance(turn.get(key), str):
                raise DataError(f"{where}: {key!r} must be a string.")
        emotions = turn.get("emotions")
        if not isinstance(emotions, list) or not all(
            isinstance(a, list) and set(a) <= EMOTIONS for a in emotions
        ):
            raise DataError(
                f"{where}: 'emotions' must be a list (one per annotator) of lists "
                f"of {sorted(EMOTIONS)}."
            )
    return turns


def _dialogues(split: str, path) -> list[tuple[str, list[dict]]]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    root = find_etc(path)
    files = read_split(root)[split]
    folder = root / "etc" / "dialogues"
    return [(Path(f).stem, read_dialogue(folder / f)) for f in files]


# --------------------------------------------------------------- sentences for the book
def load_etc(
    split: str,
    path: str | os.PathLike | None = None,
    roles=ROLES,
    text: str = "utterance",
) -> ReviewSet:
    """Labelled sentences of one ETC split (1 = positive, 0 = negative).

    ``split``: ``"train"``, ``"valid"`` or ``"test"`` (the dataset's split by
    dialogue). ``roles``: whose turns (``"speaker"``, ``"listener"``).
    ``text``: ``"utterance"`` (what was said; the book's test sentences) or
    ``"emotion_transcription"`` (what the speaker wrote they felt: the text
    the annotators actually labelled). Labels follow :func:`utterance_label`;
    dropped turns are counted in ``skipped``. ``ids`` are
    ``etc-<dialogue>-<turn>-<role>`` (``-transcription`` appended for those).
    """
    bad = set(roles) - set(ROLES)
    if bad or not roles:
        raise ValueError(f"roles must be a non-empty subset of {ROLES}, got {roles!r}")
    if text not in TEXT_FIELDS:
        raise ValueError(f"text must be one of {TEXT_FIELDS}, got {text!r}")
    suffix = "" if text == "utterance" else "-transcription"
    texts, labels, ids, dropped = [], [], [], 0
    for stem, turns in _dialogues(split, path):
        for turn in turns:
            if turn["role"] not in roles:
                continue
            label = utterance_label(turn["emotions"])
            if label is None or not turn[text].strip():
                dropped += 1
                continue
            texts.append(turn[text])
            labels.append(label)
            ids.append(f"etc-{stem}-{turn['turn']}-{turn['role']}{suffix}")
    who = "+".join(roles)
    what = "utterances" if text == "utterance" else "emotion transcriptions"
    source = f"ETC Dataset {split} ({len(texts)} {who} {what}; CC BY-NC 4.0)"
    return ReviewSet(texts, labels, source, ids, dropped)
