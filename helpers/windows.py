"""Whole reviews: classify and explain a text of any length in overlapping windows.

BERT reads at most 512 positions, so a longer review is usually cut and its
ending, often the verdict, is lost. Here the text is tokenized **once,
without truncation**, and read in overlapping windows of at most the model's
limit; the windows' logits are pooled into one prediction and the windows'
explanations are stitched into one score per token of the whole text.

The four rules, stated once:

**Windows** (:func:`windows`). The text's content tokens (no [CLS]/[SEP])
are numbered ``0 .. n-1``; ``stride = window - overlap``. Window ``k``
starts at ``k * stride`` for as long as the previous window ends before the
text does; the last window is moved left so that it ends exactly at ``n``.
So a text of ``n <= window`` tokens is one window (exactly the plain pass);
a longer one gets ``1 + ceil((n - window) / stride)`` windows, **every one
exactly ``window`` tokens long**, consecutive windows sharing at least
``overlap`` tokens (the last two may share more). Each window is fed to the
model as ``[CLS] + its tokens + [SEP]``.

**Pooling** (:func:`classify_long`). ``pool="mean"``: the mean of the
windows' logits (every window of a long text has the same length, so this
is also the length-weighted mean). ``pool="max"``: the largest logit of each
class over the windows (one strongly worded passage decides).
Probabilities are the softmax of the pooled logits.

**Stitching** (:func:`explain_long`). Every window is explained for the
*same* class (``target=None``: the class predicted for the whole text with
the same pooling). The scores at a window's [CLS]/[SEP] belong to the window,
not to the text, and are dropped. A token covered by several windows gets a
weighted mean of their scores: ``stitch="mean"`` gives every window weight
1; ``stitch="taper"`` gives the token at content position ``p`` (0-based) of
a window of ``L`` tokens the weight ``min(p + 1, L - p, overlap + 1)`` — a
token near a window's edge, which saw little context on that side, counts
less than one in the middle.

**Normalising** (:func:`explain_long`). ``normalise=None`` keeps each
window's scores as the method gives them (every window of a long text has
the same length, so methods normalised per window, such as attention rows
that sum to 1, stay on one scale); ``normalise="sum"`` first divides each
window's scores by their total ``|score|`` over its content tokens, so that
every window carries the same mass (this also hides how strongly each window
drives the prediction). A text that fits in one window gets exactly the
explainer's scores on ``[CLS] text [SEP]``.

Nothing is truncated, so no :class:`helpers.data.TruncationWarning` and no
truncation marker: the result's ``tokens`` (no special tokens) and
``score()`` go straight to :func:`helpers.highlight.highlight_html` (its
``html()`` does that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .align import align, aligns
from .attr.base import fast_attention
from .attr.explanation import TextExplanation, Windowing
from .data import check_texts, model_max_length, token_lengths
from .inputs import (
    batches_by_length,
    check_int,
    resolve_target,
    target_tensor,
    to_device,
)
from .models import eval_mode, model_device
from .tokens import WordMap, encode, from_offsets, special_ids

POOLS = ("mean", "max")
STITCHES = ("mean", "taper")
NORMALISE = (None, "sum")
#: [CLS] and [SEP] around each window.
N_SPECIAL = 2


# --------------------------------------------------------------------------- windows


def windows(
    n_tokens: int, window: int = 510, overlap: int = 128
) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the windows over ``n_tokens`` content tokens.

    The rule of the module docstring: starts at multiples of
    ``window - overlap``, the last window aligned to the end; every window
    holds exactly ``min(window, n_tokens)`` tokens and together they cover
    ``0 .. n_tokens - 1``. Raises ``ValueError`` naming the fix for
    ``n_tokens < 1``, ``window < 1`` or ``overlap`` outside ``0 .. window - 1``.
    """
    check_int("n_tokens", n_tokens, 1, "the text has no tokens; give it some words")
    check_int("window", window, 1, "pass the window length in tokens, e.g. 510")
    check_int("overlap", overlap, 0, "pass 0 for windows that do not overlap")
    if overlap >= window:
        raise ValueError(
            f"overlap={overlap} must be smaller than window={window} (each window "
            f"must move forward by at least one token): pass e.g. overlap="
            f"{window // 4}."
        )
    if n_tokens <= window:
        return [(0, n_tokens)]
    stride = window - overlap
    starts = [0]
    while starts[-1] + window < n_tokens:
        starts.append(min(starts[-1] + stride, n_tokens - window))
    return [(s, s + window) for s in starts]


def max_window(tokenizer, model: nn.Module | None = None) -> int:
    """The longest window: the model's positions minus [CLS] and [SEP].

    The limit is the smaller of :func:`helpers.data.model_max_length` (the
    tokenizer's limit, at most 512) and ``model.config.max_position_embeddings``
    when a model is given. 510 for BERT.
    """
    limit = model_max_length(tokenizer, None)
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limit = min(limit, positions)
    return limit - N_SPECIAL


def _resolve_window(window, overlap, tokenizer, model=None) -> tuple[int, int]:
    largest = max_window(tokenizer, model)
    if window is None:
        window = largest
    check_int("window", window, 1, f"pass None for the longest, {largest}")
    if window > largest:
        raise ValueError(
            f"window={window} plus [CLS] and [SEP] needs {window + N_SPECIAL} "
            f"positions but the model takes at most {largest + N_SPECIAL}: pass "
            f"window <= {largest}, or window=None for the longest."
        )
    windows(1, window, overlap)  # checks overlap against window
    return window, overlap


# --------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class _Specials:
    """The ids that frame and pad a window, and whether the model takes types."""

    cls: int
    sep: int
    pad: int
    types: bool

    @classmethod
    def of(cls, tokenizer) -> _Specials:
        ids = [getattr(tokenizer, f"{n}_token_id", None) for n in ("cls", "sep")]
        if None in ids:
            raise ValueError(
                f"{type(tokenizer).__name__} has no [CLS]/[SEP] tokens: windows are "
                "framed as [CLS] + tokens + [SEP]; pass a BERT-like tokenizer."
            )
        pad = getattr(tokenizer, "pad_token_id", None)
        types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
        return cls(int(ids[0]), int(ids[1]), 0 if pad is None else int(pad), types)

    def pad_windows(self, pieces: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """``[CLS] + piece + [SEP]`` per row, padded: ``[len(pieces), width]``."""
        width = max(len(p) for p in pieces) + N_SPECIAL
        ids = torch.full((len(pieces), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(pieces), width), dtype=torch.long)
        for row, piece in enumerate(pieces):
            n = len(piece) + N_SPECIAL
            ids[row, :n] = torch.tensor([self.cls, *piece, self.sep])
            mask[row, :n] = 1
        out = {"input_ids": ids, "attention_mask": mask}
        if self.types:
            out["token_type_ids"] = torch.zeros_like(ids)
        return out


def _content_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Each text's token ids without special tokens and without truncation."""
    ids = encode(tokenizer, texts, add_special_tokens=False)["input_ids"]
    for i, row in enumerate(ids):
        if not row:
            raise ValueError(
                f"Text {i} gives no tokens: remove it or give it some words."
            )
    return [list(row) for row in ids]


@dataclass
class LongEncoding:
    """One text tokenized whole, and its windows.

    ``ids``: the content token ids (no [CLS]/[SEP]), ``[n_tokens]`` as a
    list; ``tokens``: their WordPieces; ``offsets``: each token's
    ``(start, end)`` characters in ``text`` and ``word_ids``: each token's
    word index (:func:`helpers.align.align`; both ``None`` for a slow
    tokenizer without a word tokenizer); ``spans``: the windows'
    ``(start, end)`` over the content tokens (:func:`windows`).
    """

    text: str
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]] | None
    word_ids: list[int | None] | None
    spans: list[tuple[int, int]]
    specials: _Specials

    @property
    def n_tokens(self) -> int:
        """Number of content tokens of the whole text."""
        return len(self.ids)

    def pieces(self, rows: Sequence[int] | None = None) -> list[list[int]]:
        """The content ids of windows ``rows`` (all windows by default)."""
        rows = range(len(self.spans)) if rows is None else rows
        return [self.ids[slice(*self.spans[r])] for r in rows]

    def window_inputs(self, rows: Sequence[int] | None = None) -> dict:
        """Model inputs of windows ``rows``: ``[len(rows), width]`` LongTensors.

        ``input_ids`` (``[CLS] + window + [SEP]``, then padding),
        ``attention_mask`` and ``token_type_ids`` (zeros, when the tokenizer
        uses them). Content token ``j`` of window ``r`` sits at position
        ``1 + j - spans[r][0]``.
        """
        return self.specials.pad_windows(self.pieces(rows))


def window_for(tokenizer, model, max_length) -> tuple[int, int]:
    """``(window, overlap)`` for ``max_length``: content tokens per window, shared."""
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        raise TypeError(f"max_length must be an int, got {max_length!r}.")
    if max_length < N_SPECIAL + 1:
        raise ValueError(
            f"max_length={max_length} leaves no room for a token besides the "
            f"{N_SPECIAL} special ones: pass e.g. 512."
        )
    window = min(max_length - N_SPECIAL, max_window(tokenizer, model))
    return window, min(128, window // 4)


def long_words(tokenizer, encoding: LongEncoding) -> WordMap:
    """The words of an :func:`encode_long` encoding, special tokens hidden."""
    special = special_ids(tokenizer)
    return from_offsets(
        encoding.text,
        encoding.offsets,
        encoding.word_ids,
        hidden=[i in special for i in encoding.ids],
        tokens=encoding.tokens,
    )


def encode_long(
    tokenizer, text: str, window: int | None = None, overlap: int = 128
) -> LongEncoding:
    """Tokenize ``text`` whole (no truncation, no warning) and cut it into windows.

    ``window``: content tokens per window (``None``: :func:`max_window`, 510
    for BERT); ``overlap``: tokens shared by consecutive windows. Raises
    ``ValueError`` naming the fix for an empty text or a bad window/overlap.
    """
    (text,) = check_texts([text])
    window, overlap = _resolve_window(window, overlap, tokenizer)
    aligned = None
    if aligns(tokenizer):  # the words too: explain() shows them
        aligned = align(tokenizer, text, add_special_tokens=False)
    ids = (
        aligned.ids
        if aligned is not None
        else list(encode(tokenizer, text, add_special_tokens=False)["input_ids"])
    )
    if not ids:
        raise ValueError("The text gives no tokens: give it some words.")
    return LongEncoding(
        text=text,
        ids=ids,
        tokens=tokenizer.convert_ids_to_tokens(ids),
        offsets=None if aligned is None else aligned.offsets,
        word_ids=None if aligned is None else aligned.word_ids,
        spans=windows(len(ids), window, overlap),
        specials=_Specials.of(tokenizer),
    )


# --------------------------------------------------------------------------- classify


def _window_logits(
    model: nn.Module,
    specials: _Specials,
    pieces: list[list[int]],
    batch_size: int,
    progress: bool,
) -> torch.Tensor:
    """Logits ``[n_windows, n_labels]`` (CPU, float) of every window, no grad,
    on the fused attention kernel (:func:`helpers.attr.base.fast_attention`)."""
    from tqdm.auto import tqdm

    check_int("batch_size", batch_size, 1, "pass the windows per forward pass")
    groups = batches_by_length([len(p) for p in pieces], batch_size)
    out: list[torch.Tensor | None] = [None] * len(pieces)
    device = model_device(model)
    with eval_mode(model), torch.no_grad(), fast_attention(model):
        for rows in tqdm(
            groups, desc="windows", disable=not progress or len(groups) < 2
        ):
            inputs = specials.pad_windows([pieces[i] for i in rows])
            logits = model(**to_device(inputs, device)).logits.float().cpu()
            for row, index in enumerate(rows):
                out[index] = logits[row]
    return torch.stack(out)  # type: ignore[arg-type]


def pool_logits(window_logits: torch.Tensor, pool: str = "mean") -> torch.Tensor:
    """One text's logits ``[n_labels]`` from its windows' ``[n_windows, n_labels]``.

    ``"mean"``: the mean over windows; ``"max"``: each class's largest logit.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}.")
    return window_logits.mean(dim=0) if pool == "mean" else window_logits.amax(dim=0)


def classify_long(
    model: nn.Module,
    tokenizer,
    texts: str | Sequence[str],
    *,
    window: int | None = None,
    overlap: int = 128,
    pool: str = "mean",
    batch_size: int = 16,
    progress: bool = True,
) -> torch.Tensor:
    """Logits ``[n_texts, n_labels]`` of texts of any length, pooled over windows.

    Each text is tokenized whole and cut by :func:`windows` (``window=None``:
    :func:`max_window` of the tokenizer and model). All windows of all texts
    go through the model ``batch_size`` at a time, sorted by length (little
    padding), in eval mode (the model's mode is restored) without gradients,
    with a ``tqdm.auto`` bar. Each text's window logits are pooled by
    :func:`pool_logits` (``"mean"`` or ``"max"``). A text that fits in one
    window gets exactly the logits of a plain ``[CLS] text [SEP]`` pass.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}.")
    per_text = window_logits(
        model,
        tokenizer,
        texts,
        window=window,
        overlap=overlap,
        batch_size=batch_size,
        progress=progress,
    )
    return torch.stack([pool_logits(chunk, pool) for chunk in per_text])


def window_logits(
    model: nn.Module,
    tokenizer,
    texts: str | Sequence[str],
    *,
    window: int | None = None,
    overlap: int = 128,
    batch_size: int = 16,
    progress: bool = True,
) -> list[torch.Tensor]:
    """Each text's window logits ``[n_windows, n_labels]``, before pooling.

    The windows and the pass are those of :func:`classify_long`; pool a text's
    tensor with :func:`pool_logits`. One pass serves both pooling rules, so
    comparing them costs no second run of the model.
    """
    texts = check_texts(texts)
    window, overlap = _resolve_window(window, overlap, tokenizer, model)
    ids = _content_ids(tokenizer, texts)
    spans = [windows(len(row), window, overlap) for row in ids]
    pieces = [
        row[s:e]
        for row, text_spans in zip(ids, spans, strict=True)
        for s, e in text_spans
    ]
    logits = _window_logits(
        model, _Specials.of(tokenizer), pieces, batch_size, progress
    )
    return list(torch.split(logits, [len(s) for s in spans]))


# --------------------------------------------------------------------------- explain


def stitch_weights(length: int, overlap: int, stitch: str = "mean") -> torch.Tensor:
    """The weight ``[length]`` of each content position of one window.

    ``"mean"``: all 1. ``"taper"``: ``min(p + 1, length - p, overlap + 1)`` at
    position ``p`` — 1 at the window's edges, rising by 1 per token inwards,
    flat at ``overlap + 1``.
    """
    if stitch not in STITCHES:
        raise ValueError(f"stitch must be one of {STITCHES}, got {stitch!r}.")
    if stitch == "mean":
        return torch.ones(length)
    p = torch.arange(length, dtype=torch.float32)
    return torch.minimum(torch.minimum(p + 1, length - p), torch.tensor(overlap + 1.0))


def stitch_scores(
    window_scores: Sequence[torch.Tensor],
    spans: Sequence[tuple[int, int]],
    n_tokens: int,
    *,
    overlap: int,
    stitch: str = "mean",
) -> torch.Tensor:
    """One score per token ``[n_tokens]`` from the windows' content scores.

    ``window_scores[k]``: ``[end - start]`` scores of window ``spans[k]``.
    Each token gets the mean of the windows covering it, weighted by
    :func:`stitch_weights`. Raises ``ValueError`` when a token is covered by
    no window or a window's scores do not match its span.
    """
    total = torch.zeros(n_tokens, dtype=torch.float64)
    weight = torch.zeros(n_tokens, dtype=torch.float64)
    for scores, (start, end) in zip(window_scores, spans, strict=True):
        if tuple(scores.shape) != (end - start,):
            raise ValueError(
                f"window {start}..{end} has {tuple(scores.shape)} scores: give "
                f"one score per content token ({end - start})."
            )
        w = stitch_weights(end - start, overlap, stitch).double()
        total[start:end] += w * scores.double()
        weight[start:end] += w
    if bool((weight == 0).any()):
        missed = torch.nonzero(weight == 0).flatten()[:5].tolist()
        raise ValueError(f"tokens {missed} are in no window: spans must cover 0..n-1.")
    return (total / weight).float()


def _normalised(scores: torch.Tensor, normalise: str | None) -> torch.Tensor:
    if normalise is None:
        return scores
    total = scores.abs().sum()
    return scores / total if total > 0 else scores


def _explain_windows(
    explainer, encoding: LongEncoding, target: int, batch_size: int, progress: bool
):
    """Each window's content scores; windows go in order, ``batch_size`` at once."""
    from tqdm.auto import tqdm

    n = len(encoding.spans)
    starts = range(0, n, batch_size)
    out = []
    for first in tqdm(
        starts,
        desc=explainer.name,
        disable=not progress or len(starts) < 2,
    ):
        rows = list(range(first, min(first + batch_size, n)))
        inputs = encoding.window_inputs(rows)
        target_rows = torch.full((len(rows),), target)
        scores = explainer.attribute(inputs, target=target_rows).scores
        if tuple(scores.shape) != tuple(inputs["input_ids"].shape):
            raise ValueError(
                f"{type(explainer).__name__}.attribute returned scores of shape "
                f"{tuple(scores.shape)}, expected [batch, seq] = "
                f"{tuple(inputs['input_ids'].shape)}: explain with one map per "
                "token (e.g. helpers.attr.GradCamMean instead of helpers.attr.GradCam)."
            )
        for row, r in enumerate(rows):
            start, end = encoding.spans[r]
            out.append(scores[row, 1 : 1 + end - start])
    return out


def explain_long(
    explainer,
    model: nn.Module,
    tokenizer,
    text: str,
    *,
    window: int | None = None,
    overlap: int = 128,
    target=None,
    pool: str = "mean",
    stitch: str = "mean",
    normalise: str | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> TextExplanation:
    """Explain ``text`` of any length: one score per token of the whole text.

    ``explainer``: a :class:`helpers.attr.Attribution` whose scores are
    ``[batch, seq]`` (``model`` must be the model it explains).
    The text is cut by :func:`encode_long`; the windows' logits are pooled
    (``pool``, as :func:`classify_long`) and ``target=None`` becomes the class
    predicted for the whole text, so every window is explained for the same
    class and the windows' scores are comparable. Windows go to the explainer
    in order, ``batch_size`` at a time; the content scores are stitched by
    :func:`stitch_scores` (``stitch="mean"`` or ``"taper"``) after
    ``normalise`` (``None`` or ``"sum"``: the module's rules say when each
    fits; a text of one window gets exactly the explainer's scores).

    Returns a :class:`helpers.attr.explanation.TextExplanation`: ``tokens``
    the content tokens, ``scores`` ``{explainer.name: [n_tokens]}``,
    ``logits`` pooled, ``windows`` the spans, window logits, window scores
    and the two rules.
    """
    if normalise not in NORMALISE:
        raise ValueError(f"normalise must be one of {NORMALISE}, got {normalise!r}.")
    stitch_weights(1, 0, stitch)  # checks stitch before any work
    check_int("batch_size", batch_size, 1, "pass the windows per explainer call")
    window, overlap = _resolve_window(window, overlap, tokenizer, model)
    encoding = encode_long(tokenizer, text, window, overlap)
    window_logits = _window_logits(
        model, encoding.specials, encoding.pieces(), batch_size, progress=False
    )
    logits = pool_logits(window_logits, pool)
    chosen = int(resolve_target(target_tensor(target, 1), logits[None])[0])
    with eval_mode(model):
        raw = _explain_windows(explainer, encoding, chosen, batch_size, progress)
    window_scores = [_normalised(s, normalise) for s in raw]
    scores = stitch_scores(
        window_scores, encoding.spans, encoding.n_tokens, overlap=overlap, stitch=stitch
    )
    return TextExplanation(
        text=encoding.text,
        tokens=encoding.tokens,
        scores={explainer.name: scores},
        target=chosen,
        logits=logits,
        offsets=encoding.offsets,
        windows=Windowing(encoding.spans, window_logits, window_scores, pool, stitch),
    )


# --------------------------------------------------------------------------- a demo


def pick_long_text(
    tokenizer, texts, limit: int = 512, seed: int = 0
) -> tuple[int, int]:
    """``(index, n_tokens)`` of one text longer than ``limit`` tokens, drawn at random.

    ``n_tokens`` counts [CLS] and [SEP], as the model's limit does. The draw is
    seeded by ``seed``. When no text is longer than ``limit``, the longest
    one is returned (ties drawn at random with the same seed): check
    ``n_tokens`` before calling it long.
    """
    lengths = token_lengths(tokenizer, check_texts(texts))
    rng = torch.Generator().manual_seed(seed)
    long = [i for i, n in enumerate(lengths) if n > limit]
    if not long:
        top = max(lengths)
        long = [i for i, n in enumerate(lengths) if n == top]
    chosen = long[int(torch.randint(len(long), (1,), generator=rng))]
    return chosen, lengths[chosen]
