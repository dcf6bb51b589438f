"""Words of a text as a tokenizer reads them: fast tokenizers and slow word-level ones.

:func:`align` is the one way to learn, for every token, which word of the
text it belongs to and which characters of the *original* text it covers. A
*fast* tokenizer (``tokenizer.is_fast``) says so itself (``word_ids()``,
``offset_mapping``). A slow tokenizer with a word-level pre-tokenizer
(``BertJapaneseTokenizer``: MeCab, Sudachi or Juman++ words, then WordPiece
pieces within each word) is aligned here: its words
(``tokenizer.word_tokenizer``) and their pieces
(``tokenizer.subword_tokenizer``) are found in order in the text as the
tokenizer normalises it (NFKC for MeCab), and every normalised character is
mapped back to the characters of the original text it came from, so ``ｶﾞ``
(half-width, two characters) is the word ``ガ`` read there.

:func:`word_map` groups the tokens of one word into a
:class:`helpers.tokens.WordMap` and takes the word's text **from the original
string** (``text[start:end]``), so a word shows as it was written: no ``##``,
``Ġ`` or ``▁``, the original case, accents and width, and the original
spacing between words, also in Japanese, where there is none. "Word" means
one word of the tokenizer's pre-tokenizer: BERT also splits punctuation off
(``great`` ``!``), byte-level BPE keeps runs of punctuation together
(``>!``), MeCab splits ``不運な`` into ``不運`` ``な``. With another
segmenter's words (``words=``, MeCab's for a SentencePiece model), the tokens
are grouped by those instead.

A slow tokenizer (pure Python, ``is_fast`` False) without a word tokenizer
has no words to align: :func:`require_words` raises a ``TypeError`` saying
what is missing and how to get a fast one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from .tokens import WordMap, encode, from_offsets, piece_text, special_ids


def aligns(tokenizer) -> bool:
    """Whether :func:`align` can give ``tokenizer``'s words and offsets.

    True for a fast tokenizer and for a slow one that splits text into words
    first (a ``word_tokenizer``, as ``BertJapaneseTokenizer`` has), then
    words into pieces (a ``subword_tokenizer``, unless it keeps whole words).
    """
    if bool(getattr(tokenizer, "is_fast", False)):
        return True
    if not getattr(tokenizer, "do_word_tokenize", True):
        return False
    parts = [getattr(tokenizer, "word_tokenizer", None)]
    if getattr(tokenizer, "do_subword_tokenize", True):
        parts.append(getattr(tokenizer, "subword_tokenizer", None))
    return all(callable(getattr(part, "tokenize", None)) for part in parts)


def require_words(tokenizer):
    """``tokenizer`` itself when :func:`aligns` holds; ``TypeError`` otherwise.

    The error names what is missing: a fast tokenizer's ``word_ids()`` and
    ``offset_mapping``, or a slow one's word and subword tokenizers.
    """
    if not aligns(tokenizer):
        raise TypeError(
            f"{type(tokenizer).__name__} is a slow tokenizer without words to "
            "align: words and their characters come from a fast tokenizer's "
            "word_ids() and offset_mapping, or from a slow one's word_tokenizer "
            "and subword_tokenizer (BertJapaneseTokenizer with "
            "do_word_tokenize=True: MeCab, Sudachi or Juman++ words); this one "
            "has neither. Load a fast one with "
            "AutoTokenizer.from_pretrained(name, use_fast=True), or wrap a "
            "`tokenizers.Tokenizer` in "
            "transformers.PreTrainedTokenizerFast(tokenizer_object=...)."
        )
    return tokenizer


#: Characters each side of a cut that :func:`_normalised` checks: more than
#: Unicode's longest run of combining marks in stream-safe text (30).
_NORMALISE_WINDOW = 32


def _normalise(text: str, form: str, lower: bool) -> str:
    text = unicodedata.normalize(form, text)
    return text.lower() if lower else text


def _normalised(text: str, form: str, lower: bool) -> tuple[str, list[tuple[int, int]]]:
    """``text`` normalised as the tokenizer does, and each character's origin.

    Returns the normalised text and, for each of its characters, the
    ``(start, end)`` characters of ``text`` it came from. The text is cut
    wherever normalising the two sides apart gives the same as normalising
    them together, and each part is normalised alone: ``ｶﾞ`` (two
    characters) is one part, ``ガ``, and both characters of ``平成`` come from
    the one character ``㍻``.
    """
    if unicodedata.is_normalized(form, text) and not (lower and text != text.lower()):
        return text, [(i, i + 1) for i in range(len(text))]
    w = _NORMALISE_WINDOW
    cuts = [0]
    for i in range(1, len(text)):
        left, right = text[max(0, i - w) : i], text[i : i + w]
        apart = _normalise(left, form, lower) + _normalise(right, form, lower)
        if apart == _normalise(left + right, form, lower):
            cuts.append(i)
    cuts.append(len(text))
    parts, origin = [], []
    for a, b in pairwise(cuts):
        part = _normalise(text[a:b], form, lower)
        parts.append(part)
        origin += [(a, b)] * len(part)
    normalised = "".join(parts)
    if normalised != _normalise(text, form, lower):
        raise ValueError(
            f"the text cannot be aligned with its {form} normal form: normalise "
            f"it first (unicodedata.normalize({form!r}, text))."
        )
    return normalised, origin


def _is_dropped(char: str) -> bool:
    """Characters a word tokenizer leaves out: spaces, control and format ones."""
    return char.isspace() or unicodedata.category(char).startswith("C")


def _piece_spans(word: str, pieces: Sequence[str], unk: str, tokenizer):
    """``(start, end)`` of each piece within ``word``: ``##``/``▁`` stripped,
    an unknown piece covers up to where the next piece is found."""
    surfaces = [None if p == unk else piece_text(p.lstrip("▁")) for p in pieces]
    spans, at = [], 0
    for k, surface in enumerate(surfaces):
        if surface is None:
            known = next((s for s in surfaces[k + 1 :] if s), None)
            found = -1 if known is None else word.find(known, at + 1)
            end = len(word) if found < 0 else found
        elif word.startswith(surface, at):
            end = at + len(surface)
        else:
            raise ValueError(
                f"{type(tokenizer).__name__}'s piece {pieces[k]!r} is not the next "
                f"text of the word {word!r}: its subword_tokenizer must cut words "
                "into their own characters (WordPiece ##, SentencePiece ▁)."
            )
        spans.append((at, end))
        at = end
    return spans


def _slow_alignment(tokenizer, text: str):
    """Pieces, offsets into ``text`` and word ids of a slow word-level tokenizer.

    The words are ``tokenizer.word_tokenizer``'s (as ``BertJapaneseTokenizer``
    reads them, special tokens split as text), each cut into pieces by
    ``tokenizer.subword_tokenizer``; words and pieces are found in order in
    the text as the word tokenizer normalises it (NFKC when it says
    ``normalize_text``, else NFC; lower-cased with ``do_lower_case``). Words
    drawn from one original character (``㍻`` → ``平成``) are one word.
    """
    words_of = tokenizer.word_tokenizer
    form = "NFKC" if getattr(words_of, "normalize_text", False) else "NFC"
    lower = bool(getattr(tokenizer, "do_lower_case", False))
    normalised, origin = _normalised(text, form, lower)
    words = words_of.tokenize(text, never_split=tokenizer.all_special_tokens)
    split = getattr(tokenizer, "do_subword_tokenize", True)
    unk = str(tokenizer.unk_token)
    pieces, offsets, word_ids = [], [], []
    at, word_id, word_end = 0, -1, -1
    for word in filter(None, words):
        found = normalised.find(word, at)
        if found < 0 or not all(_is_dropped(c) for c in normalised[at:found]):
            raise ValueError(
                f"{type(tokenizer).__name__}'s word {word!r} is not the next word "
                f"of the text in {form}{' lower case' if lower else ''} (from "
                f"character {at}): its word_tokenizer must cut the normalised text "
                "into words without changing them (for Sudachi, "
                "sudachi_projection='surface')."
            )
        if origin[found][0] >= word_end:  # else it shares a character (㍻)
            word_id += 1
        chunk = tokenizer.subword_tokenizer.tokenize(word) if split else [word]
        for a, b in _piece_spans(word, chunk, unk, tokenizer):
            a, b = found + a, found + b  # an empty piece (a lone ▁) covers nothing
            start = origin[a][0] if a < len(origin) else len(text)
            offsets.append((start, origin[b - 1][1]) if b > a else (start, start))
            word_ids.append(word_id)
        pieces += chunk
        at = found + len(word)
        word_end = origin[at - 1][1]
    return pieces, offsets, word_ids


@dataclass(frozen=True)
class Alignment:
    """One text's token ids, and for each token its characters and its word.

    ``ids``: what :func:`encode` gives; ``offsets``: each token's ``(start,
    end)`` characters in the original text (``(0, 0)`` for special tokens);
    ``word_ids``: each token's word (``None`` for special tokens);
    ``special``: whether the tokenizer added the token ([CLS], [SEP]...);
    ``truncated``: ``max_length`` cut the text.
    """

    ids: list[int]
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]
    special: list[bool]
    truncated: bool = False


def _slow_offsets(tokenizer, text, ids, special):
    """Offsets and word ids of the tokens of a slow tokenizer's encoding."""
    pieces, content_offsets, content_words = _slow_alignment(tokenizer, text)
    content = [t for t, s in enumerate(special) if not s]
    expected = tokenizer.convert_tokens_to_ids(pieces)[: len(content)]
    if [ids[t] for t in content] != expected:
        raise ValueError(
            f"{type(tokenizer).__name__} encodes the text otherwise than its "
            "word_tokenizer and subword_tokenizer cut it: words cannot be aligned; "
            "use a fast tokenizer (AutoTokenizer.from_pretrained(name, "
            "use_fast=True))."
        )
    offsets: list[tuple[int, int]] = [(0, 0)] * len(ids)
    word_ids: list[int | None] = [None] * len(ids)
    for k, t in enumerate(content):
        offsets[t], word_ids[t] = content_offsets[k], content_words[k]
    return offsets, word_ids


def align(
    tokenizer,
    text: str,
    *,
    add_special_tokens: bool = True,
    max_length: int | None = None,
) -> Alignment:
    """THE way to the words of a text: ids, offsets and word ids (:class:`Alignment`).

    Ids come from :func:`encode` (special tokens typed in the text stay
    text); ``max_length`` truncates. A fast tokenizer gives offsets and words
    itself; a slow one with a word tokenizer is aligned to the original text
    (module docstring). Raises ``TypeError`` for a tokenizer without words
    (:func:`require_words`) and ``ValueError`` when a slow tokenizer's words
    cannot be found in the text.
    """
    require_words(tokenizer)
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}.")
    fast = bool(getattr(tokenizer, "is_fast", False))
    cut = {} if max_length is None else {"truncation": True, "max_length": max_length}
    encoding = encode(
        tokenizer,
        text,
        add_special_tokens=add_special_tokens,
        return_offsets_mapping=fast,
        return_special_tokens_mask=True,
        return_overflowing_tokens=False,
        **cut,
    )
    ids = list(encoding["input_ids"])
    special = [bool(m) for m in encoding["special_tokens_mask"]]
    if fast:
        offsets = [tuple(o) for o in encoding["offset_mapping"]]
        word_ids = encoding.word_ids()
    else:
        offsets, word_ids = _slow_offsets(tokenizer, text, ids, special)
    truncated = False
    if max_length is not None:
        full = encode(tokenizer, text, add_special_tokens=add_special_tokens)
        truncated = len(full["input_ids"]) > len(ids)
    return Alignment(ids, offsets, word_ids, special, truncated)


def word_map(
    tokenizer,
    text: str,
    max_length: int | None = None,
    words: Sequence[str] | None = None,
) -> WordMap:
    """Words of ``text`` as the model reads it: :func:`align`, specials framing it.

    ``index`` follows the positions of that encoding (special tokens
    included, as ``None``), so a score vector ``[n_tokens]`` of one review
    merges with :meth:`WordMap.merge`. ``max_length`` truncates the encoding
    (``truncated`` says whether it cut). Raises ``TypeError`` for a slow
    tokenizer without words (:func:`require_words`).

    ``words``: the words of ``text`` from another segmenter, in order (MeCab's
    for Japanese, which a SentencePiece tokenizer reads as one space-free
    "word"); each is found in the NFKC form of the text. The tokens are then
    grouped by these words: a token goes to the words its characters overlap,
    and words that share a token become one (``▁私は`` joins 私 and は), so
    every token's score lands on exactly one word. A token of whitespace
    alone joins the next word.
    """
    aligned = align(tokenizer, text, max_length=max_length)
    special = special_ids(tokenizer)
    hidden = [
        s or i in special for s, i in zip(aligned.special, aligned.ids, strict=True)
    ]
    word_ids = aligned.word_ids
    if words is not None:
        word_ids = _regroup(aligned.offsets, hidden, word_spans(text, words))
    return from_offsets(
        text,
        aligned.offsets,
        word_ids,
        hidden,
        tokenizer.convert_ids_to_tokens(aligned.ids),
        aligned.truncated,
    )


def word_spans(text: str, words: Sequence[str], form: str = "NFKC"):
    """``(start, end)`` in ``text`` of ``words``, found in order in its ``form``.

    Raises ``ValueError`` naming the word that is not there.
    """
    normalised, origin = _normalised(text, form, False)
    spans, position = [], 0
    for word in words:
        start = normalised.find(word, position) if word else -1
        if start < 0:
            raise ValueError(
                f"the word {word!r} is not in the text after character {position}: "
                "pass the words of this text, in order (e.g. its MeCab words)."
            )
        position = start + len(word)
        spans.append((origin[start][0], origin[position - 1][1]))
    return spans


def _regroup(offsets, hidden, spans) -> list[int | None]:
    """Word ids of the tokens for word ``spans``; words sharing a token made one."""
    parent = list(range(len(spans)))

    def root(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    first: list[int | None] = [None] * len(offsets)
    for t, (start, end) in enumerate(offsets):
        if hidden[t] or end <= start:
            continue
        touched = [k for k, (a, b) in enumerate(spans) if a < end and start < b]
        if not touched:  # whitespace alone: the next word, else the last
            later = [k for k, (a, _) in enumerate(spans) if a >= end]
            touched = [later[0] if later else len(spans) - 1]
        for k in touched[1:]:
            parent[root(k)] = root(touched[0])
        first[t] = touched[0]
    return [None if k is None else root(k) for k in first]
