"""Tests of the transformer-native attribution methods (chapter 6).

``helpers.attr.chefer.GradientWeightedRollout`` (Chefer et al., 2021) and
``helpers.attr.lrp.ConservativeLRP`` (Ali et al., 2022) on tiny BERT models:
the explainer contract, padding, targets, eval mode, restoring the model, the
agreement of the rollout with a hand-written loop, and CP-LRP's conservation.
"""

from __future__ import annotations

import pytest
import torch
from tiny import TEXTS, encode, tiny_bert, tiny_tokenizer
from torch import nn

from helpers.attr.chefer import GradientWeightedRollout, gradient_weighted_cls_row
from helpers.attr.lrp import (
    ATTNLRP_ATTENTION,
    CP_ATTENTION,
    AttnLRP,
    ConservativeLRP,
    attention_implementation,
    attnlrp_attention_forward,
    cp_attention_forward,
    lrp_rules,
)

METHODS = [GradientWeightedRollout, ConservativeLRP, AttnLRP]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def batch(tokenizer):
    return encode(tokenizer)


def close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-4) -> bool:
    """allclose with a tolerance relative to the largest value of ``b``."""
    return torch.allclose(a, b, rtol=rel, atol=rel * float(b.abs().max()) + 1e-12)


def zero_biases(model: nn.Module) -> nn.Module:
    """Set every Linear bias and every LayerNorm beta after the embeddings to 0."""
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear) or (
                isinstance(module, nn.LayerNorm) and "embeddings" not in name
            ):
                module.bias.zero_()
    return model


def grad_x_input(model, batch, target: int, cp: bool, **cp_options):
    """Gradient x input at the embeddings' output, with or without the CP rules.

    Returns ``(relevance [batch, seq], logits [batch, labels], leaf, bias grads)``
    where the bias gradients are those of the summed target logits with
    respect to every bias downstream of the embeddings.
    """
    leaves = []

    def hook(_module, _args, output):
        leaves.append(output.detach().requires_grad_(True))
        return leaves[-1]

    biases = [
        p
        for name, p in model.named_parameters()
        if name.endswith(".bias") and ".embeddings." not in name
    ]
    handle = model.base_model.embeddings.register_forward_hook(hook)
    try:
        with (
            lrp_rules(model, CP_ATTENTION, **cp_options)
            if cp
            else attention_implementation(model, "eager")
        ):
            logits = model(**batch).logits
            score = logits[:, target].sum()
            grads = torch.autograd.grad(score, [leaves[0], *biases], allow_unused=True)
    finally:
        handle.remove()
    relevance = (grads[0] * leaves[0]).sum(-1) * batch["attention_mask"]
    bias_grads = [
        torch.zeros_like(b) if g is None else g
        for b, g in zip(biases, grads[1:], strict=True)
    ]
    return relevance.detach(), logits.detach(), biases, bias_grads


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("method", METHODS)
def test_shape_dtype_and_zero_at_padding(method, batch):
    model = tiny_bert(perturb=0.05)
    out = method(model).attribute(batch).scores
    assert isinstance(method.name, str) and method.name
    assert out.shape == batch["input_ids"].shape
    assert out.dtype == torch.float32 and out.device.type == "cpu"
    pad = batch["attention_mask"] == 0
    assert pad.any()
    assert (out[pad] == 0).all()
    assert (out[~pad] != 0).any()


def test_names():
    assert GradientWeightedRollout.name == "grad-weighted rollout"
    assert ConservativeLRP.name == "CP-LRP"
    assert AttnLRP.name == "AttnLRP"


@pytest.mark.parametrize("method", METHODS)
def test_padding_does_not_change_a_review(method, tokenizer):
    model = tiny_bert(perturb=0.05)
    explainer = method(model)
    alone = explainer.attribute(encode(tokenizer, [TEXTS[2]]), target=1).scores
    padded = explainer.attribute(
        encode(tokenizer, [TEXTS[2], TEXTS[3]]), target=1
    ).scores
    n = alone.shape[1]
    assert padded.shape[1] > n
    assert close(padded[0, :n], alone[0])
    assert (padded[0, n:] == 0).all()


@pytest.mark.parametrize("method", METHODS)
def test_targets_int_tensor_none(method, batch):
    model = tiny_bert(perturb=0.05)
    explainer = method(model)
    by_class = [explainer.attribute(batch, target=c).scores for c in (0, 1)]
    assert not torch.allclose(by_class[0], by_class[1])
    mixed = torch.tensor([0, 1, 1, 0])
    record = explainer.attribute(batch, target=mixed)
    per_review = record.scores
    assert torch.equal(record.target, mixed)
    for i, c in enumerate(mixed.tolist()):
        assert close(per_review[i], by_class[c][i])
    predicted = model(**batch).logits.argmax(-1)
    record = explainer.attribute(batch)
    default = record.scores
    assert torch.equal(record.target, predicted)
    assert close(default, explainer.attribute(batch, target=predicted).scores)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [2, -1, torch.tensor([0, 1])])
def test_bad_target_raises(method, batch, bad):
    with pytest.raises(ValueError, match="target"):
        method(tiny_bert()).attribute(batch, target=bad)


@pytest.mark.parametrize("method", METHODS)
def test_bad_arguments_raise(method):
    with pytest.raises(ValueError, match="max_tokens"):
        method(tiny_bert(), max_tokens=0)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        method("bert")
    with pytest.raises(ValueError, match="BERT-like"):
        method(nn.Linear(2, 2))


def test_attention_implementation_needs_a_transformers_model():
    with (
        pytest.raises(ValueError, match="not a transformers model"),
        attention_implementation(nn.Linear(2, 2), "eager"),
    ):
        pass


@pytest.mark.parametrize("method", METHODS)
def test_eval_mode_and_restores_train_mode(method, batch):
    model = tiny_bert(perturb=0.05, dropout=0.3)
    expected = method(model).attribute(batch).scores
    model.train()
    explainer = method(model)
    first = explainer.attribute(batch).scores
    second = explainer.attribute(batch).scores
    assert model.training
    assert all(m.training for m in model.modules())
    assert torch.equal(first, second)
    assert close(first, expected, rel=1e-6)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("attn", ["eager", None])
def test_attention_implementation_restored(method, attn, batch):
    model = tiny_bert(perturb=0.05, attn=attn)
    before = model.config._attn_implementation
    method(model).attribute(batch)
    assert model.config._attn_implementation == before


@pytest.mark.parametrize("method", METHODS)
def test_frozen_parameters(method, batch):
    model = tiny_bert(perturb=0.05)
    expected = method(model).attribute(batch).scores
    for p in model.parameters():
        p.requires_grad_(False)
    out = method(model).attribute(batch).scores
    assert out.abs().sum() > 0
    assert close(out, expected, rel=1e-6)
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("method", METHODS)
def test_chunks_give_the_same_maps(method, batch):
    model = tiny_bert(perturb=0.05)
    whole = method(model, max_tokens=None).attribute(batch, target=1).scores
    seq = batch["input_ids"].shape[1]
    chunked = method(model, max_tokens=seq + 1).attribute(batch, target=1).scores
    assert close(chunked, whole)


# --------------------------------------------------------------------------- rollout


def hand_written_rollout(model, batch, target):
    """Chefer et al.'s rule written out: full matrices, retain_grad, R = I; R += Ā R."""
    model.set_attn_implementation("eager")
    embeds = model.get_input_embeddings()(batch["input_ids"]).detach()
    out = model(
        inputs_embeds=embeds.requires_grad_(True),
        attention_mask=batch["attention_mask"],
        output_attentions=True,
    )
    for a in out.attentions:
        a.retain_grad()
    out.logits[torch.arange(len(target)), target].sum().backward()
    n, seq = batch["input_ids"].shape
    real = batch["attention_mask"].float()
    maps = torch.zeros(n, seq)
    for b in range(n):
        relevance = torch.eye(seq)
        for a in out.attentions:
            heads = (a.grad[b] * a[b]).clamp(min=0)
            mixed = heads.mean(0) * real[b][:, None] * real[b][None, :]
            relevance = relevance + mixed @ relevance
        maps[b] = relevance[0] - torch.eye(seq)[0]
    return maps.detach() * real


def test_rollout_agrees_with_hand_written_loop(batch):
    model = tiny_bert(perturb=0.3, layers=3)
    target = torch.tensor([1, 0, 1, 1])
    ours = GradientWeightedRollout(model).attribute(batch, target=target).scores
    expected = hand_written_rollout(model, batch, target)
    assert close(ours, expected, rel=1e-5)
    assert (ours >= 0).all()
    assert ours[:, 1:].sum() > 0


def test_cls_row_on_hand_computed_matrices():
    # One layer, one head, two tokens: Ā = relu(G * A); row = e0 + e0 Ā; [CLS] -1.
    attn = torch.tensor([[[[0.5, 0.5], [0.25, 0.75]]]])
    grad = torch.tensor([[[[2.0, -1.0], [4.0, 1.0]]]])
    row = gradient_weighted_cls_row([attn], [grad], torch.ones(1, 2))
    assert torch.allclose(row, torch.tensor([[1.0, 0.0]]))
    # Two layers: e0 (I + Ā2)(I + Ā1), Ā1 = [[0, .5], [1, 0]], Ā2 = [[1, 0], [0, 0]].
    a1, g1 = (
        torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]]]),
        torch.tensor([[[[0, 1.0], [2, 0]]]]),
    )
    a2, g2 = (
        torch.tensor([[[[1.0, 0.0], [0.5, 0.5]]]]),
        torch.tensor([[[[1.0, 3], [-1, 0]]]]),
    )
    row = gradient_weighted_cls_row([a1, a2], [g1, g2], torch.ones(1, 2))
    # e0 (I + Ā2) = [2, 0]; [2, 0] (I + Ā1) = [2, 1]; minus 1 at [CLS].
    assert torch.allclose(row, torch.tensor([[1.0, 1.0]]))
    # Padding must not route relevance back to [CLS]: with Ā = all ones twice,
    # unmasked e0 (I + Ā)² = [5, 4]; with token 1 padding Ā = [[1, 0], [0, 0]]
    # and e0 (I + Ā)² = [4, 0], so [CLS] gets 3 and the padding 0.
    ones, twos = torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 2, 2), 2.0)
    unmasked = gradient_weighted_cls_row([ones, ones], [twos, twos], torch.ones(1, 2))
    assert torch.allclose(unmasked, torch.tensor([[4.0, 4.0]]))
    masked = gradient_weighted_cls_row(
        [ones, ones], [twos, twos], torch.tensor([[1, 0]])
    )
    assert torch.allclose(masked, torch.tensor([[3.0, 0.0]]))
    with pytest.raises(ValueError, match="one gradient per attention layer"):
        gradient_weighted_cls_row([a1, a2], [g1], torch.ones(1, 2))


# --------------------------------------------------------------------------- CP-LRP


def test_cp_lrp_conserves_the_logit_without_biases(batch):
    model = zero_biases(tiny_bert(perturb=0.5))
    explainer = ConservativeLRP(model)
    for target in (0, 1):
        relevance = explainer.attribute(batch, target=target).scores
        logits = model(**batch).logits[:, target].detach()
        assert logits.abs().min() > 0.05  # a non-trivial logit to conserve
        assert torch.allclose(relevance.sum(1), logits, rtol=1e-4, atol=1e-5)


def test_cp_lrp_conserves_the_logit_minus_the_bias_contributions(tokenizer):
    model = tiny_bert(perturb=0.5)
    for text in TEXTS:
        one = encode(tokenizer, [text])
        relevance, logits, biases, grads = grad_x_input(model, one, target=1, cp=True)
        from_biases = sum(
            float((b.detach() * g).sum()) for b, g in zip(biases, grads, strict=True)
        )
        total = float(relevance.sum()) + from_biases
        assert abs(from_biases) > 0.05  # the biases do matter here
        assert total == pytest.approx(float(logits[0, 1]), rel=1e-4, abs=1e-5)
        # The explainer gives the same relevances.
        ours = ConservativeLRP(model).attribute(one, target=1).scores
        assert close(ours, relevance, rel=1e-5)


def test_conservation_fails_without_the_cp_rules(batch):
    model = zero_biases(tiny_bert(perturb=0.5))
    logits = model(**batch).logits[:, 0].detach()
    plain, *_ = grad_x_input(model, batch, target=0, cp=False)
    gelu_grad, *_ = grad_x_input(
        model, batch, target=0, cp=True, identity_activations=False
    )
    for relevance in (plain, gelu_grad):
        assert (relevance.sum(1) - logits).abs().max() > 0.05


@pytest.mark.parametrize("attention", [CP_ATTENTION, ATTNLRP_ATTENTION])
def test_rules_keep_the_forward_values(attention, batch):
    model = tiny_bert(perturb=0.5)
    expected = model(**batch).logits
    with lrp_rules(model, attention):
        assert model.config._attn_implementation == attention
        inside = model(**batch).logits
    assert torch.allclose(inside, expected, rtol=1e-5, atol=1e-5)


def test_lrp_rules_rejects_an_unknown_attention():
    with (
        pytest.raises(ValueError, match="attention must be"),
        lrp_rules(tiny_bert(), "sdpa"),
    ):
        pass


@pytest.mark.parametrize("method", [ConservativeLRP, AttnLRP])
def test_model_restored_after_lrp(method, batch):
    model = tiny_bert(perturb=0.5, attn=None)
    before = model(**batch).logits.detach()
    implementation = model.config._attn_implementation
    method(model).attribute(batch)
    assert model.config._attn_implementation == implementation
    for module in model.modules():
        assert "forward" not in module.__dict__, type(module).__name__
    assert torch.equal(model(**batch).logits.detach(), before)


def test_model_restored_when_the_block_raises(batch):
    model = tiny_bert(perturb=0.5)
    own = lambda hidden: hidden  # noqa: E731 - a module with its own forward already
    model.bert.pooler.activation.forward = own
    with pytest.raises(RuntimeError, match="inside"), lrp_rules(model, CP_ATTENTION):
        assert "forward" in model.bert.encoder.layer[0].output.LayerNorm.__dict__
        raise RuntimeError("inside")
    assert model.config._attn_implementation == "eager"
    assert model.bert.pooler.activation.forward is own
    layer_norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert layer_norms and all("forward" not in m.__dict__ for m in layer_norms)


# --------------------------------------------------------------------------- kernels


def random_qkv(seed: int = 0):
    """Leaves q, k, v ``[2, 3, 5, 4]`` and an upstream gradient ``[2, 5, 3, 4]``."""
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (
        torch.randn(2, 3, 5, 4, generator=generator).requires_grad_(True)
        for _ in range(3)
    )
    return q, k, v, torch.randn(2, 5, 3, 4, generator=generator)


def kernel_relevances(kernel) -> dict[str, float]:
    """Summed gradient x input at each part of one attention kernel call.

    The output's relevance is ``out * G`` for a random upstream gradient ``G``.
    ``scores`` is ``x * dx`` over the scaled scores ``x``, with ``dx`` the
    softmax's backward of the gradient at the probabilities, written out here.
    """
    q, k, v, upstream = random_qkv()
    out, probs = kernel(nn.Module().eval(), q, k, v, None, scaling=0.5)
    dq, dk, dv, dp = torch.autograd.grad(
        (out * upstream).sum(), [q, k, v, probs], allow_unused=True
    )
    p = probs.detach()
    dp = torch.zeros_like(p) if dp is None else dp  # CP: probabilities are constant
    scores = (q @ k.transpose(2, 3) * 0.5).detach()
    dscores = p * (dp - (p * dp).sum(-1, keepdim=True))
    return {
        "out": float((out.detach() * upstream).sum()),
        "probs": float((p * dp).sum()),
        "value": float((v.detach() * dv).sum()),
        "query": 0.0 if dq is None else float((q.detach() * dq).sum()),
        "key": 0.0 if dk is None else float((k.detach() * dk).sum()),
        "scores": float((scores * dscores).sum()),
    }


@pytest.mark.parametrize("kernel", [cp_attention_forward, attnlrp_attention_forward])
def test_kernels_match_transformers_eager_forward(kernel):
    from transformers.models.bert.modeling_bert import eager_attention_forward

    q, k, v, _ = random_qkv(1)
    mask = torch.zeros(2, 1, 5, 5)
    mask[0, ..., 3:] = torch.finfo(torch.float32).min
    module = nn.Module().eval()
    expected, probs = eager_attention_forward(module, q, k, v, mask, scaling=0.5)
    ours, our_probs = kernel(module, q, k, v, mask, scaling=0.5)
    assert torch.allclose(ours, expected, atol=1e-6)
    assert torch.allclose(our_probs, probs, atol=1e-7)
    assert (our_probs[0, ..., 3:] == 0).all()


def test_cp_kernel_sends_all_relevance_to_the_values():
    r = kernel_relevances(cp_attention_forward)
    assert r["query"] == 0.0 and r["key"] == 0.0
    assert r["value"] == pytest.approx(r["out"], rel=1e-5)


def test_attnlrp_kernel_uniform_rule_on_both_products():
    r = kernel_relevances(attnlrp_attention_forward)
    assert abs(r["out"]) > 0.1
    # P V: each factor gets half of the product's relevance (conserved in total).
    assert r["probs"] == pytest.approx(r["out"] / 2, rel=1e-5)
    assert r["value"] == pytest.approx(r["out"] / 2, rel=1e-5)
    # Q K^T: queries and keys share the scores' relevance evenly.
    assert abs(r["scores"]) > 1e-3
    assert r["query"] == pytest.approx(r["scores"] / 2, rel=1e-4)
    assert r["key"] == pytest.approx(r["scores"] / 2, rel=1e-4)


def test_attnlrp_differs_from_cp_lrp_through_the_softmax(batch):
    model = tiny_bert(perturb=0.5)
    cp = ConservativeLRP(model).attribute(batch, target=0).scores
    attn = AttnLRP(model).attribute(batch, target=0).scores
    assert not close(attn, cp, rel=1e-2)


def test_conservation_splits_each_logit_into_tokens_and_biases():
    from helpers.attr.lrp import conservation

    model = tiny_bert(perturb=0.05)
    for p in model.parameters():
        p.requires_grad_(False)
    out = conservation(model, encode(tiny_tokenizer()))
    assert set(out) == {"logit", "tokens", "biases", "rest"}
    assert torch.allclose(out["tokens"] + out["biases"], out["logit"], atol=1e-5)
    assert out["rest"].abs().max() < 1e-5
    assert out["biases"].abs().min() > 1e-4  # the biases do take a share here
    assert not any(p.requires_grad for p in model.parameters())  # flags restored
