"""helpers.attr: the explainer contract, the registry and each method."""

from __future__ import annotations

import pytest
import torch
from tiny import TEXTS, encode, tiny_bert, tiny_tokenizer
from toys import ROLES, VOCAB, LinearTokenModel, make_batch, trigger_model

from helpers import attr
from helpers.attr.gradcam import GradCam, normalise_layers
from helpers.tokens import TokenRoles


@pytest.fixture(scope="module")
def tiny():
    return tiny_tokenizer(), tiny_bert(perturb=0.05)


@pytest.fixture(scope="module")
def batch(tiny):
    return encode(tiny[0], TEXTS)


def registry(model, tokenizer, **kw):
    return attr.explainers(
        model, tokenizer, ig_steps=4, internal_batch_size=8, random_draws=2, **kw
    )


# --------------------------------------------------------------------------- contract


def test_every_registered_method_keeps_the_contract(tiny, batch):
    tokenizer, model = tiny
    methods = registry(model, tokenizer)
    assert list(methods) == [
        "[CLS] attention",
        "rollout",
        "Grad-CAM L0",
        "Grad-CAM L1",
        "Grad-CAM mean (normalised)",
        "grad x input",
        "IG",
        "grad-weighted rollout",
        "CP-LRP",
        "AttnLRP",
        "random",
    ]
    pad = batch["attention_mask"] == 0
    assert pad.any()
    for name, method in methods.items():
        assert isinstance(method, attr.Attribution), name
        assert method.name == name
        scores = method.attribute(batch, target=None).scores
        assert scores.shape == batch["input_ids"].shape, name
        assert scores.dtype == torch.float32 and scores.device.type == "cpu", name
        assert (scores[pad] == 0).all(), name
        assert torch.isfinite(scores).all(), name
        assert (scores[~pad] != 0).any(), f"{name} gave an all-zero map"


def test_registry_options_leave_out_layers_and_transformer_methods(tiny):
    tokenizer, model = tiny
    names = list(registry(model, tokenizer, gradcam_layers=False))
    assert not any(n.startswith("Grad-CAM L") for n in names)
    assert "Grad-CAM mean (normalised)" in names
    names = list(registry(model, tokenizer, transformer_methods=False))
    assert "CP-LRP" not in names and "grad-weighted rollout" not in names
    assert len(names) == 8 and names[-1] == "random"


def test_a_class_the_model_lacks_is_refused_by_every_class_aware_method(tiny, batch):
    tokenizer, model = tiny
    for name, method in registry(model, tokenizer).items():
        if name == "random":  # random scores never look at the class
            continue
        with pytest.raises(ValueError, match="outside"):
            method.attribute(batch, target=2)


def test_every_explainer_runs_in_eval_mode_and_restores_train_mode(tiny, batch):
    tokenizer, _ = tiny
    model = tiny_bert(dropout=0.5, perturb=0.05)
    expected = attr.compute_maps(registry(model, tokenizer), batch, None)
    model.train()
    for _ in range(2):  # fresh explainers: no cached Grad-CAM pass
        got = attr.compute_maps(registry(model, tokenizer), batch, None)
        assert model.training, "an explainer left the model in eval mode"
        for name in expected:
            torch.testing.assert_close(got[name], expected[name], msg=name)


def test_methods_that_read_no_attention_run_on_the_fused_kernel(
    tiny, batch, monkeypatch
):
    """Gradients, IG, Grad-CAM and random scores run on sdpa (faster), to the
    same scores as on eager; the attention methods keep eager; eager after."""
    tokenizer, model = tiny
    fused = {"grad x input", "IG", "Grad-CAM L0", attr.GRADCAM_MEAN, "random"}
    kernels = []
    hook = model.register_forward_hook(
        lambda *_: kernels.append(model.config._attn_implementation)
    )
    seen = {}
    try:
        for name, method in registry(model, tokenizer).items():
            kernels.clear()
            method.attribute(batch)
            seen[name] = set(kernels)
            assert model.config._attn_implementation == "eager", name
    finally:
        hook.remove()
    for name in fused:
        assert seen[name] <= {"sdpa"}, (name, seen[name])
    for name in ("[CLS] attention", "rollout", "grad-weighted rollout"):
        assert seen[name] == {"eager"}, (name, seen[name])
    for cls in (attr.GradientXInput, attr.IntegratedGradients, GradCam):
        monkeypatch.setattr(cls, "attention_weights", True)  # as before: eager
    eager = attr.compute_maps(registry(model, tokenizer), batch, None)
    monkeypatch.undo()
    sdpa = attr.compute_maps(registry(model, tokenizer), batch, None)
    for name in fused:
        torch.testing.assert_close(sdpa[name], eager[name], atol=1e-5, rtol=1e-4)


def test_compute_maps_names_the_method_that_breaks_the_contract(tiny, batch):
    class Wrong(attr.Attribution):
        name = "wrong"

        def __init__(self, value):
            super().__init__(tiny[1])
            self.value = value

        def _pass(self, batch, target):
            return self.value[: len(batch["input_ids"])], self.model(**batch).logits

    shape = batch["input_ids"].shape
    with pytest.raises(RuntimeError, match="Wrong produced shape"):
        attr.compute_maps({"wrong": Wrong(torch.zeros(shape[0]))}, batch, None)
    with pytest.raises(ValueError, match="'wrong' returned shape"):
        layered = torch.ones(shape[0], 2, shape[1])
        attr.compute_maps({"wrong": Wrong(layered)}, batch, None)
    with pytest.raises(ValueError, match="'wrong' returned NaN"):
        attr.compute_maps({"wrong": Wrong(torch.full(shape, float("nan")))}, batch, 0)
    maps = attr.compute_maps(
        {"wrong": Wrong(torch.full(shape, float("nan")))}, batch, 0, check_finite=False
    )
    assert torch.isnan(maps["wrong"]).all()


# --------------------------------------------------------------------------- Grad-CAM


def test_normalise_layers_by_hand():
    cam = torch.tensor([[[1.0, 3.0, 0.0, 9.0], [100.0, 100.0, 200.0, 5.0]]])
    real = torch.tensor([[True, True, True, False]])
    got = normalise_layers(cam, real)
    expected = torch.tensor([[[0.25, 0.75, 0.0, 0.0], [0.25, 0.25, 0.5, 0.0]]])
    torch.testing.assert_close(got, expected)
    zero = normalise_layers(torch.zeros(1, 2, 4), real)  # ReLU removed everything
    assert torch.equal(zero, torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="layers"):
        normalise_layers(cam[0], real)


def test_gradcam_mean_is_the_mean_of_per_review_normalised_layers(tiny, batch):
    tokenizer, model = tiny
    roles = TokenRoles.from_tokenizer(tokenizer)
    cam = GradCam(model).attribute(batch).scores  # [batch, layers, seq]
    real = roles.real(batch)
    expected = torch.zeros(real.shape)
    for b in range(real.shape[0]):
        for layer in range(cam.shape[1]):
            total = cam[b, layer][real[b]].sum()
            if total > 0:
                expected[b][real[b]] += cam[b, layer][real[b]] / total / cam.shape[1]
    shared = attr.GradCamLayers(model)
    mean = shared.mean(roles)
    assert mean.name == "Grad-CAM mean (normalised)"
    torch.testing.assert_close(mean.attribute(batch).scores, expected)
    raw = shared.mean(normalise=False)
    assert raw.name == "Grad-CAM mean (raw)"
    torch.testing.assert_close(raw.attribute(batch).scores, cam.mean(dim=1))


def test_gradcam_entries_share_one_pass_per_batch(tiny, batch):
    tokenizer, model = tiny
    calls = []
    handle = model.register_forward_hook(lambda *args: calls.append(1))
    try:
        shared = attr.GradCamLayers(model)
        methods = [*shared.explainers(), shared.mean()]
        for method in methods:
            method.attribute(batch)
        assert len(calls) == 1
        methods[0].attribute(batch, target=1)  # another target: a new pass
        assert len(calls) == 2
        methods[0].attribute(encode(tokenizer, TEXTS[:2]), target=1)  # another batch
        assert len(calls) == 3
    finally:
        handle.remove()
    cam = GradCam(model).attribute(batch).scores
    torch.testing.assert_close(methods[1].attribute(batch).scores, cam[:, 1])
    with pytest.raises(ValueError, match="index"):
        shared.layer(2)


# --------------------------------------------------------------------------- gradients


def test_gradient_x_input_is_complete_for_a_linear_model():
    model = LinearTokenModel(torch.linspace(-1, 1, VOCAB), bias=0.3)
    batch = make_batch([[10, 11, 12, 30], [5, 39]])
    scores = attr.GradientXInput(model).attribute(batch, target=1).scores
    logit = model(**batch).logits[:, 1]
    torch.testing.assert_close(scores.sum(1), logit - 0.3)  # f(x) - f(0 embeddings)
    assert (scores[batch["attention_mask"] == 0] == 0).all()


def test_gradient_x_input_puts_the_decisive_token_first():
    batch = make_batch([[10, 11, 12, 7, 13], [7, 20, 21]])
    scores = attr.GradientXInput(trigger_model()).attribute(batch, target=1).scores
    real = ROLES.real(batch)
    best = torch.where(real, scores, torch.full_like(scores, -1e9)).argmax(1)
    assert batch["input_ids"][torch.arange(2), best].tolist() == [7, 7]


def test_integrated_gradients_is_complete(tiny):
    tokenizer, model = tiny
    batch = encode(tokenizer, TEXTS[:2])
    roles = TokenRoles.from_tokenizer(tokenizer)
    ig = attr.IntegratedGradients(
        model, roles, tokenizer.pad_token_id, n_steps=300, internal_batch_size=64
    )
    record = ig.attribute(batch, target=1)
    scores = record.scores
    with torch.no_grad():
        full = model(**batch).logits[:, 1]
        base = model(**{**batch, "input_ids": ig.baseline_ids(batch)}).logits[:, 1]
    tolerance = 2e-3 * float((full - base).abs().max()) + 1e-4
    torch.testing.assert_close(scores.sum(1), full - base, atol=tolerance, rtol=0)
    assert (ig.baseline_ids(batch)[:, 0] == tokenizer.cls_token_id).all()
    assert (scores[batch["attention_mask"] == 0] == 0).all()
    assert record.target.tolist() == [1, 1]
    with pytest.raises(ValueError, match="baseline"):
        attr.IntegratedGradients(model, roles, 0, baseline="zeros")


def test_integrated_gradients_equals_captum_on_the_whole_model(tiny):
    """The embeddings of input and baseline are read without running the model
    (two passes fewer per chunk); the scores are Captum's own on full passes."""
    from captum.attr import LayerIntegratedGradients

    from helpers.metrics.cost import PassCounter
    from helpers.models import eval_mode

    tokenizer, model = tiny
    batch = encode(tokenizer, TEXTS)
    roles = TokenRoles.from_tokenizer(tokenizer)
    ig = attr.IntegratedGradients(
        model, roles, tokenizer.pad_token_id, n_steps=7, internal_batch_size=5
    )
    with PassCounter(model) as counter:
        record = ig.attribute(batch, target=1)
    n = batch["input_ids"].shape[0]
    assert counter.forward_rows == n * (7 + 1)  # the steps and the prediction

    def whole_model(input_ids, attention_mask, token_type_ids):
        return model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
        ).logits

    reference = LayerIntegratedGradients(whole_model, model.base_model.embeddings)
    with eval_mode(model):
        expected = reference.attribute(
            batch["input_ids"],
            baselines=ig.baseline_ids(batch),
            target=torch.ones(n, dtype=torch.long),
            additional_forward_args=(batch["attention_mask"], batch["token_type_ids"]),
            n_steps=7,
            internal_batch_size=5,
        )
    expected = expected.sum(-1) * batch["attention_mask"]
    torch.testing.assert_close(record.scores, expected.detach(), atol=1e-6, rtol=1e-5)


# --------------------------------------------------------------------------- random


def test_random_scores_depend_on_seed_draw_and_review_not_on_the_batch():
    one = make_batch([[10, 11, 12]])
    both = make_batch([[20, 21, 22, 23, 24, 25], [10, 11, 12]])  # wider padding
    model = trigger_model()

    def scores(seed, inputs, draw=0):
        return attr.RandomScores(model, seed, draws=3).attribute(inputs, draw=draw)

    alone, inside = scores(5, one).scores[0, :5], scores(5, both).scores[1, :5]
    torch.testing.assert_close(alone, inside)
    assert (scores(5, both).scores[1, 5:] == 0).all()
    assert not torch.equal(scores(5, one, draw=1).scores, scores(5, one).scores)
    assert not torch.equal(scores(6, one).scores, scores(5, one).scores)
    assert torch.equal(scores(5, one).scores, scores(5, one).scores)
    record = scores(5, both)
    assert torch.equal(record.target, model(**both).logits.argmax(-1))
    with pytest.raises(ValueError, match="draws"):
        attr.RandomScores(model, draws=0)
