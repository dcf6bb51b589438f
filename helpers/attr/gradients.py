"""Gradient-based attributions at the embeddings: gradient x input and IG.

Both attribute to the output ``E`` of ``model.base_model.embeddings`` (word
+ position + segment embeddings after LayerNorm) and sum over hidden units,
which gives one **signed** score per token. Signed maps are ranked by their
signed value, not by ``|.|``: removing tokens that speak *against* the class
would raise its probability, which is not what "most important for this
decision" means in ERASER's comprehensiveness.
"""

from __future__ import annotations

import torch
from torch import nn

from ..inputs import resolve_target
from ..tokens import TokenRoles
from .base import Attribution

__all__ = ["GradientXInput", "IntegratedGradients", "embeddings_layer"]


def embeddings_layer(model: nn.Module) -> nn.Module:
    """``model.base_model.embeddings`` (BERT & co.), with a clear error otherwise."""
    base = getattr(model, "base_model", model)
    layer = getattr(base, "embeddings", None)
    if not isinstance(layer, nn.Module):
        raise ValueError(
            f"{type(model).__name__} has no base_model.embeddings module: "
            "gradient x input and integrated gradients attribute to that layer's "
            "output; pass a BERT-like model."
        )
    return layer


class GradientXInput(Attribution):
    """Gradient x input on the embeddings layer's output, summed over hidden units.

    ``score[b, t] = sum_h d logit[b, target] / d E[b, t, h] * E[b, t, h]``:
    one forward and one backward pass per batch. Signed; 0 at padding.
    """

    name = "grad x input"

    def __init__(self, model: nn.Module):
        super().__init__(model)
        self.layer = embeddings_layer(model)

    def _attribute(self, batch, target) -> torch.Tensor:
        captured = {}

        def hook(module, args, output):
            leaf = output.detach().requires_grad_(True)
            captured["e"] = leaf
            return leaf

        handle = self.layer.register_forward_hook(hook)
        try:
            with torch.enable_grad():
                logits = self.model(**batch).logits
                self.last_target = resolve_target(target, logits)
                score = logits.gather(1, self.last_target[:, None]).sum()
                (grad,) = torch.autograd.grad(score, captured["e"])
        finally:
            handle.remove()
        return (grad * captured["e"]).sum(-1)


class IntegratedGradients(Attribution):
    """Integrated gradients (Sundararajan et al., 2017) via Captum.

    Captum's ``LayerIntegratedGradients`` on ``model.base_model.embeddings``,
    summed over hidden units: one signed score per token. The **baseline**
    input keeps [CLS], [SEP] and padding and replaces every real token by
    ``[PAD]`` (``baseline="pad"``, the default) or ``[MASK]``
    (``baseline="mask"``). ``n_steps`` points of the Gauss-Legendre rule;
    ``internal_batch_size`` bounds how many interpolated copies go through
    the model at once (memory). By completeness each review's scores sum to
    ``logit(x) - logit(baseline)`` up to the integration error, kept in
    ``last_delta`` ``[batch]`` after each call. Cost: one forward pass for
    the target, then ``n_steps`` forward and backward passes per review.
    """

    name = "IG"

    def __init__(
        self,
        model: nn.Module,
        roles: TokenRoles,
        pad_id: int,
        *,
        n_steps: int = 50,
        baseline: str = "pad",
        internal_batch_size: int = 16,
    ):
        from captum.attr import LayerIntegratedGradients

        super().__init__(model)
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
        self._lig = LayerIntegratedGradients(self._forward, embeddings_layer(model))
        self.last_delta: torch.Tensor | None = None

    def _forward(self, input_ids, attention_mask, token_type_ids=None):
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

    def _attribute(self, batch, target) -> torch.Tensor:
        with torch.no_grad():
            self.last_target = resolve_target(target, self._forward(**batch))
        attributions, delta = self._lig.attribute(
            batch["input_ids"],
            baselines=self.baseline_ids(batch),
            target=self.last_target,
            additional_forward_args=(
                batch["attention_mask"],
                batch.get("token_type_ids"),
            ),
            n_steps=self.n_steps,
            internal_batch_size=self.internal_batch_size,
            return_convergence_delta=True,
        )
        self.last_delta = delta.detach().cpu()
        return attributions.sum(-1)
