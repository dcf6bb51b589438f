"""Gradient-based attributions at the embeddings: gradient x input and IG.

Both attribute to the output ``E`` of ``model.base_model.embeddings`` (word
+ position + segment embeddings after LayerNorm) and sum over hidden units,
which gives one **signed** score per token. Signed maps are ranked by their
signed value, not by ``|.|``: removing tokens that speak *against* the class
would raise its probability, which is not what "most important for this
decision" means in ERASER's comprehensiveness.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator

import torch
from torch import nn

from ..extras import optional_import
from ..models import embeddings_layer
from ..tokens import TokenRoles
from .base import Attribution


@contextlib.contextmanager
def leaf_output(module: nn.Module) -> Iterator[list]:
    """Replace ``module``'s output by a leaf that requires grad; the leaf is kept.

    The gradient with respect to that leaf exists even when the model's
    parameters are frozen.
    """
    leaves: list[torch.Tensor] = []

    def hook(_module, _args, output):
        leaf = output.detach().requires_grad_(True)
        leaves.append(leaf)
        return leaf

    handle = module.register_forward_hook(hook)
    try:
        yield leaves
    finally:
        handle.remove()


class GradientXInput(Attribution):
    """Gradient x input on the embeddings layer's output, summed over hidden units.

    ``score[b, t] = sum_h d logit[b, target] / d E[b, t, h] * E[b, t, h]``:
    one forward and one backward pass per chunk. Signed; 0 at padding.
    """

    name = "grad x input"
    attention_weights = False  # runs on the fused kernel

    def __init__(self, model: nn.Module, max_tokens: int | None = 4096):
        super().__init__(model, max_tokens)
        self.layer = embeddings_layer(model)

    def _pass(self, batch, target):
        with torch.enable_grad(), leaf_output(self.layer) as leaves:
            logits = self.model(**batch).logits
            (grad,) = torch.autograd.grad(target.score(logits), leaves[:1])
        return (grad * leaves[0].detach()).sum(-1), logits


class IntegratedGradients(Attribution):
    """Integrated gradients (Sundararajan et al., 2017) via Captum.

    Captum's ``LayerIntegratedGradients`` on ``model.base_model.embeddings``,
    summed over hidden units: one signed score per token. The **baseline**
    input keeps [CLS], [SEP] and padding and replaces every real token by
    ``[PAD]`` (``baseline="pad"``, the default) or ``[MASK]``
    (``baseline="mask"``). ``n_steps`` points of the Gauss-Legendre rule;
    ``internal_batch_size`` bounds how many interpolated copies go through
    the model at once (memory). By completeness each review's scores sum to
    ``logit(x) - logit(baseline)`` up to the integration error. Cost: one
    forward pass for the target, then ``n_steps`` forward and backward passes
    per review. Captum reads the embeddings of the input and of the baseline
    through ``forward_func`` without gradients; there :meth:`_forward` runs
    only the embeddings layer (what Captum keeps), not the whole model: two
    forward passes per chunk fewer, the same scores.
    """

    name = "IG"
    attention_weights = False  # runs on the fused kernel
    derived_attributes = ("model", "_lig")  # Captum's object, built from the rest

    def __init__(
        self,
        model: nn.Module,
        roles: TokenRoles,
        pad_id: int,
        *,
        n_steps: int = 50,
        baseline: str = "pad",
        internal_batch_size: int = 16,
        max_tokens: int | None = 4096,
    ):
        captum = optional_import("captum.attr", "Integrated gradients")

        super().__init__(model, max_tokens)
        if baseline not in ("pad", "mask"):
            raise ValueError(f"baseline must be 'pad' or 'mask', got {baseline!r}.")
        if n_steps < 1 or internal_batch_size < 1:
            raise ValueError(
                "n_steps and internal_batch_size must be >= 1, got "
                f"{n_steps} and {internal_batch_size}."
            )
        self.roles = roles
        self.baseline_id = pad_id if baseline == "pad" else roles.mask_id
        self.n_steps, self.internal_batch_size = n_steps, internal_batch_size
        self._lig = captum.LayerIntegratedGradients(
            self._forward, embeddings_layer(model)
        )

    def _forward(self, input_ids, attention_mask, token_type_ids=None):
        """Captum's ``forward_func``: the logits, inside its gradient pass.

        Without gradients Captum only reads the embeddings layer's output (the
        input's and the baseline's, through its hook on that layer), so only
        that layer runs, called as the model calls it (``input_ids``, and the
        segment ids where there are any); the logits come from :meth:`_pass`.
        """
        if not torch.is_grad_enabled():
            layer = embeddings_layer(self.model)
            segments = (
                {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            )
            if set(segments) <= set(inspect.signature(layer.forward).parameters):
                return layer(input_ids=input_ids, **segments)
        return self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
        ).logits

    def baseline_ids(self, inputs) -> torch.Tensor:
        """The baseline ``[batch, seq]``: real tokens -> [PAD] / [MASK], rest kept."""
        ids = inputs["input_ids"]
        return torch.where(
            self.roles.real(inputs), torch.full_like(ids, self.baseline_id), ids
        )

    def _pass(self, batch, target):
        with torch.no_grad():
            logits = self.model(**batch).logits
        attributions = self._lig.attribute(
            batch["input_ids"],
            baselines=self.baseline_ids(batch),
            target=target(logits),
            additional_forward_args=(
                batch["attention_mask"],
                batch.get("token_type_ids"),
            ),
            n_steps=self.n_steps,
            internal_batch_size=self.internal_batch_size,
        )
        return attributions.sum(-1), logits
