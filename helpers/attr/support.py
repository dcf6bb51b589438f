"""Which architectures a method can explain, and a clear error where it cannot.

The book's methods are written against transformers' encoder classifiers. Most
of them only need what every such model has (input embeddings, encoder layers,
attention probabilities with the eager kernel, logits). The LRP rules
(:mod:`helpers.attr.lrp`) need more: the attention must run through
transformers' ``AttentionInterface`` (so that the rule kernel can replace it)
and every non-linearity must have a rule. Where that is not so, the map would
still come out, finite and plausible-looking, but it would not be LRP; so
:func:`check_lrp_support` raises :class:`NotSupported` instead, naming the
architecture and the reason. The architecture × method table of the API
reference is measured on tiny random models (``tests/architectures.py``).
"""

from __future__ import annotations

from torch import nn

#: Feed-forward blocks that multiply two branches (gated linear units), for
#: which no LRP product rule is implemented here.
GATED_FEED_FORWARD = frozenset({"ModernBertMLP"})


class NotSupported(ValueError):
    """A method that cannot explain this architecture (the message says why)."""


def architecture(model: nn.Module) -> str:
    """The model's architecture name (``config.model_type``, else its class)."""
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None) or type(model).__name__


def lrp_unsupported_reason(model: nn.Module) -> str | None:
    """Why the LRP rules cannot be applied to ``model``, or ``None`` when they can."""
    if not getattr(type(model), "_supports_attention_backend", False):
        return (
            "its attention does not run through transformers' AttentionInterface, "
            "so the LRP attention rule cannot replace it"
        )
    for module in model.modules():
        if type(module).__name__ in GATED_FEED_FORWARD:
            return (
                f"its feed-forward block ({type(module).__name__}) multiplies two "
                "branches (a gated linear unit), and no LRP rule for that product "
                "is implemented here"
            )
    return None


def check_lrp_support(model: nn.Module, method: str = "LRP") -> None:
    """Raise :class:`NotSupported` when ``method`` (an LRP variant) cannot run."""
    reason = lrp_unsupported_reason(model)
    if reason is not None:
        raise NotSupported(
            f"{method} is not supported for {architecture(model)}: {reason}. "
            "Use a gradient method (grad x input, IG) or Grad-CAM for this model."
        )
