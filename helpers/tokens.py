"""Tokens and words of Hugging Face tokenizers: fast ones and slow word-level ones.

Chapters 3–6 were written on BERT, whose tokens say what they are: ``[CLS]``
and ``[SEP]`` frame the text and ``##ing`` continues a word. Other models spell
this differently: RoBERTa frames with ``<s>`` … ``</s>`` and *starts* words
with ``Ġ`` (byte-level BPE), SentencePiece models start them with ``▁``, and
Japanese text has no spaces at all. Nothing here looks at how tokens are
spelled; everything comes from the tokenizer itself:

* **special tokens** — :func:`special_ids` / :func:`special_tokens`, the
  tokenizer's ``all_special_ids`` (and its [CLS], [SEP], padding, ``<s>``,
  ``</s>``) without the unknown token, the one set every module hides;
  :class:`TokenRoles` adds which id replaces a removed token ([MASK]);
* **words** — :func:`align` is the one way to learn, for every token, which
  word of the text it belongs to and which characters of the *original*
  text it covers. A *fast* tokenizer (``tokenizer.is_fast``) says so itself
  (``word_ids()``, ``offset_mapping``). A slow tokenizer with a word-level
  pre-tokenizer (``BertJapaneseTokenizer``: MeCab, Sudachi or Juman++ words,
  then WordPiece pieces within each word) is aligned here: its words
  (``tokenizer.word_tokenizer``) and their pieces
  (``tokenizer.subword_tokenizer``) are found in order in the text as the
  tokenizer normalises it (NFKC for MeCab), and every normalised character
  is mapped back to the characters of the original text it came from, so
  ``ｶﾞ`` (half-width, two characters) is the word ``ガ`` read there.
  :func:`word_map` groups the tokens of one word and takes the word's text
  **from the original string** (``text[start:end]``), so a word shows as it
  was written: no ``##``, ``Ġ`` or ``▁``, the original case, accents and
  width, and the original spacing between words, also in Japanese, where
  there is none. "Word" means one word of the tokenizer's pre-tokenizer:
  BERT also splits punctuation off (``great`` ``!``), byte-level BPE keeps
  runs of punctuation together (``>!``), MeCab splits ``不運な`` into
  ``不運`` ``な``.
* **scores** — :func:`merge_scores` turns one score per token into one per
  word by a stated rule (below), the book's only merge. With token strings
  alone (no tokenizer), :func:`piece_words` guesses the words from them
  (``##`` continues a WordPiece word, ``Ġ``/``▁`` start a BPE/SentencePiece
  one) and :func:`merge_pieces` merges with the same rule.

A slow tokenizer (pure Python, ``is_fast`` False) without a word tokenizer
has no words to align: :func:`require_words` raises a ``TypeError`` saying
what is missing and how to get a fast one.

**The book's merge rule: ``"sum"``.** A word's score is the sum of its
pieces' scores. For additive attributions (gradient x input, integrated
gradients, CP-LRP, AttnLRP) this keeps what makes them additive: the words'
scores add up to the same total as the tokens'. For attention and rollout the
sum is the attention mass the word receives, and for Grad-CAM the evidence of
all its pieces; in every case a word cut into many pieces is not diluted, as a
mean would dilute it. ``"max"`` (the word's strongest piece) and ``"mean"``
are offered for comparison; the book itself always sums.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import torch

#: How the pieces of a word may be merged; the book uses the first, ``"sum"``.
MERGES = ("sum", "max", "mean")
#: The book's rule for every kind of score (see the module docstring).
DEFAULT_MERGE = "sum"

_SPACES = re.compile(r"\s+")
_MARKERS = "Ġ▁"  # byte-level BPE and SentencePiece word starts (fallback only)


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


_NAMED_SPECIALS = (
    "cls_token_id",
    "sep_token_id",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
)


def special_ids(tokenizer) -> frozenset[int]:
    """The tokenizer's special ids, never shown as words: THE one set of the book.

    ``all_special_ids`` and the [CLS], [SEP], padding, ``<s>`` and ``</s>``
    ids, without the unknown token (``[UNK]``, ``<unk>``): it stands for a
    word of the text the vocabulary does not know, and is shown as that word.
    """
    ids = set(getattr(tokenizer, "all_special_ids", None) or ())
    ids |= {getattr(tokenizer, name, None) for name in _NAMED_SPECIALS}
    ids -= {None, getattr(tokenizer, "unk_token_id", None)}
    return frozenset(int(i) for i in ids)


def special_tokens(tokenizer) -> frozenset[str]:
    """The strings of :func:`special_ids` (``[CLS]``, ``<s>``, ``[PAD]``...)."""
    ids = sorted(special_ids(tokenizer))
    return frozenset(str(t) for t in tokenizer.convert_ids_to_tokens(ids))


@dataclass(frozen=True)
class TokenRoles:
    """Which ids are never removed ([CLS], [SEP], padding), which id replaces a token.

    Build it with :meth:`from_tokenizer`. ``real(inputs)`` is the boolean mask
    of the *real* tokens: attended to and not special. [UNK] counts as text.
    """

    mask_id: int
    special_ids: tuple[int, ...]

    @classmethod
    def from_tokenizer(cls, tokenizer) -> TokenRoles:
        """Roles from a tokenizer that has a mask token (BERT, RoBERTa, ...).

        Special = :func:`special_ids` except the mask token, which stands for
        a removed word of the text.
        """
        if getattr(tokenizer, "mask_token_id", None) is None:
            raise ValueError(
                f"{type(tokenizer).__name__} has no mask token: the metrics replace "
                "removed tokens by [MASK]; pass "
                "TokenRoles(mask_id=..., special_ids=...)."
            )
        mask = int(tokenizer.mask_token_id)
        return cls(mask, tuple(sorted(special_ids(tokenizer) - {mask})))

    def real(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Boolean ``[batch, seq]``: attended to and not a special token."""
        ids = torch.as_tensor(inputs["input_ids"])
        special = torch.tensor(self.special_ids, dtype=ids.dtype, device=ids.device)
        mask = inputs.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else torch.as_tensor(mask)
        return mask.bool() & ~torch.isin(ids, special)


def _check_merge(merge: str) -> str:
    if merge not in MERGES:
        raise ValueError(
            f"merge must be one of {MERGES} (the book uses {DEFAULT_MERGE!r}), "
            f"got {merge!r}."
        )
    return merge


def merge_scores(
    scores, index: Sequence[int | None], n_words: int, merge: str = DEFAULT_MERGE
) -> torch.Tensor:
    """One score per word ``[n_words]`` from one per token ``[len(index)]``.

    ``index[t]``: the word of token ``t``, or ``None`` for a token that is no
    word (special tokens, padding), whose score is dropped. ``merge``:
    ``"sum"`` (the book's rule), ``"max"`` or ``"mean"`` of the word's pieces.
    Scores with leading dimensions (a Grad-CAM map ``[layers, tokens]``) are
    merged row by row: ``[..., n_words]``. Raises ``ValueError`` when the
    lengths differ.
    """
    _check_merge(merge)
    scores = torch.as_tensor(scores).detach()
    if scores.dim() > 1:
        rows = [merge_scores(r, index, n_words, merge) for r in scores.flatten(0, -2)]
        return torch.stack(rows).reshape(*scores.shape[:-1], n_words)
    scores = scores.double().cpu().reshape(-1)
    if scores.shape[0] != len(index):
        raise ValueError(
            f"{scores.shape[0]} scores for {len(index)} tokens: pass one score per "
            "token of the same encoding (cut padding off first, e.g. "
            "scores[:word_map.n_tokens])."
        )
    keep = [t for t, w in enumerate(index) if w is not None]
    words = torch.tensor([index[t] for t in keep], dtype=torch.long)
    out = torch.zeros(n_words, dtype=torch.float64)
    if not keep:
        return out.float()
    values = scores[keep]
    if merge == "sum":
        return out.index_add_(0, words, values).float()
    how = "amax" if merge == "max" else "mean"
    return out.scatter_reduce_(0, words, values, how, include_self=False).float()


def _is_continuation(token: str) -> bool:
    return token.startswith("##") and len(token) > 2


def start_marker(tokens: Sequence[str]) -> str | None:
    """``"Ġ"`` or ``"▁"`` when tokens mark word *starts* (byte-level BPE,
    SentencePiece); ``None`` for WordPiece, which marks continuations (``##``)."""
    if any(_is_continuation(t) for t in tokens):
        return None
    for token in tokens:
        if token[:1] in _MARKERS:
            return token[0]
    return None


def piece_text(token: str, marker: str | None = None) -> str:
    """The token as shown: without ``##`` (WordPiece) or the word-start marker."""
    if marker is not None:
        return token[len(marker) :] if token.startswith(marker) else token
    return token[2:] if _is_continuation(token) else token


def piece_words(
    tokens: Sequence[str], special_tokens=frozenset()
) -> tuple[list[str], list[int | None]]:
    """Words guessed from token strings: ``(words, index)`` as in :class:`WordMap`.

    For tokens without their tokenizer (:func:`word_map`, from the tokenizer,
    is exact). WordPiece pieces starting with ``##`` continue a word; with
    byte-level BPE (``Ġ``) or SentencePiece (``▁``) markers, a piece
    *without* the marker does. Tokens in ``special_tokens`` (e.g.
    :func:`special_tokens` of the tokenizer) belong to no word (``None``).
    """
    special = frozenset(special_tokens)
    shown = [t for t in tokens if t not in special]
    marker = start_marker(shown)
    words: list[str] = []
    index: list[int | None] = []
    previous = None
    for token in tokens:
        if token in special:
            index.append(None)
            previous = None
            continue
        glued = marker is None and _is_continuation(token)
        glued |= marker is not None and not token.startswith(marker)
        if previous is not None and glued:
            words[-1] += piece_text(token, marker)
        else:
            words.append(piece_text(token, marker))
        index.append(len(words) - 1)
        previous = token
    return words, index


def merge_pieces(
    tokens: Sequence[str], scores, special_tokens=frozenset(), merge=DEFAULT_MERGE
) -> tuple[list[str], torch.Tensor]:
    """``(words, scores)``: :func:`piece_words`, then :func:`merge_scores`."""
    words, index = piece_words(tokens, special_tokens)
    return words, merge_scores(scores, index, len(words), merge)


@dataclass(frozen=True)
class WordMap:
    """The words of one text and which token belongs to which word.

    ``words``: the words as written in ``text`` (special tokens never appear);
    ``spans``: their ``(start, end)`` characters in ``text``; ``index``: for
    each token of the encoding, its word (``None`` for special tokens);
    ``gaps``: the original text before each word (``""`` for the first, and
    where the text has no space, as in Japanese; whitespace runs become one
    space): ``gaps[k] + words[k]`` joined gives the text back (:meth:`display`);
    ``truncated``: the encoding was cut, so the words stop early.
    """

    text: str
    words: list[str]
    spans: list[tuple[int, int]]
    index: list[int | None]
    gaps: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def n_tokens(self) -> int:
        """How many tokens (special tokens included) the map covers."""
        return len(self.index)

    def merge(self, scores, merge: str = DEFAULT_MERGE) -> torch.Tensor:
        """One score per word from one per token (:func:`merge_scores`)."""
        return merge_scores(scores, self.index, len(self.words), merge)

    def display(self) -> str:
        """The text the words make, with their gaps (what a highlight shows)."""
        return "".join(g + w for g, w in zip(self.gaps, self.words, strict=True))


def _word_text(text: str, start: int, end: int) -> tuple[str, int, int]:
    """``text[start:end]`` without surrounding whitespace, and its new span."""
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    trail = len(piece) - len(piece.rstrip())
    return piece.strip(), start + lead, end - trail


def _group_words(word_ids, hidden) -> list[list[int]]:
    """Token positions of each word: consecutive tokens sharing a word id."""
    groups: list[list[int]] = []
    previous = None
    for t, word in enumerate(word_ids):
        if word is None or hidden[t]:
            continue
        if not groups or word != previous or groups[-1][-1] != t - 1:
            groups.append([])
        groups[-1].append(t)
        previous = word
    return groups


def _group_span(text: str, offsets, group: list[int]) -> tuple[str, int, int]:
    """The word's text and span: its pieces' characters, whitespace stripped."""
    covered = [offsets[t] for t in group if offsets[t][1] > offsets[t][0]]
    if not covered:
        start = offsets[group[0]][0]
        return "", start, start
    return _word_text(text, min(s for s, _ in covered), max(e for _, e in covered))


def _fold_blank(groups, texts) -> list[list[int]]:
    """Give the pieces of blank "words" (whitespace, byte-level ``Ġ``/``Ċ``) to the
    next word, or to the previous one at the end; all-blank text stays as it is."""
    if all(not t for t in texts):
        return groups
    folded: list[list[int]] = []
    carry: list[int] = []
    for group, word in zip(groups, texts, strict=True):
        if not word:
            carry += group
            continue
        folded.append(sorted(carry + group))
        carry = []
    if carry:
        folded[-1] = sorted(folded[-1] + carry)
    return folded


def from_offsets(
    text: str,
    offsets: Sequence[tuple[int, int]],
    word_ids: Sequence[int | None],
    hidden: Sequence[bool] | None = None,
    tokens: Sequence[str] | None = None,
    truncated: bool = False,
) -> WordMap:
    """The :class:`WordMap` of an encoding given its offsets and word ids.

    Consecutive tokens with the same word id form one word; tokens whose
    word id is ``None`` or that are ``hidden`` (special tokens) belong to no
    word. A word's span runs from its first covered character to its last,
    without surrounding whitespace. Pieces that cover only whitespace (a lone
    ``Ġ``, a newline token) join the next word (the previous one at the end),
    so every word has visible text. ``tokens`` (optional) name the pieces of
    a text that has no visible character at all.
    """
    if len(offsets) != len(word_ids):
        raise ValueError(
            f"{len(offsets)} offsets but {len(word_ids)} word ids: pass both from "
            "the same encoding."
        )
    hidden = [False] * len(word_ids) if hidden is None else list(hidden)
    offsets = [tuple(o) for o in offsets]
    groups = _group_words(word_ids, hidden)
    groups = _fold_blank(groups, [_group_span(text, offsets, g)[0] for g in groups])
    index: list[int | None] = [None] * len(word_ids)
    words, spans, gaps = [], [], []
    end_before = None
    for k, group in enumerate(groups):
        for t in group:
            index[t] = k
        word, start, end = _group_span(text, offsets, group)
        if not word:
            pieces = [tokens[t] for t in group] if tokens is not None else []
            word = (
                "".join(p.lstrip(_MARKERS) for p in pieces)
                or "\N{REPLACEMENT CHARACTER}"
            )
        gap = "" if end_before is None else text[end_before:start]
        gaps.append(_SPACES.sub(" ", gap))
        words.append(word)
        spans.append((start, end))
        end_before = max(end, end_before or 0)
    return WordMap(text, words, spans, index, gaps, truncated)


def encode(tokenizer, texts, **kwargs):
    """``tokenizer(texts, **kwargs)``, reading special tokens typed in a text as text.

    The one way the package turns text into ids. ``"[SEP]"``, ``"[MASK]"`` or
    ``"<pad>"`` written in a review are characters the writer typed, not
    control tokens: they are split like any other text
    (``split_special_tokens=True``), while the tokenizer still frames the text
    with its own ``[CLS]``/``[SEP]``.
    """
    return tokenizer(texts, split_special_tokens=True, verbose=False, **kwargs)


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
    surfaces = [None if p == unk else p.lstrip("▁") for p in pieces]
    surfaces = [s[2:] if s is not None and _is_continuation(s) else s for s in surfaces]
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
