"""Attention of a BERT classifier, analysed for chapter 3.

:func:`attention_probabilities` returns ``[batch, layers, heads, seq, seq]``
(query rows, key columns; padding rows and columns 0); the rest turns texts
into highlighted HTML and computes what chapter 3's figures show
(:mod:`helpers.book.attention_figures` draws them). The ``[CLS]`` row and
rollout explainers live in :mod:`helpers.attr.attention`.

Transformers 5 returns attention weights only from the eager attention
kernel: every function here switches the model to it with
:func:`helpers.models.set_eager_attention` and leaves it so (eager gives the
same outputs as SDPA, only slower; nothing needs restoring).
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import nn

from .align import align, word_map
from .attr.attention import CLSAttention, layer_index
from .attr.explanation import TextExplanation
from .config import LABEL_NAMES
from .data import text_batches
from .escape import Markup, isolated
from .highlight import highlight_html, highlight_rows
from .inputs import check_inputs, check_int, label_names
from .models import eval_mode, model_device, set_eager_attention
from .stats import ranked
from .tokens import WordMap, merge_pieces, special_tokens

# --------------------------------------------------------------------------- extraction


def _forward_chunks(model: nn.Module, inputs, batch_size: int):
    """Yield ``(chunk inputs, per-layer attentions, logits or None)``, on the CPU.

    The attentions are a tuple of ``[b, heads, seq, seq]``, one per layer.

    One forward pass per ``batch_size`` reviews, in eval mode, without
    gradients, with the eager kernel (switched on here).
    """
    check_int("batch_size", batch_size)
    inputs = check_inputs(inputs)
    set_eager_attention(model)
    device = model_device(model)
    n = inputs["input_ids"].shape[0]
    with eval_mode(model), torch.no_grad():
        for start in range(0, n, batch_size):
            chunk = {k: v[start : start + batch_size] for k, v in inputs.items()}
            out = model(
                **{k: v.to(device) for k, v in chunk.items()}, output_attentions=True
            )
            if not getattr(out, "attentions", None):
                raise ValueError(
                    f"{type(model).__name__} returned no attentions: pass a "
                    "transformers model loaded with attn_implementation='eager'."
                )
            logits = (
                out.logits.float().cpu()
                if getattr(out, "logits", None) is not None
                else None
            )
            yield chunk, tuple(a.float().cpu() for a in out.attentions), logits
            del out


def _attentions_and_logits(
    model: nn.Module, inputs, batch_size: int = 16
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(attention, logits)`` on the CPU, padding zeroed.

    ``attention``: ``[batch, layers, heads, seq, seq]``; ``logits``:
    ``[batch, labels]`` or None.
    """
    attentions, logits = [], []
    for chunk, layers, chunk_logits in _forward_chunks(model, inputs, batch_size):
        attn = torch.stack(layers, dim=1)  # [b, L, H, S, S]
        del layers
        mask = chunk["attention_mask"].to(attn.dtype)
        attn.mul_(mask[:, None, None, :, None]).mul_(mask[:, None, None, None, :])
        attentions.append(attn)
        if chunk_logits is not None:
            logits.append(chunk_logits)
    return torch.cat(attentions) if len(attentions) > 1 else attentions[0], (
        torch.cat(logits) if logits else None
    )


def attention_probabilities(
    model: nn.Module, inputs, batch_size: int = 16
) -> torch.Tensor:
    """Attention probabilities of every layer and head: ``[b, L, heads, seq, seq]``.

    ``inputs``: a dict/BatchEncoding with ``input_ids`` and ``attention_mask``
    ([batch, seq]; from :func:`helpers.data.encode_texts`). The model runs in
    eval mode, ``batch_size`` reviews at a time, with the eager attention
    kernel (switched on and left on). ``[b, l, h, i, j]`` is how much query
    token ``i`` attends to key token ``j``; each real query row sums to 1, and
    rows and columns of padding are 0. The result is float32 on the CPU and
    holds ``batch * layers * heads * seq^2`` numbers: for many long reviews call
    it on one batch at a time (see :func:`review_attentions`).
    """
    return _attentions_and_logits(model, inputs, batch_size)[0]


# --------------------------------------------------------------------------- reviews


def _tokenizer_roles(model: nn.Module, tokenizer) -> dict:
    """The display fields of a record, read from the tokenizer and the model."""
    return {
        "special_tokens": special_tokens(tokenizer),
        "cls_token": str(getattr(tokenizer, "cls_token", None) or "[CLS]"),
        "sep_token": str(getattr(tokenizer, "sep_token", None) or "[SEP]"),
        "label_names": tuple(label_names(model)),
    }


def review_attentions(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int = 512,
    batch_size: int = 8,
    progress: bool = True,
) -> Iterator[tuple[int, TextExplanation]]:
    """Yield ``(index, TextExplanation)`` for each text, one batch in memory at a time.

    Texts are tokenized with :func:`helpers.data.encode_texts` (empty texts
    raise ``ValueError``; texts longer than ``max_length``, at most 512, are
    truncated with a ``TruncationWarning``) and processed in batches of similar
    length, so the order of the yielded indices is by length, not the input's.
    """
    from tqdm.auto import tqdm

    texts = [texts] if isinstance(texts, str) else list(texts)
    batches = text_batches(
        tokenizer, texts, max_length=max_length, batch_size=batch_size
    )
    about = _tokenizer_roles(model, tokenizer)
    for batch in tqdm(
        batches, desc="attention", disable=not progress or len(batches) < 2
    ):
        tokens = batch.tokens(tokenizer)
        # one chunk: the whole batch goes through the model at once
        for _, layers, logits in _forward_chunks(
            model, batch.inputs, batch_size=len(batch.rows)
        ):
            for row, index in enumerate(batch.rows):
                n = batch.lengths[row]  # real tokens: no padding inside [:n, :n]
                attentions = torch.stack([a[row, :, :n, :n] for a in layers])
                yield (
                    index,
                    TextExplanation(
                        text=texts[index],
                        tokens=tokens[row],
                        scores={CLSAttention.name: attentions[-1, :, 0].mean(dim=0)},
                        target=int(logits[row].argmax()),
                        logits=logits[row],
                        truncated=batch.truncated[row],
                        attentions=attentions,
                        **about,
                    ),
                )
            del layers


def explain_review(
    model: nn.Module, tokenizer, text: str, max_length: int = 512
) -> TextExplanation:
    """:class:`TextExplanation` of one review (see :func:`review_attentions`)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be one review (str), got {type(text).__name__}.")
    return next(
        review_attentions(
            model, tokenizer, [text], max_length=max_length, progress=False
        )
    )[1]


def _view_name(ra: TextExplanation, layer, head, rollout: bool) -> str:
    if rollout:
        return f"attention rollout over all {ra.n_layers} layers, [CLS] row"
    if layer == "all":
        heads = "mean over heads" if head is None else f"head {head}"
        return f"[CLS] attention in each layer (0 = nearest the embeddings), {heads}"
    index = layer_index(layer, ra.n_layers)
    where = (
        f"layer {index}"
        + (" (last)" if index == ra.n_layers - 1 else "")
        + f" of 0..{ra.n_layers - 1}"
    )
    if head == "grid":
        return (
            f"[CLS] attention, {where}: each of the {ra.n_heads} heads and their mean"
        )
    heads = f"mean over {ra.n_heads} heads" if head is None else f"head {head}"
    return f"[CLS] attention, {where}, {heads}"


def render_review(
    ra: TextExplanation,
    *,
    layer: int | str = -1,
    head: int | str | None = None,
    rollout: bool = False,
    merge: str | None = None,
    true_label: int | None = None,
    name: str = "review",
    label_names: Sequence[str] | None = None,
) -> str:
    """HTML of one view of a review's attention (static figure and explorer output).

    ``rollout=True``: the rollout's ``[CLS]`` row. Otherwise the ``[CLS]`` row
    of ``layer`` for ``head`` = an int (one head), ``None`` (mean over heads)
    or ``"grid"`` (every head, each scaled to its own maximum, then the mean:
    pytorch_advanced's view); ``layer="all"``: one row per layer (``head`` an int or
    ``None``), each scaled to its own maximum. ``merge`` (``"max"``/``"sum"``)
    shows whole words. The title gives the true label (when known) and the
    prediction. Special tokens (``ra.special_tokens``) are hidden and each
    view is scaled to its largest shown value; a truncated review gets the
    truncation marker. ``label_names``: default ``ra.label_names`` (the
    model's ``id2label``), else the book's negative/positive; they and
    ``name`` are escaped and isolated in the title
    (:func:`helpers.escape.isolated`).
    """
    if label_names is None:
        label_names = ra.label_names or LABEL_NAMES
    p = float(ra.probabilities[ra.prediction])
    pred = f"predicted {isolated(label_names[ra.prediction])} (p={p:.2f})"
    true = ""
    if true_label is not None:
        true = f"true {isolated(label_names[true_label])}, "
    verdict = (
        ""
        if true_label is None
        else (" ✓" if true_label == ra.prediction else " ✗ misclassified")
    )
    view = html.escape(_view_name(ra, layer, head, rollout))
    title = Markup(f"{isolated(name)}: {true}{pred}{verdict} — {view}")
    common = dict(
        merge=merge,
        truncated=ra.truncated and len(ra.tokens),
        label="attention",
        special_tokens=ra.special_tokens,
    )
    if rollout:
        return highlight_html(ra.tokens, ra.rollout(), title=title, **common)
    if layer == "all":
        rows = [(f"layer {i}", ra.tokens, ra.cls(i, head)) for i in range(ra.n_layers)]
        return highlight_rows(rows, title=title, **common)
    if head == "grid":
        rows = [(f"head {h}", ra.tokens, ra.cls(layer, h)) for h in range(ra.n_heads)]
        rows.append(("mean", ra.tokens, ra.cls(layer, None)))
        return highlight_rows(rows, title=title, **common)
    return highlight_html(ra.tokens, ra.cls(layer, head), title=title, **common)


TOKEN_KINDS = ("[CLS]", "[SEP]", "punctuation", "word")


def token_kind(
    token: str,
    cls_tokens: Sequence[str] = ("[CLS]", "<s>"),
    sep_tokens: Sequence[str] = ("[SEP]", "</s>"),
) -> str:
    """``"[CLS]"``, ``"[SEP]"``, ``"punctuation"`` (no letter or digit) or ``"word"``.

    The kind ``"[CLS]"`` is any of ``cls_tokens`` (BERT's ``[CLS]``,
    RoBERTa's ``<s>``; pass ``[tokenizer.cls_token]`` for another model),
    ``"[SEP]"`` any of ``sep_tokens``. WordPiece continuations (``##s``) and
    pieces with a word-start marker (``Ġ``, ``▁``) count by their text.
    """
    if token in cls_tokens:
        return "[CLS]"
    if token in sep_tokens:
        return "[SEP]"
    piece = token[2:] if token.startswith("##") else token.lstrip("Ġ▁")
    return "word" if any(ch.isalnum() for ch in piece) else "punctuation"


def attention_mass(ra: TextExplanation) -> torch.Tensor:
    """``[layers, 4]``: share of the ``[CLS]`` row (mean over heads) per token kind.

    Columns follow :data:`TOKEN_KINDS` (``[CLS]``, ``[SEP]``, punctuation,
    words); each row sums to 1. ``ra.cls_token``/``ra.sep_token`` say which
    tokens are the model's ``[CLS]`` and ``[SEP]``.
    """
    cls_tokens, sep_tokens = (ra.cls_token, "[CLS]"), (ra.sep_token, "[SEP]")
    kinds = torch.tensor(
        [TOKEN_KINDS.index(token_kind(t, cls_tokens, sep_tokens)) for t in ra.tokens]
    )
    rows = ra.attentions[:, :, 0, :].mean(dim=1)  # [layers, n]
    mass = torch.zeros(ra.n_layers, len(TOKEN_KINDS))
    return mass.index_add_(1, kinds, rows)


# --------------------------------------------------------------------------- heat map


def heads_matrix(
    ra: TextExplanation, layer: int = -1
) -> tuple[list[str], torch.Tensor]:
    """``(tokens, rows)``: the ``[CLS]`` row of ``layer`` for each head, then the mean.

    ``rows`` is ``[n_heads + 1, n_shown]``, special tokens left out and each row
    divided by its own maximum over the tokens shown (the normalisation of
    *pytorch_advanced*'s per-head view: a weak head is as visible as a strong
    one); a row that is 0 on every shown token stays 0. This is the image that
    :func:`helpers.book.attention_figures.plot_heads_heatmap` draws.
    """
    hidden = frozenset(getattr(ra, "special_tokens", None) or ())
    keep = [i for i, t in enumerate(ra.tokens) if t not in hidden]
    if not keep:
        raise ValueError("The review has no token besides [CLS] and [SEP].")
    heads = [ra.cls(layer, h) for h in range(ra.n_heads)]
    rows = torch.stack([*heads, ra.cls(layer, None)])[:, keep]
    peak = rows.max(dim=1, keepdim=True).values
    rows = torch.where(peak > 0, rows / peak.clamp_min(1e-12), torch.zeros_like(rows))
    return [ra.tokens[i] for i in keep], rows


def top_words(
    tokens: Sequence[str], scores, k: int, seed: int = 1234, special_tokens=()
) -> list[tuple[int, str, float]]:
    """The ``k`` highest-scored words of a review: ``(position, word, score)``.

    Pieces are merged into words with the book's rule, the **sum**
    (:func:`helpers.tokens.merge_pieces` with ``merge="sum"``);
    ``special_tokens`` (the tokenizer's, e.g. ``ra.special_tokens``) are left
    out, punctuation is kept. ``position`` indexes the
    merged words; the list is highest score first, and equal scores are
    ordered at random (``seed``), never by position. Fewer than ``k`` words:
    all of them. Already merged words (no ``##`` pieces) pass through as they
    are, so this also ranks any per-word scores.
    """
    words, merged = merge_pieces(tokens, scores, special_tokens, merge="sum")
    merged = torch.as_tensor(merged, dtype=torch.float64)
    return [(i, words[i], float(merged[i])) for i in ranked(merged, seed)[:k].tolist()]


def unsaturated_review(
    probabilities: Mapping[int, float] | Sequence[float],
    candidates: Sequence[int],
    target: float = 0.75,
    seed: int = 1234,
) -> int:
    """The candidate whose predicted-class probability is nearest ``target``.

    Chapter 3's rule for the review whose words it masks one at a time: near
    p = 1 the softmax is saturated and no single word moves the probability,
    so the test would rest on noise; 0.75, halfway between a coin flip and
    certainty, leaves room to move either way. ``probabilities[i]``: the
    probability of the class predicted for review ``i``. Equal distances are
    decided in a random order (``seed``), never by position.
    """
    candidates = list(candidates)
    if not candidates:
        raise ValueError("candidates is empty: pass the indices of the reviews.")
    if not 0.5 <= target <= 1:
        raise ValueError(
            f"target must be a predicted-class probability in [0.5, 1], got {target}."
        )
    shuffle = torch.randperm(
        len(candidates), generator=torch.Generator().manual_seed(seed)
    ).tolist()
    order = [candidates[k] for k in shuffle]
    return min(order, key=lambda i: abs(float(probabilities[i]) - target))


@torch.no_grad()
def mask_each_word(
    model: nn.Module,
    tokenizer,
    text: str,
    max_length: int = 512,
    batch_size: int = 64,
) -> tuple[WordMap, torch.Tensor]:
    """Every class's probability for ``text`` whole and with each word masked.

    Returns the words (:func:`helpers.align.word_map`, the first
    ``max_length`` tokens) and ``[1 + n_words, n_labels]``: row 0 the text as
    it is, row ``1 + k`` with every token of word ``k`` replaced by the
    tokenizer's mask token. The replacement is made on the ids: the string
    ``"[MASK]"`` typed into a text is read as text (``[``, ``mask``, ``]``),
    not as the mask token (:func:`helpers.tokens.encode`). Eval mode,
    restored afterwards.
    """
    if tokenizer.mask_token_id is None:
        raise ValueError("The tokenizer has no mask token to replace words with.")
    words = word_map(tokenizer, text, max_length=max_length)
    ids = torch.tensor(align(tokenizer, text, max_length=max_length).ids)
    index = torch.tensor([-1 if w is None else w for w in words.index])
    rows = ids.repeat(1 + len(words.words), 1)
    for k in range(len(words.words)):
        rows[1 + k, index == k] = tokenizer.mask_token_id
    device = model_device(model)
    probs = []
    with eval_mode(model):
        for chunk in rows.split(batch_size):
            chunk = chunk.to(device)
            logits = model(
                input_ids=chunk, attention_mask=torch.ones_like(chunk)
            ).logits
            probs.append(logits.float().softmax(-1).cpu())
    return words, torch.cat(probs)
