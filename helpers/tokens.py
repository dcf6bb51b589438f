"""Tokens of Hugging Face tokenizers: special tokens, ids, words, the one merge.

Chapters 3–6 were written on BERT, whose tokens say what they are: ``[CLS]``
and ``[SEP]`` frame the text and ``##ing`` continues a word. Other models spell
this differently: RoBERTa frames with ``<s>`` … ``</s>`` and *starts* words
with ``Ġ`` (byte-level BPE), SentencePiece models start them with ``▁``, and
Japanese text has no spaces at all. Nothing here looks at how tokens are
spelled; everything comes from the tokenizer itself (special tokens, the one
way text becomes ids, the words of a text), except :func:`piece_words`, which
guesses words from token strings alone when there is no tokenizer.

**The book's merge rule: ``"sum"``** (:func:`merge_scores`, the book's only
merge). A word's score is the sum of its pieces' scores. For additive
attributions (gradient x input, integrated gradients, CP-LRP, AttnLRP) this
keeps what makes them additive: the words' scores add up to the same total as
the tokens'. For attention and rollout the sum is the attention mass the word
receives, and for Grad-CAM the evidence of all its pieces; in every case a
word cut into many pieces is not diluted, as a mean would dilute it. ``"max"``
(the word's strongest piece) and ``"mean"`` are offered for comparison; the
book itself always sums.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

#: How the pieces of a word may be merged; the book uses the first, ``"sum"``.
MERGES = ("sum", "max", "mean")
#: The book's rule for every kind of score (see the module docstring).
DEFAULT_MERGE = "sum"

_SPACES = re.compile(r"\s+")
_MARKERS = "Ġ▁"  # byte-level BPE and SentencePiece word starts (fallback only)


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


def check_merge(merge: str) -> str:
    """``merge`` itself if it is one of :data:`MERGES`; ``ValueError`` otherwise."""
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
    check_merge(merge)
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
