"""Japanese text for the book's models: chABSA, ETC splits, MeCab words.

Data: **chABSA** (TIS Inc. / chakki-works, CC BY 4.0): sentences from Japanese
securities reports, labelled here at sentence level (1 = positive, 0 =
negative) as ``text<TAB>label<TAB>`` files ``train.tsv`` and ``test.tsv``. Get
it from https://github.com/chakki-works/chABSA-dataset (sentence labels are
derived from its JSON opinion annotations), then point ``$CHABSA_DIR`` at the
folder holding the two TSVs, or put them in ``<data_dir>/chabsa/``. The **ETC
Dataset** (:mod:`helpers.data.etc`) gives everyday dialogues.

Words: MeCab with ipadic (:func:`mecab_words`), as the hub model's
``BertJapaneseTokenizer`` (``word_tokenizer_type="mecab"``) splits them;
:func:`use_ipadic` makes an old config that names no dictionary use ipadic.

Splits: chABSA has no validation split; :func:`chabsa_train_valid` carves one
from its training sentences (seeded, stratified). :func:`sentiment_data`
gives the labelled splits of the sentiment model.
"""

from __future__ import annotations

import os
from pathlib import Path

from transformers import BertJapaneseTokenizer
from transformers.models.bert_japanese.tokenization_bert_japanese import (
    MecabTokenizer,
)

from ..config import data_dir
from ..data import DataError, ReviewSet, etc, read_tsv, train_val_split
from ..extras import optional_import
from .settings import SentimentSettings

CHABSA_ENV = "CHABSA_DIR"
CHABSA_URL = "https://github.com/chakki-works/chABSA-dataset"
CHABSA_SOURCE = "chABSA (chakki-works, CC BY 4.0)"
MECAB_KWARGS = {"mecab_dic": "ipadic"}


class ChabsaFormatError(DataError, ValueError):
    """A chABSA TSV row is malformed; the message names the file and line."""


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #
def find_chabsa(path: str | os.PathLike | None = None) -> Path:
    """The folder holding chABSA's ``train.tsv``/``test.tsv``.

    ``path`` when given, else ``$CHABSA_DIR`` when set, else ``<data_dir>/chabsa``;
    raises :class:`helpers.data.DataError` saying how to get the data when the
    files are not there.
    """
    if path is not None:
        what, folder = "the path given", Path(path).expanduser()
    elif os.environ.get(CHABSA_ENV):
        what, folder = f"${CHABSA_ENV}", Path(os.environ[CHABSA_ENV]).expanduser()
    else:
        what, folder = "the data folder", data_dir() / "chabsa"
    if (folder / "train.tsv").is_file() and (folder / "test.tsv").is_file():
        return folder
    raise DataError(
        f"chABSA not found: no train.tsv and test.tsv in {folder} ({what}). "
        f"Get chABSA (CC BY 4.0) from {CHABSA_URL}, write sentence-level "
        "'text<TAB>label<TAB>' files train.tsv/test.tsv (1 = positive, 0 = negative) "
        f"and set ${CHABSA_ENV} to their folder, or put them in "
        f"{data_dir() / 'chabsa'}."
    )


def read_chabsa_tsv(path: str | os.PathLike, source: str | None = None) -> ReviewSet:
    """Read one chABSA TSV; a malformed row raises :class:`ChabsaFormatError`.

    Rows are ``text<TAB>label<TAB>`` with label 0 or 1; the error for a row
    without a label, with another label or with an empty sentence names the file
    and the line number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist: see {CHABSA_URL} to get chABSA.")
    try:
        return read_tsv(path, num_labels=2, source=source)
    except DataError as err:
        raise ChabsaFormatError(
            f"{err} Fix or remove that row of the chABSA file."
        ) from err


def load_chabsa(split: str, path: str | os.PathLike | None = None) -> ReviewSet:
    """chABSA sentences of ``split`` (``"train"``/``"test"``) as a :class:`ReviewSet`.

    ``path`` is the folder with the TSVs (default: ``$CHABSA_DIR``, then
    ``<data_dir>/chabsa``). Labels: 1 = positive, 0 = negative.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = find_chabsa(path)
    reviews = read_chabsa_tsv(folder / f"{split}.tsv")
    reviews.source = f"{CHABSA_SOURCE} {split} ({len(reviews)} sentences)"
    reviews.ids = [f"chabsa-{split}-{i}" for i in range(len(reviews))]
    return reviews


# --------------------------------------------------------------------------- #
# Words: MeCab (ipadic), as the hub model's tokenizer splits them
# --------------------------------------------------------------------------- #
def mecab_words(texts) -> list[list[str]]:
    """MeCab (ipadic) words of each text, split as ``BertJapaneseTokenizer`` does.

    The text is NFKC-normalised first.
    """
    tagger = _mecab()
    return [tagger.tokenize(text) for text in texts]


def _mecab() -> MecabTokenizer:
    """MeCab with ipadic, as the Japanese BERTs split words; the extra to install
    when ``fugashi`` or ``ipadic`` is missing."""
    for module in ("fugashi", "ipadic"):
        optional_import(module, "MeCab words (Japanese BERT tokenizers)")
    return MecabTokenizer(**MECAB_KWARGS)


def use_ipadic(tokenizer):
    """Make a MeCab ``BertJapaneseTokenizer`` that names no dictionary use ipadic.

    Old Japanese BERT configs (cl-tohoku v1 and models fine-tuned from them)
    say only ``word_tokenizer_type="mecab"``: they were trained on ipadic words,
    but transformers 5 defaults to unidic-lite. Other tokenizers pass unchanged.
    """
    if (
        isinstance(tokenizer, BertJapaneseTokenizer)
        and tokenizer.word_tokenizer_type == "mecab"
        and not (tokenizer.mecab_kwargs or {}).get("mecab_dic")
    ):
        tokenizer.mecab_kwargs = dict(MECAB_KWARGS)
        _mecab()  # a clear error when fugashi or ipadic is missing
        tokenizer.word_tokenizer = MecabTokenizer(
            do_lower_case=tokenizer.do_lower_case,
            never_split=tokenizer.never_split,
            **MECAB_KWARGS,
        )
    return tokenizer


def chabsa_train_valid(
    chabsa_path=None, val_fraction: float = 0.2, seed: int = 1234
) -> tuple[ReviewSet, ReviewSet]:
    """chABSA train split into a train part and a validation part (seeded, stratified).

    The carve of :func:`sentiment_data` with the same ``val_fraction`` and
    ``seed`` (defaults of :class:`helpers.ja.settings.SentimentSettings`).
    """
    return train_val_split(load_chabsa("train", chabsa_path), val_fraction, seed)


def _concat(parts: list[ReviewSet], source: str) -> ReviewSet:
    return ReviewSet(
        [t for p in parts for t in p.texts],
        [y for p in parts for y in p.labels],
        source,
        [i for p in parts for i in p.ids],
    )


def sentiment_data(
    etc_path=None, chabsa_path=None, settings: SentimentSettings | None = None
) -> dict[str, ReviewSet]:
    """Labelled splits: ``etc_<split>``, ``chabsa_<split>``, ``train``, ``valid``.

    ``etc_<split>``: utterances of both roles (:func:`helpers.data.etc.load_etc`).
    ``chabsa_train``/``chabsa_valid`` are chABSA train carved by ``settings``
    (``val_fraction``, ``seed``; stratified). ``train`` = ETC train utterances
    (+ their emotion transcriptions, ``etc_train_notes``, when
    ``settings.train_transcriptions``) + chABSA train part; ``valid`` = ETC
    valid utterances + chABSA validation part.
    """
    settings = settings or SentimentSettings()
    data = {f"etc_{s}": etc.load_etc(s, etc_path) for s in etc.SPLITS}
    data["etc_train_notes"] = etc.load_etc(
        "train", etc_path, text="emotion_transcription"
    )
    data["chabsa_train"], data["chabsa_valid"] = chabsa_train_valid(
        chabsa_path, settings.val_fraction, settings.seed
    )
    data["chabsa_test"] = load_chabsa("test", chabsa_path)
    train, name = [data["etc_train"], data["chabsa_train"]], "ETC train utterances"
    if settings.train_transcriptions:
        train.insert(1, data["etc_train_notes"])
        name += " + emotion transcriptions"
    data["train"] = _concat(train, f"{name} + chABSA train part")
    data["valid"] = _concat(
        [data["etc_valid"], data["chabsa_valid"]], "ETC valid + chABSA valid part"
    )
    return data
