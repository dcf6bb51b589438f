"""Texts to BERT inputs: checks, truncation, dynamic padding, token counts.

Truncation names the texts it cut (:class:`TruncationWarning`); padding is
``transformers.DataCollatorWithPadding``'s; :func:`token_lengths` is the one
home of token counts.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from tokenizers import models, normalizers, pre_tokenizers
from torch.utils.data import DataLoader, Dataset
from transformers import DataCollatorWithPadding

from ..inputs import batches_by_length, slice_batch
from ..tokens import encode
from .errors import BookWarning
from .imdb import ReviewSet

#: BERT's positions: no input is longer.
MODEL_MAX_POSITIONS = 512


class TruncationWarning(BookWarning):
    """Some texts were longer than ``max_length`` tokens and were truncated."""


# ------------------------------------------------------------ tokenization and batching
def check_texts(texts) -> list[str]:
    """Return ``texts`` as a list of strings; raise for empty or non-string items."""
    if isinstance(texts, str):
        texts = [texts]
    if isinstance(texts, bytes | bytearray):
        raise TypeError("texts is bytes: decode it first, e.g. text.decode('utf-8').")
    if texts is None or not isinstance(texts, Iterable):
        raise TypeError(
            f"texts must be a string or a list of strings, got {type(texts).__name__}."
        )
    texts = list(texts)
    if not texts:
        raise ValueError("No texts given: pass at least one non-empty review.")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            hint = (
                " (decode it first: .decode('utf-8'))" if isinstance(t, bytes) else ""
            )
            raise TypeError(f"Text {i} is {type(t).__name__}, not str{hint}.")
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
    tokenizer,
    texts,
    max_length: int | None = MODEL_MAX_POSITIONS,
    warn: bool = True,
    **extra,
):
    """Tokenize texts into padded tensors ``[CLS] ... [SEP]``, at most ``max_length``.

    Raises ``ValueError`` naming an empty text. Texts with more tokens than
    ``max_length`` (at most 512, the model's positions) are truncated, and a
    :class:`TruncationWarning` names them and their lengths (``warn=False``:
    silently). ``extra`` asks the tokenizer for more outputs, e.g.
    ``return_offsets_mapping=True``.
    """
    texts = check_texts(texts)
    max_length = model_max_length(tokenizer, max_length)
    if warn:
        lengths = token_lengths(tokenizer, texts)
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
    return encode(
        tokenizer,
        texts,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
        **extra,
    )


def _is_bert_wordpiece(tokenizer) -> bool:
    """True for a fast tokenizer with BERT's normalizer, pre-tokenizer and WordPiece."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
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
    whole = encode(tokenizer, [texts[i] for i in full_rows])
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
        enc = encode(tokenizer, texts, truncation=True, max_length=max_length)
        return {k: list(enc[k]) for k in enc}
    cut = [_first_words(t, max_length) for t in texts]
    enc = encode(tokenizer, cut, truncation=True, max_length=max_length)
    out = {k: list(enc[k]) for k in enc}
    redo = [
        i
        for i, (c, t) in enumerate(zip(cut, texts, strict=True))
        if len(c) < len(t) and len(out["input_ids"][i]) < max_length
    ]
    if redo:
        full = encode(
            tokenizer, [texts[i] for i in redo], truncation=True, max_length=max_length
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
    """Collate function: pad to the batch's longest (default) or to ``max_length``.

    ``transformers.DataCollatorWithPadding`` pads; the batch comes back as a
    plain dict of tensors, ``labels`` a LongTensor.
    """
    pad = DataCollatorWithPadding(
        tokenizer,
        padding="max_length" if pad_to_max else "longest",
        max_length=max_length if pad_to_max else None,
        return_tensors="pt",
    )

    def collate(items):
        return dict(pad(items))

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
    return [len(ids) for ids in encode(tokenizer, list(texts))["input_ids"]]


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


@dataclass(frozen=True)
class TextBatch:
    """One length-sorted batch of texts: which texts, their tensors, their lengths.

    ``rows``: indices into the texts given to :func:`text_batches` (batch
    order); ``inputs``: ``input_ids``/``attention_mask``(/``token_type_ids``)
    ``[len(rows), width]`` with ``width`` the longest of them; ``lengths``:
    real tokens per row ([CLS] and [SEP] included); ``truncated``: whether
    each text was cut to ``max_length`` tokens.
    """

    rows: list[int]
    inputs: dict[str, torch.Tensor]
    lengths: list[int]
    truncated: list[bool]

    def tokens(self, tokenizer) -> list[list[str]]:
        """Each row's tokens, trimmed to its real tokens ([CLS] ... [SEP])."""
        ids = self.inputs["input_ids"]
        return [
            tokenizer.convert_ids_to_tokens(ids[i, :n].tolist())
            for i, n in enumerate(self.lengths)
        ]


def text_batches(
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int | None = 512,
    batch_size: int = 8,
    warn: bool = True,
) -> list[TextBatch]:
    """Tokenize ``texts`` once and cut them into batches of similar length.

    Uses :func:`encode_texts` (an empty text raises
    ``ValueError`` naming it; with ``warn`` a text longer than ``max_length``
    tokens gives a ``TruncationWarning``), then
    :func:`helpers.inputs.batches_by_length` (sorted, deterministic) and
    :func:`helpers.inputs.slice_batch`. Callers put results back in input
    order through ``TextBatch.rows``.
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise ValueError("texts is empty: pass at least one review.")
    encoded = encode_texts(tokenizer, texts, max_length=max_length, warn=warn)
    encoded = {k: v for k, v in encoded.items() if isinstance(v, torch.Tensor)}
    limit = model_max_length(tokenizer, max_length)
    truncated = [n > limit for n in token_lengths(tokenizer, texts)]
    lengths = encoded["attention_mask"].sum(dim=1).tolist()
    return [
        TextBatch(
            rows=rows,
            inputs=slice_batch(encoded, rows),
            lengths=[int(lengths[i]) for i in rows],
            truncated=[truncated[i] for i in rows],
        )
        for rows in batches_by_length(lengths, batch_size)
    ]
