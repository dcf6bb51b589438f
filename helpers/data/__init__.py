"""The one way the book gets data: IMDb reviews, tokenized for BERT.

Chapters call the reader-facing API module-qualified (``from helpers import
data`` … ``data.load_reviews(...)``); it lives in these modules:

* :mod:`helpers.data.imdb`: the IMDb reader, the synthetic sample behind the
  same loader (:func:`load_reviews`), the splitter (:func:`train_val_split`);
* :mod:`helpers.data.duplicates`: reviews held twice, within a split and
  across two (:func:`count_duplicates`);
* :mod:`helpers.data.encode`: texts to BERT inputs (:func:`encode_texts`,
  :func:`make_loader`, :func:`token_lengths`);
* :mod:`helpers.data.fetch`: downloads that resume and check their SHA-256,
  safe extraction into :func:`helpers.config.data_dir` (not re-exported:
  ``data.fetch.download``);
* :mod:`helpers.data.eraser` (ERASER Movies, human rationales) and
  :mod:`helpers.data.etc` (the ETC Dataset, everyday Japanese), reached as
  ``from helpers.data import eraser, etc``;
* :mod:`helpers.data.errors`: :class:`DataError` and the book's warning format.
"""

from ..config import LABEL_NAMES  # IMDb's labels, in class order
from . import duplicates, encode, eraser, errors, etc, fetch, imdb
from .duplicates import Duplicates, count_duplicates, normalise_whitespace, same_text
from .encode import (
    KEEP,
    TextBatch,
    TokenizedReviews,
    TruncationWarning,
    check_keep,
    check_texts,
    decode_batch,
    default_head,
    encode_texts,
    make_collate,
    make_loader,
    model_max_length,
    padding_fraction,
    text_batches,
    token_lengths,
    tokenize_truncated,
)
from .errors import BookWarning, DataError
from .imdb import (
    IMDB_ENV,
    IMDB_SHA256,
    IMDB_URL,
    GroupingWarning,
    ReviewSet,
    export_tsv,
    find_imdb,
    load_reviews,
    preprocess_text,
    read_imdb_split,
    read_review,
    read_tsv,
    sample_reviews,
    strip_line_breaks,
    synthetic_reviews,
    train_val_split,
)

__all__ = [
    "IMDB_ENV",
    "IMDB_SHA256",
    "IMDB_URL",
    "KEEP",
    "LABEL_NAMES",
    "BookWarning",
    "DataError",
    "Duplicates",
    "GroupingWarning",
    "ReviewSet",
    "TextBatch",
    "TokenizedReviews",
    "TruncationWarning",
    "check_keep",
    "check_texts",
    "count_duplicates",
    "decode_batch",
    "default_head",
    "duplicates",
    "encode",
    "encode_texts",
    "eraser",
    "errors",
    "etc",
    "export_tsv",
    "fetch",
    "find_imdb",
    "imdb",
    "load_reviews",
    "make_collate",
    "make_loader",
    "model_max_length",
    "normalise_whitespace",
    "padding_fraction",
    "preprocess_text",
    "read_imdb_split",
    "read_review",
    "read_tsv",
    "same_text",
    "sample_reviews",
    "strip_line_breaks",
    "synthetic_reviews",
    "text_batches",
    "token_lengths",
    "tokenize_truncated",
    "train_val_split",
]
