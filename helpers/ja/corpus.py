"""Japanese text for the book's models: chABSA, ETC splits, MeCab words, vocabulary.

Data: **chABSA** (TIS Inc. / chakki-works, CC BY 4.0): sentences from Japanese
securities reports, labelled here at sentence level (1 = positive, 0 =
negative) as ``text<TAB>label<TAB>`` files ``train.tsv`` and ``test.tsv``. Get
it from https://github.com/chakki-works/chABSA-dataset (sentence labels are
derived from its JSON opinion annotations), then point ``$CHABSA_DIR`` at the
folder holding the two TSVs, or put them in ``<data_dir>/chabsa/``. The **ETC
Dataset** (:mod:`helpers.data.etc`) gives everyday dialogues.

Words and tokenizer: ``BertJapaneseTokenizer`` with
``word_tokenizer_type="mecab"``, ``mecab_kwargs={"mecab_dic": "ipadic"}`` and a
WordPiece vocabulary (:func:`build_vocab`: MeCab words of the training
sentences, plus every single character and its ``##`` continuation so unseen
words split into characters rather than ``[UNK]``), exactly the hub model's
type.

Splits: chABSA has no validation split; :func:`chabsa_train_valid` carves one
from its training sentences (seeded, stratified). :func:`sentiment_data`
gives the labelled splits of the sentiment model.
"""

from __future__ import annotations

import collections
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
#: The special tokens written at the head of a new WordPiece vocabulary
#: (``[PAD]`` = 0); the tokenizer built on it reports them as its own.
VOCAB_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
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
# Tokenizer: MeCab (ipadic) words + WordPiece, exactly the hub model's type
# --------------------------------------------------------------------------- #
def mecab_words(texts) -> list[list[str]]:
    """MeCab (ipadic) words of each text, split as ``BertJapaneseTokenizer`` does.

    The text is NFKC-normalised first.
    """
    tagger = _mecab()
    return [tagger.tokenize(text) for text in texts]


def base_characters() -> list[str]:
    """Characters every vocabulary gets: ASCII, Japanese punctuation, kana, CJK.

    chABSA (securities reports) never uses, e.g., ``私`` or ``。``; without
    these a sentence such as ``私は不運な人間です。`` would show ``[UNK]`` where
    those characters are. Their embeddings stay untrained (random) unless the
    training data uses them, but every token keeps its text for display.
    """
    ranges = [
        (0x21, 0x7E),
        (0x3001, 0x303F),
        (0x3041, 0x3096),
        (0x309D, 0x309F),
        (0x30A1, 0x30FF),
        (0x4E00, 0x9FFF),
    ]
    return [chr(c) for lo, hi in ranges for c in range(lo, hi + 1)]


def build_vocab(texts, min_freq: int = 2, base_chars: bool = True) -> list[str]:
    """WordPiece vocabulary for ``texts``: specials, characters, ``##``-pieces, words.

    Order: the five special tokens (``[PAD]`` = 0), every character (those seen
    in ``texts`` plus, with ``base_chars``, :func:`base_characters`) and its
    ``##`` continuation (so any word made of known characters splits into pieces
    instead of ``[UNK]``), then MeCab words seen at least ``min_freq`` times, most
    frequent first (ties alphabetical), so the result is deterministic.
    """
    if not isinstance(min_freq, int) or min_freq < 1:
        raise ValueError(f"min_freq must be a positive integer, got {min_freq!r}")
    counts = collections.Counter(w for words in mecab_words(texts) for w in words)
    if not counts:
        raise ValueError(
            "No words found: pass at least one non-empty sentence to build a "
            "vocabulary."
        )
    chars = {c for word in counts for c in word if not c.isspace()}
    chars = sorted(chars | set(base_characters()) if base_chars else chars)
    vocab = list(VOCAB_SPECIALS) + chars + ["##" + c for c in chars]
    seen = set(vocab)
    for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= min_freq and word not in seen:
            vocab.append(word)
            seen.add(word)
    return vocab


def make_japanese_tokenizer(
    vocab: list[str], folder: str | os.PathLike, model_max_length: int = 512
):
    """A ``BertJapaneseTokenizer`` (MeCab + WordPiece) over ``vocab``, in ``folder``.

    ``model_max_length``: the model's number of positions, so that truncation
    (e.g. :func:`helpers.data.encode_texts`) never exceeds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertJapaneseTokenizer(
        str(vocab_file),
        do_lower_case=False,
        word_tokenizer_type="mecab",
        subword_tokenizer_type="wordpiece",
        mecab_kwargs=dict(MECAB_KWARGS),
        model_max_length=model_max_length,
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


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
