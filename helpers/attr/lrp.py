"""Conservative propagation (CP-LRP) for BERT classifiers (chapter 6).

Ali et al., *XAI for Transformers: Better Explanations through Conservative
Propagation*, ICML 2022, show that plain gradient x input is not conservative
on a transformer: the relevance that reaches the tokens does not add up to the
logit, because two parts of the network pass relevance on badly. Their fix is
to treat, in the backward pass only, the attention probabilities ``P`` (the
softmax output) and the LayerNorm scaling ``1 / std(x)`` as constants. The
network then becomes *locally linear* in its hidden states: ``P V`` is linear
in the values ``V``, ``(x - mean(x)) / std`` is linear in ``x``. Gradient x
input of a linear function is exactly conservative, so the relevances of the
tokens sum to the logit, minus what the biases contribute.

How it is done here, without a copy of transformers' modelling code:

* the attention: a function registered under the name ``"cp_lrp"`` in
  transformers' ``AttentionInterface`` (and its mask interface) that computes
  eager attention with ``P`` detached; the model is switched to it with
  ``set_attn_implementation`` for the pass and switched back afterwards;
* every ``nn.LayerNorm`` gets, for the pass, a forward whose standard
  deviation is detached (the mean stays in the graph: centring is linear);
* the element-wise activations (GELU in the feed-forward blocks, the pooler's
  ``tanh``) get the LRP *identity rule* (``identity_activations=True``): the
  backward pass uses ``f(x) / x`` instead of ``f'(x)``, so the relevance of an
  activation's output passes to its input unchanged. Ali et al. leave GELU to
  the plain gradient; without this rule neither GELU nor ``tanh`` is linear
  and conservation only holds approximately.

``lrp_rules(model, CP_ATTENTION)`` applies all three and restores the model
exactly (attention implementation, ``forward`` of every patched module) when
the block ends, even on an error.

**Which input.** The relevance of token ``t`` is ``sum_h x[t, h] * g[t, h]``
with ``x`` the output of ``model.base_model.embeddings`` (word + position +
token type embeddings, after the embedding LayerNorm: the hidden state the
first encoder layer receives) and ``g`` the gradient of the target logit with
respect to it under the CP rules. Taking only the word embeddings would lose
the share of the position and type embeddings, and conservation with it.

**Conservation, stated precisely.** Under the CP rules the target logit is a
linear function of ``x`` and of the biases downstream of it, so::

    logit = sum_t R[t] + sum over biases b of  b . d logit / d b

where the biases are: the bias of every ``nn.Linear`` in the encoder, pooler
and classifier (value, attention output, intermediate and output dense
layers, pooler dense, classifier; the query and key biases only move ``P``,
which is constant, so they contribute 0) and the ``beta`` of every encoder
LayerNorm. With all of them 0 the token relevances sum to the logit exactly
(up to float rounding). The embedding LayerNorm's ``beta`` is part of ``x``
and so of the token relevances.

**AttnLRP** (Achtibat et al., *AttnLRP: Attention-Aware Layer-Wise Relevance
Propagation for Transformers*, ICML 2024) keeps the LayerNorm and activation
rules but lets relevance flow through the attention probabilities too: the
softmax gets its own rule (in gradient x input form, its plain gradient) and
the two products ``Q K^T`` and ``P V`` the *uniform* rule, each factor taking
half of the product's relevance (the product's gradient is halved). It is the
kernel ``"attn_lrp"`` and the class :class:`AttnLRP`. The maintained package
``lxt`` 2.1 does this for BERT by replacing transformers' whole BERT module
with a copy written for transformers 4 (it imports modules transformers 5 no
longer has) and pulls in bitsandbytes, open_clip_torch and zennit, so the
rules are written here on the same machinery as CP-LRP instead.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator

import torch
from torch import nn

from ..inputs import check_inputs, to_device
from ..models import embeddings_layer, eval_mode, model_device
from .base import Attribution, attention_implementation
from .gradients import leaf_output
from .support import check_lrp_support

#: The names under which the rule kernels are registered in transformers.
CP_ATTENTION = "cp_lrp"
ATTNLRP_ATTENTION = "attn_lrp"


# --------------------------------------------------------------------------- attention


def _half_gradient(x: torch.Tensor) -> torch.Tensor:
    """``x`` in the forward pass; half of the gradient in the backward pass."""
    half = 0.5 * x
    return half + half.detach()


def _rule_attention(
    module, query, key, value, attention_mask, scaling, dropout, uniform: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention with CP's (``uniform=False``) or AttnLRP's backward rules."""
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3))
    if uniform:
        scores = _half_gradient(scores)
    scores = scores * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    probs = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = nn.functional.dropout(probs, p=dropout, training=module.training)
    if uniform:
        output = _half_gradient(torch.matmul(probs, value))
    else:
        output = torch.matmul(probs.detach(), value)
    return output.transpose(1, 2).contiguous(), probs


def cp_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention whose probabilities are constants in the backward pass (CP).

    ``query``/``key``/``value``: ``[batch, heads, seq, head_dim]``;
    ``attention_mask``: additive, broadcastable to ``[batch, heads, seq, seq]``
    (or None). Returns ``(output [batch, seq, heads, head_dim],
    probabilities [batch, heads, seq, seq])``, the same values as transformers'
    eager kernel; the output's gradient reaches ``value`` only.
    """
    return _rule_attention(
        module, query, key, value, attention_mask, scaling, dropout, uniform=False
    )


def attnlrp_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention with AttnLRP's rules (Achtibat et al., 2024) in the backward.

    Shapes as :func:`cp_attention_forward`, same forward values. Backward:
    the uniform rule on the two products ``Q K^T`` and ``P V`` (each factor
    gets half of the product's relevance: the product's gradient is halved),
    and the softmax keeps its gradient, which in gradient x input form is
    AttnLRP's softmax rule ``R_in = x (R_out - P sum R_out)``.
    """
    return _rule_attention(
        module, query, key, value, attention_mask, scaling, dropout, uniform=True
    )


def _register_rule_attention() -> None:
    """Make ``"cp_lrp"`` and ``"attn_lrp"`` valid attention implementations."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    for name, kernel in (
        (CP_ATTENTION, cp_attention_forward),
        (ATTNLRP_ATTENTION, attnlrp_attention_forward),
    ):
        AttentionInterface.register(name, kernel)
        AttentionMaskInterface.register(name, eager_mask)


_register_rule_attention()


# --------------------------------------------------------------------------- patches


def _std_detached_layer_norm(self: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm whose division by the standard deviation is constant for autograd."""
    dims = tuple(range(-len(self.normalized_shape), 0))
    mean = x.mean(dim=dims, keepdim=True)
    var = (x - mean).pow(2).mean(dim=dims, keepdim=True)
    y = (x - mean) / (var + self.eps).sqrt().detach()
    if self.weight is not None:
        y = y * self.weight
    if self.bias is not None:
        y = y + self.bias
    return y


def _identity_rule(forward: Callable) -> Callable:
    """An element-wise activation whose backward pass uses ``f(x) / x`` (identity rule).

    The forward value is ``f(x)`` exactly; the gradient is ``f(x) / x`` (0
    where ``x == 0``), so gradient x input gives the output's relevance to the
    input unchanged.
    """

    def patched(x: torch.Tensor) -> torch.Tensor:
        out = forward(x)
        ratio = torch.where(x != 0, out / torch.where(x != 0, x, 1), 0)
        return out.detach() + (x - x.detach()) * ratio.detach()

    return patched


def _is_activation(module: nn.Module) -> bool:
    """True for element-wise activation modules (torch's and transformers')."""
    torch_types = (nn.GELU, nn.Tanh, nn.ReLU, nn.SiLU, nn.Mish, nn.Sigmoid)
    return isinstance(module, torch_types) or (
        type(module).__module__ == "transformers.activations"
    )


#: Classification heads that call ``torch.tanh`` as a function (no module to
#: patch): [CLS] -> dense -> tanh -> out_proj, in RoBERTa's family.
_TANH_HEADS = frozenset({"RobertaClassificationHead", "XLMRobertaClassificationHead"})


def _tanh_head_forward(head: nn.Module) -> Callable:
    """The head's forward with the identity rule on its functional ``tanh``."""
    tanh = _identity_rule(torch.tanh)

    def forward(features: torch.Tensor, **kwargs) -> torch.Tensor:
        x = head.dropout(features[:, 0, :])
        x = head.dropout(tanh(head.dense(x)))
        return head.out_proj(x)

    return forward


@contextlib.contextmanager
def _patched_forwards(patches: list[tuple[nn.Module, Callable]]) -> Iterator[None]:
    """Give each module its patched forward for the block; restore every one after."""
    saved = []
    try:
        for module, forward in patches:
            saved.append((module, module.__dict__.get("forward")))
            module.forward = forward
        yield
    finally:
        for module, own in reversed(saved):
            if own is None:
                del module.forward
            else:
                module.forward = own


@contextlib.contextmanager
def lrp_rules(
    model: nn.Module, attention: str = CP_ATTENTION, identity_activations: bool = True
) -> Iterator[nn.Module]:
    """Run the block with LRP rules in ``model``; restore it exactly afterwards.

    Inside: every LayerNorm's standard deviation is a constant for autograd,
    (``identity_activations``) element-wise activations use the identity
    rule (also the functional ``tanh`` of RoBERTa-family classification
    heads), and attention runs the kernel ``attention``: ``"cp_lrp"``
    (probabilities constant) or ``"attn_lrp"`` (AttnLRP's rules). Raises
    :class:`~helpers.attr.support.NotSupported` for an architecture the rules
    do not cover (:func:`~helpers.attr.support.check_lrp_support`). Forward
    values are unchanged (up to float rounding). Afterwards the attention
    implementation and every module's ``forward`` are what they were, even if
    the block raised.
    """
    if attention not in (CP_ATTENTION, ATTNLRP_ATTENTION):
        raise ValueError(
            f"attention must be {CP_ATTENTION!r} or {ATTNLRP_ATTENTION!r}, "
            f"got {attention!r}."
        )
    check_lrp_support(model, "CP-LRP" if attention == CP_ATTENTION else "AttnLRP")
    patches: list[tuple[nn.Module, Callable]] = []
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            patches.append((module, types.MethodType(_std_detached_layer_norm, module)))
        elif identity_activations and _is_activation(module):
            patches.append((module, _identity_rule(module.forward)))
        elif identity_activations and type(module).__name__ in _TANH_HEADS:
            patches.append((module, _tanh_head_forward(module)))
    with attention_implementation(model, attention), _patched_forwards(patches):
        yield model


# --------------------------------------------------------------------------- explainer


class ConservativeLRP(Attribution):
    """Explainer: CP-LRP, gradient x input at the embeddings under the CP rules.

    ``ConservativeLRP(model).attribute(inputs, target=None)`` returns
    ``[batch, seq]``: ``R[b, t] = sum_h x[b, t, h] * g[b, t, h]`` with ``x``
    the output of ``model.base_model.embeddings`` and ``g`` the gradient of
    the target logit under ``lrp_rules(model, CP_ATTENTION)`` (see the module
    docstring for what the relevances sum to). Signed: positive = evidence for
    the target class. 0 at padding. One forward and one backward pass per
    chunk of at most ``max_tokens`` tokens (reviews x padded length; None =
    the whole batch at once). Runs in eval mode and restores the model's mode,
    attention implementation and modules. Works with frozen parameters (the
    gradient is taken with respect to the embeddings' output, made a leaf).

    ``identity_activations=False`` keeps the plain gradient through GELU and
    ``tanh`` (Ali et al.'s original choice; then conservation is approximate).
    """

    name = "CP-LRP"
    transformer = True
    #: The attention kernel of the rules (see :func:`lrp_rules`).
    attention_rule = CP_ATTENTION

    def __init__(
        self,
        model: nn.Module,
        max_tokens: int | None = 4096,
        identity_activations: bool = True,
    ):
        super().__init__(model, max_tokens)
        self.embeddings = embeddings_layer(model)
        self.identity_activations = bool(identity_activations)

    def _pass(self, batch, target):
        with (
            torch.enable_grad(),
            lrp_rules(self.model, self.attention_rule, self.identity_activations),
            leaf_output(self.embeddings) as leaves,
        ):
            logits = self.model(**batch).logits
            (grad,) = torch.autograd.grad(target.score(logits), leaves[:1])
        return (grad * leaves[0].detach()).sum(dim=-1), logits


class AttnLRP(ConservativeLRP):
    """Explainer: AttnLRP (Achtibat et al., ICML 2024), gradient x input form.

    The same as :class:`ConservativeLRP` (LayerNorm std constant, identity
    rule on activations, relevance at the embeddings' output) except in the
    attention: relevance also flows through the softmax into the queries and
    keys, by AttnLRP's softmax rule, and the products ``Q K^T`` and ``P V``
    split it evenly between their two factors (uniform rule). See
    :func:`attnlrp_attention_forward`. Not exactly conservative: the softmax
    rule keeps part of the relevance in the softmax's bias-like term.
    """

    name = "AttnLRP"
    attention_rule = ATTNLRP_ATTENTION


def _bias_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every bias the conservation identity counts (see the module docstring).

    Linear biases everywhere and encoder LayerNorm betas; the embedding
    LayerNorm's beta is part of the input ``x`` and is left out.
    """
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    skip = set() if embeddings is None else {id(m) for m in embeddings.modules()}
    biases = []
    for module in model.modules():
        if id(module) in skip:
            continue
        if isinstance(module, (nn.Linear, nn.LayerNorm)) and module.bias is not None:
            biases.append(module.bias)
    return biases


def conservation(model: nn.Module, inputs, target=None) -> dict[str, torch.Tensor]:
    """Check CP-LRP's conservation on a batch: where each review's logit goes.

    Returns ``{"logit", "tokens", "biases", "rest"}``, each ``[batch]``:
    the target logit, the sum of the token relevances
    (:class:`ConservativeLRP`), the share of the biases
    ``sum_b b . d logit / d b`` under the same rules, and what neither
    explains (``logit - tokens - biases``: float rounding, a few 1e-6).
    The biases' gradient is taken even where the model's parameters are
    frozen; their ``requires_grad`` flags are restored afterwards.
    """
    record = ConservativeLRP(model, max_tokens=None).attribute(inputs, target)
    tokens, target_t = record.scores.double().sum(dim=1), record.target
    biases = _bias_parameters(model)
    flags = [b.requires_grad for b in biases]
    batch = to_device(check_inputs(inputs), model_device(model))
    try:
        for b in biases:
            b.requires_grad_(True)
        with eval_mode(model), torch.enable_grad(), lrp_rules(model, CP_ATTENTION):
            logits = model(**batch).logits
            rows = torch.arange(logits.shape[0], device=logits.device)
            picked = logits[rows, target_t.to(logits.device)]
            share = torch.zeros_like(picked, dtype=torch.float64)
            for i in range(picked.shape[0]):  # one backward per review: exact shares
                grads = torch.autograd.grad(
                    picked[i], biases, retain_graph=True, allow_unused=True
                )  # query and key biases only move P, a constant here: unused
                share[i] = sum(
                    (b * g).sum().double()
                    for b, g in zip(biases, grads, strict=True)
                    if g is not None
                )
    finally:
        for b, flag in zip(biases, flags, strict=True):
            b.requires_grad_(flag)
    logit = picked.detach().double().cpu()
    share = share.detach().cpu()
    return {
        "logit": logit,
        "tokens": tokens,
        "biases": share,
        "rest": logit - tokens - share,
    }
