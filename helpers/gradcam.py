"""Grad-CAM on every encoder layer of a BERT classifier (chapter 4).

Grad-CAM (Selvaraju et al., 2017) explains a CNN's decision with the
activations ``A`` of one convolutional layer and the gradient ``g`` of the
target class score with respect to them: each channel ``k`` gets the weight
``w_k = mean over positions of g_k`` and the map is ``ReLU(sum_k w_k A_k)``,
one value per spatial position.

For a transformer encoder layer the "positions" are the tokens and the
"channels" the hidden units, so for layer ``l``, review ``b`` and token ``t``::

    w[b, l, h]  = mean over real tokens s of  d logit[b, c] / d H_l[b, s, h]
    cam[b, l, t] = ReLU( sum_h  w[b, l, h] * H_l[b, t, h] )

with ``H_l`` the output of encoder layer ``l`` and ``c`` the target class.
The method itself is :class:`helpers.attr.GradCam` (all layers with one
forward and one backward pass; padding is left out of the token average and
gets 0). This module is chapter 4's analysis of it; it computes, and
:mod:`helpers.book.gradcam_figures` draws and words the results (the Captum
reference: :func:`helpers.attr.gradcam.captum_layer_gradcam`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn

from .attr.explanation import TextExplanation
from .attr.gradcam import GradCam, normalise_layers
from .data import text_batches
from .inputs import target_tensor
from .stats import spearman

# --------------------------------------------------------------------------- texts


def gradcam_for_texts(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    target=None,
    max_length: int = 512,
    batch_size: int = 16,
    progress: bool = True,
) -> list[TextExplanation]:
    """Grad-CAM of every encoder layer for each text, in batches.

    Texts are tokenized with :func:`helpers.data.encode_texts` (an empty text
    raises ``ValueError`` naming its index; texts longer than ``max_length``
    tokens are truncated with a ``TruncationWarning``), sorted by length so a
    batch holds similar lengths (less padding), explained with
    :class:`helpers.attr.GradCam` and returned in the input order. ``target``:
    None (predicted class), an int, or one class per text. Each result is a
    :class:`helpers.attr.explanation.TextExplanation` trimmed to the text's
    real tokens, whose ``scores["Grad-CAM"]`` is ``[n_layers, n_tokens]``.
    """
    from tqdm.auto import tqdm

    texts = [texts] if isinstance(texts, str) else list(texts)
    targets = target_tensor(target, len(texts))
    batches = text_batches(
        tokenizer, texts, max_length=max_length, batch_size=batch_size
    )
    explainer = GradCam(model)
    results: list[TextExplanation | None] = [None] * len(texts)
    for batch in tqdm(
        batches, desc="Grad-CAM", disable=not progress or len(batches) < 2
    ):
        chunk_target = None if targets is None else targets[batch.rows]
        record = explainer.attribute(batch.inputs, target=chunk_target)
        tokens = batch.tokens(tokenizer)
        for row, index in enumerate(batch.rows):
            results[index] = TextExplanation(
                text=texts[index],
                tokens=tokens[row],
                scores={GradCam.name: record.scores[row, :, : batch.lengths[row]]},
                target=int(record.target[row]),
                logits=record.logits[row],
                truncated=batch.truncated[row],
            )
    return results  # type: ignore[return-value]


# --------------------------------------------------------------------------- aggregate


#: The tokens :func:`layer_statistics` counts as special by default: the
#: framing tokens of BERT (``[CLS]``, ``[SEP]``) and RoBERTa (``<s>``, ``</s>``).
FRAMING_TOKENS = ("[CLS]", "[SEP]", "<s>", "</s>")


def layer_statistics(
    results: Sequence[TextExplanation], special_tokens: Sequence[str] = FRAMING_TOKENS
) -> dict[str, torch.Tensor]:
    """Per-layer summaries of many reviews' maps (each a tensor [n_layers]).

    ``special_tokens``: the token strings counted as special (default
    :data:`FRAMING_TOKENS`; for another model pass
    ``helpers.tokens.special_tokens(tokenizer)``).

    ``special_share``: mean over reviews of the share of the layer's Grad-CAM
    mass on special tokens (reviews whose map is all zero are left out; NaN
    when all are); ``all_zero``: fraction of reviews whose map for the layer is
    zero everywhere (the ReLU removed every token); ``peak_token_share``: mean
    share of the mass on the single highest token; ``corr_with_last``: mean
    Pearson correlation over tokens between the layer's map and the last
    layer's (NaN where a map is constant).
    """
    if not results:
        raise ValueError("results is empty: pass the output of gradcam_for_texts.")
    special = set(special_tokens)
    shares, zeros, peaks, corrs = [], [], [], []
    for res in results:
        cam = res.score(GradCam.name).double()
        total = cam.sum(dim=1)
        is_special = torch.tensor([t in special for t in res.tokens], dtype=torch.bool)
        nonzero = total > 0
        safe = torch.where(nonzero, total, torch.ones_like(total))
        nan = torch.full_like(total, float("nan"))
        shares.append(torch.where(nonzero, cam[:, is_special].sum(dim=1) / safe, nan))
        peaks.append(torch.where(nonzero, cam.amax(dim=1) / safe, nan))
        zeros.append((~nonzero).double())
        corrs.append(_row_correlations(cam, cam[-1]))
    return {
        "special_share": torch.stack(shares).nanmean(dim=0),
        "all_zero": torch.stack(zeros).mean(dim=0),
        "peak_token_share": torch.stack(peaks).nanmean(dim=0),
        "corr_with_last": torch.stack(corrs).nanmean(dim=0),
    }


def _row_correlations(rows: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of ``rows`` [n, tokens] with ``reference``.

    NaN where a row (or the reference) is constant.
    """
    return torch.corrcoef(torch.cat([rows, reference[None]]))[-1, :-1]


# ------------------------------------------------------- the layers compared (ch. 4)


def layer_mean(
    result: TextExplanation, special_tokens: Sequence[str] = ("[CLS]", "[SEP]")
) -> torch.Tensor:
    """One score per token of one review: ``"Grad-CAM mean (normalised)"``.

    Returns ``[n_tokens]``.

    Each layer's map is first divided by its total over the review's tokens
    that are not in ``special_tokens`` (:func:`normalise_layers`), so every
    layer counts equally (a raw mean is mostly the layer with the largest
    values); special tokens get 0. This is the registry's
    :class:`~helpers.attr.gradcam.GradCamMean` for one review (pass
    ``tokenizer.all_special_tokens``).
    """
    special = set(special_tokens)
    real = torch.tensor([t not in special for t in result.tokens], dtype=torch.bool)
    cam = result.score(GradCam.name)
    return normalise_layers(cam[None], real[None])[0].mean(dim=0)


def _per_review(cam, real) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pairs (map [layers, n], mask [n]) from a batch tensor or from lists."""
    if isinstance(cam, torch.Tensor) and cam.dim() != 3:
        raise ValueError(
            f"cam must be [batch, layers, seq] or a list of [layers, n] maps, got "
            f"shape {tuple(cam.shape)}."
        )
    cams, reals = list(cam), list(real)
    if len(cams) != len(reals) or not cams:
        raise ValueError(
            f"{len(cams)} maps and {len(reals)} masks: pass one mask per review "
            "(and at least one review)."
        )
    pairs = []
    for b, (c, r) in enumerate(zip(cams, reals, strict=True)):
        c, r = torch.as_tensor(c).detach().cpu(), torch.as_tensor(r).cpu().bool()
        if c.dim() != 2 or r.shape != (c.shape[1],) or c.shape[0] != len(cams[0]):
            raise ValueError(
                f"review {b}: map {tuple(c.shape)} and mask {tuple(r.shape)} do not "
                "fit: each map is [layers, n] (same layers for all), its mask [n]."
            )
        pairs.append((c, r))
    return pairs


def layer_agreement(cam, real):
    """Spearman ρ between every two layers' maps, review by review.

    ``cam``: maps ``[batch, n_layers, seq]``, or a list of one ``[n_layers, n]``
    map per review (``[r.score() for r in results]``); ``real``: boolean masks of
    the tokens compared, ``[batch, seq]`` or a list of ``[n]`` (chapter 5
    compares the real tokens: attended to and not special). Returns a NumPy
    array ``[batch, n_layers, n_layers]``: entry ``[b, i, j]`` is the Spearman
    correlation (ranks, ties averaged: :func:`helpers.stats.spearman`, as
    chapter 5's agreement between methods) of layers ``i`` and ``j`` over review
    ``b``'s compared tokens; NaN where one of the two maps is constant there (an
    all-zero row, say); 1 on the diagonal. Average over reviews with
    :func:`mean_layer_agreement`.
    """
    import numpy as np

    pairs = _per_review(cam, real)
    n_layers = pairs[0][0].shape[0]
    out = np.ones((len(pairs), n_layers, n_layers))
    for b, (c, r) in enumerate(pairs):
        rows = c[:, r].double().numpy()
        for i in range(n_layers):
            for j in range(i + 1, n_layers):
                out[b, i, j] = out[b, j, i] = spearman(rows[i], rows[j])
    return out


def mean_layer_agreement(rho):
    """Mean over reviews of :func:`layer_agreement` (NaN left out): ``[N, N]``.

    An entry that is NaN for every review stays NaN (without a warning).
    """
    import numpy as np

    rho = np.asarray(rho, dtype=float)
    if rho.ndim != 3 or rho.shape[1] != rho.shape[2]:
        raise ValueError(
            f"rho must be [batch, layers, layers] (layer_agreement), got {rho.shape}."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN entries: NaN
        return np.nanmean(rho, axis=0)
