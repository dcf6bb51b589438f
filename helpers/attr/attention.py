"""Attention as an explanation: the [CLS] row and attention rollout (chapter 3).

* :func:`cls_attention` takes the ``[CLS]`` row of one layer: how much the
  ``[CLS]`` position, which the classifier reads, attends to each token.
* :func:`attention_rollout` (Abnar & Zuidema, 2020) follows attention through
  all layers: per layer the heads are averaged, the identity is added for the
  residual connection, rows are renormalised to sum to 1, and the layers are
  multiplied, ``R = Ã_{N-1} ··· Ã_1 Ã_0``.
* :class:`CLSAttention` and :class:`AttentionRollout` are the registry's
  explainers built on them. Attention does not depend on the class
  explained: the target is checked and returned, and changes nothing.

Transformers 5 returns attention weights only from the eager attention
kernel: the explainers switch the model to it with
:func:`helpers.models.set_eager_attention` and leave it so (eager gives the
same outputs as SDPA, only slower).
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import set_eager_attention
from .base import Attribution


def as_attention(attn) -> torch.Tensor:
    """``[batch, layers, heads, seq, seq]`` from a tensor or ``outputs.attentions``."""
    if isinstance(attn, (tuple, list)):
        if not attn:
            raise ValueError(
                "attn is an empty tuple: run the model with output_attentions=True."
            )
        attn = torch.stack([torch.as_tensor(a) for a in attn], dim=1)
    attn = torch.as_tensor(attn)
    if attn.dim() != 5 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(
            "attn must be [batch, layers, heads, seq, seq] (or outputs.attentions, a "
            f"tuple of [batch, heads, seq, seq]), got shape {tuple(attn.shape)}: add "
            "a batch axis with attn[None]."
        )
    return attn.float()


def layer_index(layer: int, n_layers: int) -> int:
    """``layer`` (negative counts from the top) as 0..n_layers-1, or ``ValueError``."""
    if (
        not isinstance(layer, int)
        or isinstance(layer, bool)
        or not -n_layers <= layer < n_layers
    ):
        raise ValueError(
            f"layer must be an integer in {-n_layers}..{n_layers - 1} (the model has "
            f"{n_layers} layers), got {layer!r}."
        )
    return layer % n_layers


def cls_attention(attn, layer: int = -1) -> torch.Tensor:
    """The ``[CLS]`` row of one layer: ``[batch, heads, seq]``.

    ``attn``: ``[batch, layers, heads, seq, seq]`` or ``outputs.attentions``.
    ``layer``: 0 is the layer nearest the embeddings, -1 (default) the last,
    whose ``[CLS]`` output the classifier reads.
    """
    attn = as_attention(attn)
    return attn[:, layer_index(layer, attn.shape[1]), :, 0, :]


def attention_rollout(attn, attention_mask=None) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): ``[batch, seq, seq]``.

    For each layer: mean over heads ``A``, keys of padding set to 0,
    ``Ã = (A + I)`` renormalised so each row sums to 1 (the identity stands for
    the residual connection; with rows of ``A`` summing to 1 this is
    ``0.5 A + 0.5 I``). Then ``R = Ã_{N-1} ··· Ã_1 Ã_0``: ``R[b, i, j]`` is how much
    of position ``i`` in the last layer's output comes from input token ``j``.
    Rows of real tokens sum to 1; rows and columns of padding are 0.
    """
    attn = as_attention(attn)
    batch, n_layers, _, seq, _ = attn.shape
    if attention_mask is None:
        mask = torch.ones(batch, seq, device=attn.device)
    else:
        mask = torch.as_tensor(attention_mask).float().to(attn.device)
        if mask.shape != (batch, seq):
            raise ValueError(
                f"attention_mask has shape {tuple(mask.shape)}, expected "
                f"{(batch, seq)} for this attn."
            )
    eye = torch.eye(seq, device=attn.device)
    rollout = None
    for layer in range(n_layers):
        mixed = attn[:, layer].mean(dim=1) * mask[:, None, :] + eye
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        rollout = mixed if rollout is None else mixed @ rollout
    return rollout * mask[:, :, None] * mask[:, None, :]


def _attentions(model: nn.Module, batch: dict) -> tuple[tuple, torch.Tensor]:
    """``(attentions, logits)`` of one forward pass without gradients."""
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    if not getattr(out, "attentions", None):
        raise ValueError(
            f"{type(model).__name__} returned no attentions: pass a transformers "
            "model loaded with attn_implementation='eager'."
        )
    return out.attentions, out.logits


class CLSAttention(Attribution):
    """Attention from ``[CLS]`` to each token in one layer, ``[batch, seq]``.

    The ``[CLS]`` row of ``layer`` (default: the last), averaged over heads
    (``head=None``) or of one head; 0 at padding. ``name``: ``"[CLS]
    attention"`` for the default, with the layer and head added otherwise.
    One forward pass per chunk.
    """

    name = "[CLS] attention"

    def __init__(
        self,
        model: nn.Module,
        layer: int = -1,
        head: int | None = None,
        max_tokens: int | None = 4096,
    ):
        super().__init__(set_eager_attention(model), max_tokens)
        n_layers = model.config.num_hidden_layers
        n_heads = model.config.num_attention_heads
        self.layer = layer_index(layer, n_layers)
        if head is not None and (not isinstance(head, int) or not 0 <= head < n_heads):
            raise ValueError(
                "head must be None (mean over heads) or an integer in "
                f"0..{n_heads - 1}, got {head!r}."
            )
        self.head = head
        where = "" if self.layer == n_layers - 1 else f" L{self.layer}"
        if where or head is not None:
            self.name = f"{type(self).name}{where}" + (
                "" if head is None else f" head {head}"
            )

    def _pass(self, batch, target):
        attentions, logits = _attentions(self.model, batch)
        rows = attentions[self.layer][:, :, 0, :]  # [b, heads, seq]
        return (rows.mean(dim=1) if self.head is None else rows[:, self.head]), logits


class AttentionRollout(Attribution):
    """The ``[CLS]`` row of :func:`attention_rollout` over all layers, ``[batch, seq]``.

    Sums to 1 over each review's tokens; 0 at padding. One forward pass per
    chunk.
    """

    name = "rollout"

    def __init__(self, model: nn.Module, max_tokens: int | None = 4096):
        super().__init__(set_eager_attention(model), max_tokens)

    def _pass(self, batch, target):
        attentions, logits = _attentions(self.model, batch)
        return attention_rollout(attentions, batch["attention_mask"])[:, 0], logits
