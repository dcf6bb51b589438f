"""Gradient-weighted attention rollout (Chefer, Gur & Wolf, ICCV 2021; chapter 6).

Chefer, Gur & Wolf, *Generic Attention-model Explainability for Interpreting
Bi-Modal and Encoder-Decoder Transformers*, ICCV 2021. Attention rollout
(chapter 3) follows attention through the layers but ignores the class being
explained; Grad-CAM (chapter 4) weights hidden states by the gradient of the
class score. This method does both: it weights each attention probability by
its gradient. For each encoder layer ``l``, with ``A_l`` the attention
probabilities ``[batch, heads, seq, seq]`` (query rows, key columns) and
``dA_l`` the gradient of the target logit with respect to them::

    Ā_l = mean over heads of  max(dA_l * A_l, 0)        # [batch, seq, seq]
    R = I;  for l = 0 .. N-1:  R <- R + Ā_l R           # N layers

The map is the ``[CLS]`` row of the final ``R`` (the classifier reads ``[CLS]``, the
first position). The identity stands for the residual connection: every
token starts with relevance for itself.

Choices made here:

* **[CLS] itself.** ``R[CLS, CLS]`` is at least 1 because of the starting
  identity: that 1 is the trivial "[CLS] is [CLS]" and not evidence. The map
  reports ``R[CLS, CLS] - 1`` there: what reached [CLS] through attention,
  on the same scale as the other tokens. (The faithfulness metrics never remove
  [CLS], so this only affects displays.)
* **Padding.** Rows and columns of padding in every ``Ā_l`` are set to 0 (they
  are 0 already up to float rounding: padded keys get probability 0 and padded
  queries get no gradient), and the map is 0 at padding.
* **Cost.** One forward and one backward pass. Only the ``[CLS]`` row is
  needed, so it is propagated as a row vector, ``r <- r + r Ā_l`` from the last
  layer down to the first: ``O(N seq²)`` instead of ``O(N seq³)``.

The attention probabilities come from transformers' eager kernel with
``output_attentions=True`` (the model is switched to it for the pass and
switched back); the gradient is taken with respect to them directly.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Attribution, attention_implementation


def gradient_weighted_cls_row(
    attentions, gradients, attention_mask: torch.Tensor
) -> torch.Tensor:
    """The ``[CLS]`` row of Chefer et al.'s relevance matrix: ``[batch, seq]``.

    ``attentions``, ``gradients``: one ``[batch, heads, seq, seq]`` tensor per
    layer (first layer first); ``attention_mask``: ``[batch, seq]``, 1 = real
    token. ``[CLS]`` (position 0) gets ``R[CLS, CLS] - 1``; padding gets 0.
    """
    if len(attentions) == 0 or len(attentions) != len(gradients):
        raise ValueError(
            f"need one gradient per attention layer, got {len(attentions)} "
            f"attention tensors and {len(gradients)} gradients."
        )
    real = attention_mask.to(attentions[0].dtype)
    pairs = real[:, :, None] * real[:, None, :]
    row = torch.zeros_like(real)
    row[:, 0] = 1.0
    for attn, grad in zip(reversed(attentions), reversed(gradients), strict=True):
        weighted = (grad * attn).clamp(min=0).mean(dim=1) * pairs
        row = row + torch.einsum("bi,bij->bj", row, weighted)
    row[:, 0] -= 1.0
    return row * real


class GradientWeightedRollout(Attribution):
    """Explainer: gradient-weighted attention rollout (Chefer et al., 2021).

    ``GradientWeightedRollout(model).attribute(inputs, target=None)`` returns
    ``[batch, seq]``, non-negative, 0 at padding; see the module docstring for
    the formula and the value at ``[CLS]``. One forward and one backward pass
    per chunk of at most ``max_tokens`` tokens (reviews x padded length; the
    attention probabilities of all layers and their gradients are held, so
    memory grows with ``layers x heads x seq²`` per review; None = the whole
    batch at once). Runs in eval mode with the eager attention kernel and
    restores the model's mode and attention implementation. Works with frozen
    parameters (the word embeddings are fed as a leaf that requires grad).
    """

    name = "grad-weighted rollout"
    transformer = True

    def __init__(self, model: nn.Module, max_tokens: int | None = 4096):
        super().__init__(model, max_tokens)
        if not hasattr(model, "get_input_embeddings"):
            raise ValueError(
                f"{type(model).__name__} has no get_input_embeddings(): pass a "
                "BERT-like transformers sequence classifier."
            )

    def _pass(self, batch, target):
        with attention_implementation(self.model, "eager"), torch.enable_grad():
            with torch.no_grad():
                words = self.model.get_input_embeddings()(batch["input_ids"])
            out = self.model(
                inputs_embeds=words.requires_grad_(True),
                attention_mask=batch["attention_mask"],
                token_type_ids=batch.get("token_type_ids"),
                output_attentions=True,
            )
            if not getattr(out, "attentions", None):
                raise ValueError(
                    f"{type(self.model).__name__} returned no attention "
                    "probabilities with output_attentions=True: pass a BERT-like "
                    "transformers model."
                )
            grads = torch.autograd.grad(
                target.score(out.logits), out.attentions, allow_unused=True
            )
        attentions = [a.detach() for a in out.attentions]
        grads = [
            torch.zeros_like(a) if g is None else g
            for a, g in zip(attentions, grads, strict=True)
        ]
        row = gradient_weighted_cls_row(attentions, grads, batch["attention_mask"])
        return row, out.logits
