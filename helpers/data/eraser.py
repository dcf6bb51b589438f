"""Human rationales for movie reviews: the ERASER Movies task, on WordPiece tokens.

ERASER (DeYoung et al., ACL 2020) packages Pang & Lee's polarity data set v2.0
(2004) with the rationale annotations of Zaidan, Eisner & Piatko (NAACL 2007):
for each review, the spans of text a person marked as the reasons for its
label. Chapter 6 asks whether an explainer highlights the same words.

* :func:`find_eraser` finds the data: an extracted folder named by
  ``$ERASER_DIR``; one already under :func:`helpers.config.data_dir`; else the
  official archive, downloaded there (resumable, SHA-256 checked) and
  extracted safely.
* :func:`load_eraser` reads one split into :class:`RationaleReview` objects and
  checks every span against its text.
* :func:`encode_rationales` tokenizes reviews
  for BERT and mark the WordPiece tokens that fall inside a human rationale,
  with how much of the rationale survived truncation.

Layout (ERASER's own): ``docs/<docid>`` holds a lower-cased, whitespace
tokenized review, one sentence per line; ``<split>.jsonl`` holds one
annotation per line, ``{annotation_id, classification: POS|NEG, evidences:
[[{docid, start_token, end_token, text, ...}], ...]}``. Token offsets count
the whitespace tokens of all lines together, end-exclusive.

No licence is attached to the data; cite it with :data:`CITATION`.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import data_dir
from ..tokens import encode
from .encode import check_texts, encode_texts, model_max_length
from .errors import DataError, plain_file_name
from .fetch import download, safe_extract

ERASER_URL = "https://www.eraserbenchmark.com/zipped/movies.tar.gz"
#: SHA-256 of the official ``movies.tar.gz`` (train, val and test splits).
ERASER_SHA256 = "66e18d4e6c9df9e9f5544572b0bfe92a39673f74ecbfc3859b46cedb2f5b2dee"
ERASER_ENV = "ERASER_DIR"
#: ERASER's class names -> the project's labels (0 = negative, 1 = positive).
CLASS_LABELS = {"NEG": 0, "POS": 1}
SPLITS = ("train", "val", "test")
_SUBFOLDERS = ("movies", "eraser_movies")

CITATION = (
    "ERASER Movies: J. DeYoung, S. Jain, N. F. Rajani, E. Lehman, C. Xiong, "
    "R. Socher and B. C. Wallace, 'ERASER: A Benchmark to Evaluate Rationalized "
    "NLP Models', ACL 2020 (https://www.eraserbenchmark.com/); rationales from "
    'O. Zaidan, J. Eisner and C. Piatko, \'Using "Annotator Rationales" to '
    "Improve Machine Learning for Text Categorization', NAACL-HLT 2007; reviews "
    "from B. Pang and L. Lee, 'A Sentimental Education: Sentiment Analysis Using "
    "Subjectivity Summarization Based on Minimum Cuts', ACL 2004 (polarity "
    "dataset v2.0)."
)


# -------------------------------------------------------------- reviews with rationales
@dataclass(frozen=True)
class RationaleSpan:
    """Words ``start_token`` to ``end_token`` (end-exclusive) of a review."""

    start_token: int
    end_token: int
    text: str


@dataclass
class RationaleReview:
    """One ERASER review: its words, its label and the spans a person marked.

    ``tokens``: the review's whitespace tokens, all lines together (the index
    space of the spans). ``label``: 0 = negative, 1 = positive.
    ``duplicate_of``: the annotation id of an earlier review in the same split
    with exactly the same words (``negR_274`` / ``negR_302`` in train), else
    ``None``. A review without spans (``posR_161`` in train) is kept;
    :attr:`has_rationale` is false for it.
    """

    annotation_id: str
    docid: str
    label: int
    tokens: list[str]
    spans: list[RationaleSpan]
    duplicate_of: str | None = None

    @property
    def text(self) -> str:
        """The words joined by single spaces (what the tokenizer reads)."""
        return " ".join(self.tokens)

    @property
    def has_rationale(self) -> bool:
        return bool(self.spans)

    def word_mask(self) -> np.ndarray:
        """Boolean ``[n_words]``: the words inside any rationale span."""
        mask = np.zeros(len(self.tokens), dtype=bool)
        for span in self.spans:
            mask[span.start_token : span.end_token] = True
        return mask

    @property
    def rationale_words(self) -> int:
        """How many distinct words the spans cover (overlaps counted once)."""
        return int(self.word_mask().sum())

    def __repr__(self) -> str:
        return (
            f"RationaleReview({self.annotation_id!r}, label={self.label}, "
            f"{len(self.tokens)} words, {len(self.spans)} spans)"
        )


# --------------------------------------------------------------------- finding the data
def _has_docs(folder: Path) -> bool:
    return (folder / "docs").is_dir() or (folder / "docs.jsonl").is_file()


def check_eraser_folder(root: str | os.PathLike, split: str | None = None) -> Path:
    """The folder holding ``<split>.jsonl`` and ``docs/``, given it or its parent.

    ``root`` may be that folder or one holding ``movies/`` (the official
    archive) or ``eraser_movies/`` (the project's repack). A ``docs.tar.gz``
    beside the jsonl files is extracted in place when ``docs/`` is missing.
    Raises :class:`DataError` naming what is missing and the fix.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"{root} is not a folder: point ${ERASER_ENV} at the extracted ERASER "
            "Movies folder (it holds train.jsonl, val.jsonl and docs/)."
        )
    candidates = [root] + [root / sub for sub in _SUBFOLDERS if (root / sub).is_dir()]
    for folder in candidates:
        if not (folder / "docs").is_dir() and (folder / "docs.tar.gz").is_file():
            safe_extract(folder / "docs.tar.gz", folder, env=ERASER_ENV)
        jsonls = [s for s in SPLITS if (folder / f"{s}.jsonl").is_file()]
        if jsonls and _has_docs(folder):
            if split is not None and split not in jsonls:
                raise DataError(
                    f"{folder / f'{split}.jsonl'} is missing (found "
                    f"{', '.join(f'{s}.jsonl' for s in jsonls)}): the project's "
                    "repack has train and val only; the official archive "
                    f"{ERASER_URL} also has test."
                )
            return folder
    raise DataError(
        f"{root} does not have the ERASER Movies layout: expected train.jsonl / "
        "val.jsonl and docs/ in it or in a movies/ or eraser_movies/ subfolder. "
        f"Point ${ERASER_ENV} at the folder extracted from movies.tar.gz."
    )


def find_eraser(download_if_missing: bool = True) -> Path:
    """Folder of the extracted ERASER Movies data, downloading it if needed.

    ``$ERASER_DIR`` wins when set; then ``<data_dir>/movies`` or
    ``<data_dir>/eraser_movies``; then the official archive is downloaded to
    the data dir (resumable, checksum-checked) and extracted. Raises
    :class:`DataError` when none of this works.
    """
    env = os.environ.get(ERASER_ENV)
    if env:
        return check_eraser_folder(env)
    for sub in _SUBFOLDERS:
        if (data_dir() / sub).is_dir():
            return check_eraser_folder(data_dir() / sub)
    if not download_if_missing:
        raise DataError(
            f"ERASER Movies not found: set ${ERASER_ENV} to the extracted folder "
            f"or extract {ERASER_URL} into {data_dir()}."
        )
    hint = (
        f"Without internet, download {ERASER_URL} elsewhere, extract it and set "
        f"${ERASER_ENV} to the extracted 'movies' folder."
    )
    archive = download(
        ERASER_URL, data_dir() / "movies.tar.gz", ERASER_SHA256, offline_hint=hint
    )
    safe_extract(archive, data_dir(), env=ERASER_ENV)
    return check_eraser_folder(data_dir())


# ---------------------------------------------------------------------- reading a split
def _words(text: str) -> list[str]:
    """ERASER's reading: strip lines, drop empty ones, split on single spaces."""
    lines = [line.strip() for line in text.split("\n")]
    return [w for line in lines if line for w in line.split(" ") if w]


def _read_doc(folder: Path, docid: str, docs_jsonl: dict | None) -> list[str]:
    if docs_jsonl is not None:
        if docid not in docs_jsonl:
            raise DataError(f"{folder / 'docs.jsonl'} has no document {docid!r}.")
        return _words(docs_jsonl[docid])
    path = folder / "docs" / plain_file_name(docid, str(folder / "docs"))
    if not path.is_file():
        raise DataError(
            f"{path} is missing: the jsonl names document {docid!r}. Extract the "
            "complete archive again."
        )
    try:
        return _words(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not valid UTF-8 (byte {err.start}): re-extract the archive."
        ) from err


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"{path}, line {lineno}: not valid JSON ({err.msg}, column "
                    f"{err.colno}). The file is corrupt: extract it again."
                ) from err
            if not isinstance(row, dict):
                raise DataError(f"{path}, line {lineno}: expected a JSON object.")
            rows.append((lineno, row))
    if not rows:
        raise DataError(f"{path} has no annotations.")
    return rows


def _docs_jsonl(folder: Path) -> dict | None:
    path = folder / "docs.jsonl"
    if (folder / "docs").is_dir() or not path.is_file():
        return None
    return {row["docid"]: row["document"] for _, row in _read_jsonl(path)}


def _parse_spans(row, where, docid, tokens) -> list[RationaleSpan]:
    spans = []
    groups = row.get("evidences") or []
    for group in groups:
        for ev in group if isinstance(group, list) else [group]:
            try:
                start, end, text = (
                    int(ev["start_token"]),
                    int(ev["end_token"]),
                    ev["text"],
                )
            except (KeyError, TypeError, ValueError) as err:
                raise DataError(
                    f"{where}: an evidence lacks start_token/end_token/text ({err})."
                ) from err
            if ev.get("docid", docid) != docid:
                raise DataError(
                    f"{where}: evidence points at document {ev.get('docid')!r}, "
                    f"not {docid!r}; only single-document tasks are supported."
                )
            if start == end and 0 <= start <= len(tokens):
                continue  # an empty span (the official archive has some): marks nothing
            if not 0 <= start < end <= len(tokens):
                raise DataError(
                    f"{where}: span [{start}, {end}) is outside the document's "
                    f"{len(tokens)} tokens."
                )
            got = " ".join(tokens[start:end])
            if got != text:
                raise DataError(
                    f"{where}: span [{start}, {end}) reads {got!r} in docs/{docid} "
                    f"but the annotation says {text!r}. The docs and the jsonl do "
                    "not belong together: extract both from the same archive."
                )
            spans.append(RationaleSpan(start, end, text))
    return spans


def _parse_row(lineno, row, path, folder, docs_jsonl) -> RationaleReview:
    where = f"{path}, line {lineno}"
    try:
        annotation_id, cls = str(row["annotation_id"]), row["classification"]
    except KeyError as err:
        raise DataError(f"{where}: missing field {err}.") from err
    if cls not in CLASS_LABELS:
        raise DataError(
            f"{where}: classification {cls!r} is not one of {sorted(CLASS_LABELS)}."
        )
    docids = row.get("docids") or [annotation_id]
    if len(docids) != 1:
        raise DataError(f"{where}: {len(docids)} documents; Movies has one each.")
    docid = str(docids[0])
    tokens = _read_doc(folder, docid, docs_jsonl)
    if not tokens:
        raise DataError(f"document {docid!r} ({where}) is empty.")
    spans = _parse_spans(row, where, docid, tokens)
    return RationaleReview(annotation_id, docid, CLASS_LABELS[cls], tokens, spans)


def load_eraser(
    split: str = "val",
    path: str | os.PathLike | None = None,
    *,
    skip_without_rationale: bool = False,
) -> list[RationaleReview]:
    """The reviews of ``split`` ("train", "val", "test") with their rationales.

    ``path``: an extracted folder (or its parent); ``None`` = :func:`find_eraser`.
    Every span is checked: ``" ".join(tokens[start:end]) == text``, else
    :class:`DataError` names the annotation, the line and both texts. A corrupt
    jsonl line raises with its line number. Reviews without any span are kept
    (flagged by ``has_rationale``) unless ``skip_without_rationale``; reviews
    repeating an earlier review's words get ``duplicate_of``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    folder = find_eraser() if path is None else Path(path)
    folder = check_eraser_folder(folder, split)
    jsonl = folder / f"{split}.jsonl"
    docs_jsonl = _docs_jsonl(folder)
    reviews, first_seen = [], {}
    for lineno, row in _read_jsonl(jsonl):
        review = _parse_row(lineno, row, jsonl, folder, docs_jsonl)
        key = review.text
        review.duplicate_of = first_seen.setdefault(key, review.annotation_id)
        if review.duplicate_of == review.annotation_id:
            review.duplicate_of = None
        reviews.append(review)
    if skip_without_rationale:
        reviews = [r for r in reviews if r.has_rationale]
    return reviews


def sample_eraser(
    split: str = "val", n: int | None = None, seed: int = 1234, *, required: bool = True
) -> list[RationaleReview] | None:
    """A seeded sample of ``n`` reviews of ``split`` (all of them, shuffled, for None).

    With ``required=False`` a missing data set is not an error: the reason and
    the fix are printed and ``None`` is returned, so a chapter can skip its
    plausibility section on a machine without the data.
    """
    try:
        reviews = load_eraser(split)
    except DataError as err:
        if required:
            raise
        print(f"ERASER Movies is not available here, so this part is skipped: {err}")
        return None
    k = len(reviews) if n is None else min(int(n), len(reviews))
    return random.Random(seed).sample(reviews, k)


# ------------------------------------------------------- rationales on WordPiece tokens
@dataclass
class RationaleBatch:
    """Reviews encoded for BERT with their human rationale on the same tokens.

    ``inputs``: ``input_ids``, ``attention_mask`` (and ``token_type_ids``), each
    a LongTensor ``[n, seq]``, padded and truncated to ``max_length``: exactly
    what ``helpers.data.encode.encode_texts(tokenizer, texts, max_length)`` returns.
    ``rationale``: BoolTensor ``[n, seq]``, true on the pieces of rationale
    words ([CLS], [SEP] and padding never). ``word_index``: LongTensor
    ``[n, seq]``, the review word each piece comes from (-1 for special tokens
    and padding). Per review (numpy ``[n]``): ``rationale_words`` (rationale
    words that the tokenizer turns into at least one piece),
    ``rationale_words_kept`` (those with a piece inside the first
    ``max_length`` tokens), ``n_words`` / ``n_words_kept`` likewise for all
    words, and ``n_pieces`` (WordPiece tokens of the whole review, no
    specials).
    """

    inputs: dict[str, torch.Tensor]
    rationale: torch.Tensor
    word_index: torch.Tensor
    texts: list[str]
    ids: list[str]
    labels: torch.Tensor
    rationale_words: np.ndarray
    rationale_words_kept: np.ndarray
    n_words: np.ndarray
    n_words_kept: np.ndarray
    n_pieces: np.ndarray
    max_length: int

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def coverage(self) -> np.ndarray:
        """``[n]``: share of rationale words inside the explained part (NaN: none)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(
                self.rationale_words > 0,
                self.rationale_words_kept / np.maximum(self.rationale_words, 1),
                np.nan,
            )

    @property
    def truncated(self) -> np.ndarray:
        """Boolean ``[n]``: the review has more pieces than fit in ``max_length``."""
        return self.n_words_kept < self.n_words


def _require_offsets(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            f"{type(tokenizer).__name__} is a slow tokenizer without character "
            "offsets: load a fast one (helpers.models.load_tokenizer() returns one, "
            "or transformers.AutoTokenizer.from_pretrained(..., use_fast=True))."
        )


def _word_starts(tokens: list[str]) -> np.ndarray:
    """Character offset of each word in ``" ".join(tokens)``."""
    lengths = np.array([len(t) + 1 for t in tokens], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]])


def _piece_words(offsets, starts: np.ndarray, n_chars: int) -> np.ndarray:
    """Word index of each piece from its character span; -1 for empty spans.

    Words are separated by single spaces and BERT's pre-tokenizer never joins
    across whitespace, so a piece's first character identifies its word.
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    words = np.full(len(offsets), -1, dtype=np.int64)
    real = (offsets[:, 1] > offsets[:, 0]) & (offsets[:, 0] < n_chars)
    words[real] = np.searchsorted(starts, offsets[real, 0], side="right") - 1
    return words


def _review_of(doc) -> RationaleReview:
    if not isinstance(doc, RationaleReview):
        raise TypeError(
            f"expected a RationaleReview from load_eraser(), got {type(doc).__name__}."
        )
    return doc


def _tokenize_with_offsets(tokenizer, texts: list[str], max_length: int):
    """``texts`` as :func:`.encode.encode_texts` encodes them, and whole (no specials).

    Both carry character offsets; the first also the special-tokens mask.
    """
    enc = encode_texts(
        tokenizer,
        texts,
        max_length,
        warn=False,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    full = encode(
        tokenizer, texts, add_special_tokens=False, return_offsets_mapping=True
    )
    return enc, full


def encode_rationales(docs, tokenizer, max_length: int = 512) -> RationaleBatch:
    """Tokenize reviews and mark the WordPiece tokens of their human rationales.

    The words are joined by single spaces; a piece is marked when the word its
    character span starts in is a rationale word. This follows ``##``
    continuations, punctuation split off a word, accents stripped by the
    normalizer and [UNK] alike. ``max_length`` is capped at the model's 512
    positions; longer reviews are truncated exactly like
    :func:`helpers.data.encode.encode_texts`, and ``rationale_words_kept`` tells how
    much of each rationale is left. Needs a fast tokenizer (offsets).
    """
    docs = [_review_of(d) for d in docs]
    if not docs:
        raise ValueError("No reviews given: pass at least one RationaleReview.")
    _require_offsets(tokenizer)
    texts = check_texts([d.text for d in docs])
    max_length = model_max_length(tokenizer, max_length)
    enc, full = _tokenize_with_offsets(tokenizer, texts, max_length)
    special = enc.pop("special_tokens_mask").bool()
    offsets = enc.pop("offset_mapping")
    word_index = torch.full(enc["input_ids"].shape, -1, dtype=torch.long)
    rationale = torch.zeros(enc["input_ids"].shape, dtype=torch.bool)
    counts = {k: np.zeros(len(docs), dtype=np.int64) for k in _COUNT_KEYS}
    for i, (doc, text) in enumerate(zip(docs, texts, strict=True)):
        starts, marked = _word_starts(doc.tokens), doc.word_mask()
        words = _piece_words(offsets[i], starts, len(text))
        keep = ~special[i].numpy() & enc["attention_mask"][i].bool().numpy()
        words = np.where(keep, words, -1)
        word_index[i] = torch.from_numpy(words)
        rationale[i] = torch.from_numpy((words >= 0) & marked[np.maximum(words, 0)])
        all_words = np.unique(
            _piece_words(full["offset_mapping"][i], starts, len(text))
        )
        kept_words = np.unique(words[words >= 0])
        all_words = all_words[all_words >= 0]
        counts["n_words"][i], counts["n_words_kept"][i] = (
            len(all_words),
            len(kept_words),
        )
        counts["rationale_words"][i] = int(marked[all_words].sum())
        counts["rationale_words_kept"][i] = int(marked[kept_words].sum())
        counts["n_pieces"][i] = len(full["input_ids"][i])
    return RationaleBatch(
        inputs={k: v for k, v in enc.items() if isinstance(v, torch.Tensor)},
        rationale=rationale,
        word_index=word_index,
        texts=texts,
        ids=[d.annotation_id for d in docs],
        labels=torch.tensor([d.label for d in docs], dtype=torch.long),
        max_length=max_length,
        **counts,
    )


_COUNT_KEYS = (
    "rationale_words",
    "rationale_words_kept",
    "n_words",
    "n_words_kept",
    "n_pieces",
)
