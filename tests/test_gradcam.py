"""Tests for helpers.gradcam on a tiny random BERT (seconds on a CPU)."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_bert, tiny_tokenizer, vocabulary
from torch import nn

from helpers.attr.explanation import TextExplanation
from helpers.attr.gradcam import GradCam, aggregate_layers, captum_layer_gradcam
from helpers.data import TruncationWarning, encode_texts
from helpers.gradcam import gradcam_for_texts, layer_statistics


def gradcam_record(tokens, cam) -> TextExplanation:
    """A Grad-CAM result of one review made by hand (class 1 predicted)."""
    return TextExplanation("t", tokens, {"Grad-CAM": cam}, 1, torch.tensor([0.0, 1.0]))


WORDS = [
    "the",
    "a",
    "movie",
    "film",
    "was",
    "is",
    "great",
    "good",
    "bad",
    "awful",
    "boring",
    "fun",
    "i",
    "it",
    "and",
    "not",
    "very",
    "plot",
    "acting",
    "story",
    "loved",
    "hated",
    "this",
    "but",
    "so",
    "really",
    "ending",
]
TEXTS = [
    "the movie was great",
    "i hated this boring film and the awful acting",
    "good",
    "it was not very fun but the ending was really good and i loved the story",
]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer(words=WORDS)


def tiny_model(layers: int = 3, labels: int = 2, seed: int = 0):
    """A random BERT classifier over this file's words (default attention kernel)."""
    return tiny_bert(
        layers=layers,
        labels=labels,
        seed=seed,
        attn=None,
        vocab_size=len(vocabulary(WORDS)),
    )


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def hook_counts(model):
    from helpers.models import get_encoder_layers

    return [
        len(layer._forward_hooks)
        + len(layer._backward_hooks)
        + len(layer._forward_pre_hooks)
        for layer in get_encoder_layers(model)
    ]


# ---------------------------------------------------------------- correctness


def test_manual_formula_matches_autograd_on_hidden_states(model, tokenizer):
    inputs = encode_texts(tokenizer, TEXTS[:1])
    cam = GradCam(model).attribute(inputs, target=1).scores[0]
    out = model(**inputs, output_hidden_states=True)
    layer_outputs = out.hidden_states[1:]  # hidden_states[0] is the embeddings
    grads = torch.autograd.grad(out.logits[0, 1], layer_outputs)
    for layer, (h, g) in enumerate(zip(layer_outputs, grads, strict=True)):
        h, g = h[0].detach(), g[0]
        expected = torch.zeros(h.shape[0])
        weights = g.mean(dim=0)
        for t in range(h.shape[0]):
            expected[t] = max(
                0.0, float(sum(weights[k] * h[t, k] for k in range(h.shape[1])))
            )
        torch.testing.assert_close(cam[layer], expected, atol=1e-5, rtol=1e-4)
    assert cam.shape == (3, inputs["input_ids"].shape[1])
    assert bool((cam > 0).any()), "a random model should give some positive Grad-CAM"


def test_matches_captum_layergradcam_unpadded(model, tokenizer):
    inputs = encode_texts(
        tokenizer, [TEXTS[1], "i really loved this film and the great plot"]
    )
    assert bool(inputs["attention_mask"].all()), (
        "the two texts must have the same length"
    )
    ours = GradCam(model).attribute(inputs, target=torch.tensor([0, 1])).scores
    reference = captum_layer_gradcam(model, inputs, target=torch.tensor([0, 1]))
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-4)


def test_matches_captum_on_padded_batch_after_rescaling(model, tokenizer):
    inputs = encode_texts(tokenizer, TEXTS)
    assert not bool(inputs["attention_mask"].all())
    ours = GradCam(model).attribute(inputs).scores
    torch.testing.assert_close(
        ours, captum_layer_gradcam(model, inputs), atol=1e-6, rtol=1e-4
    )


def test_batch_equals_one_by_one_and_padding_is_zero(model, tokenizer):
    inputs = encode_texts(tokenizer, TEXTS)
    explainer = GradCam(model)
    record = explainer.attribute(inputs)
    batched = record.scores
    for i, text in enumerate(TEXTS):
        one = explainer.attribute(encode_texts(tokenizer, [text]))
        single = one.scores[0]
        n = single.shape[1]
        torch.testing.assert_close(batched[i, :, :n], single, atol=1e-5, rtol=1e-4)
        assert torch.all(batched[i, :, n:] == 0)
        assert one.target.item() == record.target[i].item()


def test_max_tokens_splits_the_batch_without_changing_maps(model, tokenizer):
    inputs = encode_texts(tokenizer, TEXTS)
    whole = (
        GradCam(model, max_tokens=None)
        .attribute(inputs, target=torch.tensor([0, 1, 1, 0]))
        .scores
    )
    chunked = GradCam(
        model, max_tokens=inputs["input_ids"].shape[1]
    )  # one review per pass
    record = chunked.attribute(inputs, target=torch.tensor([0, 1, 1, 0]))
    torch.testing.assert_close(record.scores, whole)
    assert record.target.tolist() == [0, 1, 1, 0]
    assert record.logits.shape == (4, 2)
    with pytest.raises(ValueError, match="max_tokens"):
        GradCam(model, max_tokens=0)


def test_default_target_is_prediction_and_targets_are_per_review(model, tokenizer):
    inputs = encode_texts(tokenizer, TEXTS[:2])
    explainer = GradCam(model)
    record = explainer.attribute(inputs)
    predicted = model(**inputs).logits.argmax(-1)
    assert torch.equal(record.target, predicted)
    mixed = explainer.attribute(inputs, target=torch.tensor([0, 1])).scores
    only0 = explainer.attribute(inputs, target=0).scores
    only1 = explainer.attribute(inputs, target=1).scores
    torch.testing.assert_close(mixed[0], only0[0])
    torch.testing.assert_close(mixed[1], only1[1])
    assert not torch.allclose(only0, only1), (
        "the two classes should explain differently"
    )


def test_frozen_model_in_train_mode_gives_same_maps_and_keeps_mode(tokenizer):
    inputs = encode_texts(tokenizer, TEXTS)
    model = tiny_model(seed=3)
    expected = GradCam(model).attribute(inputs, target=1).scores
    for p in model.parameters():
        p.requires_grad_(False)
    model.train()
    got = GradCam(model).attribute(inputs, target=1).scores
    torch.testing.assert_close(got, expected)
    assert model.training, "attribute() must restore train mode"
    assert all(p.grad is None for p in model.parameters())


def test_gradcam_for_texts_trims_to_real_tokens_in_input_order(model, tokenizer):
    results = gradcam_for_texts(model, tokenizer, TEXTS, batch_size=2, progress=False)
    batched = GradCam(model).attribute(encode_texts(tokenizer, TEXTS)).scores
    for i, (text, res) in enumerate(zip(TEXTS, results, strict=True)):
        assert res.text == text
        assert res.tokens == ["[CLS]", *text.split(), "[SEP]"]
        assert res.score("Grad-CAM").shape == (3, len(res.tokens))
        torch.testing.assert_close(
            res.score("Grad-CAM"),
            batched[i, :, : len(res.tokens)],
            atol=1e-5,
            rtol=1e-4,
        )
        assert res.target == res.prediction
        assert abs(float(res.probabilities.sum()) - 1) < 1e-5
        assert not res.truncated


def test_aggregate_layers():
    cam = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    torch.testing.assert_close(aggregate_layers(cam), cam.mean(dim=1))
    torch.testing.assert_close(aggregate_layers(cam, "max"), cam[:, 2])
    torch.testing.assert_close(aggregate_layers(cam, "last"), cam[:, -1])
    torch.testing.assert_close(aggregate_layers(cam, 0), cam[:, 0])
    torch.testing.assert_close(aggregate_layers(cam[1], "sum"), cam[1].sum(dim=0))
    with pytest.raises(ValueError, match="how must be"):
        aggregate_layers(cam, "median")
    with pytest.raises(ValueError, match="out of range"):
        aggregate_layers(cam, 3)


def test_layer_statistics_on_hand_made_maps():
    def result(cam):
        return gradcam_record(["[CLS]", "good", "[SEP]"], torch.tensor(cam))

    stats = layer_statistics(
        [
            result([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0]]),
            result([[0.0, 4.0, 0.0], [3.0, 0.0, 1.0]]),
        ]
    )
    torch.testing.assert_close(
        stats["special_share"], torch.tensor([0.25, 1.0], dtype=torch.float64)
    )
    torch.testing.assert_close(
        stats["all_zero"], torch.tensor([0.0, 0.5], dtype=torch.float64)
    )
    torch.testing.assert_close(
        stats["peak_token_share"], torch.tensor([0.75, 0.75], dtype=torch.float64)
    )
    # review 1: last row constant -> NaN, left out; review 2: rows [0,4,0] vs [3,0,1]
    x, y = torch.tensor([0.0, 4.0, 0.0]), torch.tensor([3.0, 0.0, 1.0])
    expected = float(torch.corrcoef(torch.stack([x, y]))[0, 1])
    torch.testing.assert_close(
        stats["corr_with_last"], torch.tensor([expected, 1.0], dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="empty"):
        layer_statistics([])


# ---------------------------------------------------------------- hooks and errors


def test_hooks_removed_after_bad_target(model, tokenizer):
    inputs = encode_texts(tokenizer, TEXTS[:2])
    before = hook_counts(model)
    with pytest.raises(ValueError, match=r"outside the model's labels 0\.\.1"):
        GradCam(model).attribute(inputs, target=2)
    with pytest.raises(ValueError, match="outside"):
        GradCam(model).attribute(inputs, target=torch.tensor([0, -1]))
    assert hook_counts(model) == before  # transformers may keep its own capture hook


def test_hooks_removed_after_error_inside_forward(tokenizer):
    model = tiny_model()

    def explode(module, args):
        raise RuntimeError("injected failure")

    handle = model.classifier.register_forward_pre_hook(explode)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            GradCam(model).attribute(encode_texts(tokenizer, TEXTS[:1]))
        with pytest.raises(RuntimeError, match="injected"):
            captum_layer_gradcam(model, encode_texts(tokenizer, TEXTS[:1]))
    finally:
        handle.remove()
    assert hook_counts(model) == [0, 0, 0]  # a fresh model has no hooks of its own


def test_layer_outputs_may_be_tensors_or_tuples():
    from helpers.attr.gradcam import _ChannelsFirst, _route_through
    from helpers.attr.gradcam import _hidden_states as _split_output

    hidden = torch.randn(2, 5, 8)
    assert _split_output(hidden) is hidden
    assert _split_output((hidden, "attentions")) is hidden
    hook = _route_through(_ChannelsFirst())
    routed = hook(None, (), (hidden, "attentions"))
    assert isinstance(routed, tuple) and routed[1] == "attentions"
    torch.testing.assert_close(routed[0], hidden)
    torch.testing.assert_close(hook(None, (), hidden), hidden)
    with pytest.raises(TypeError, match="tuple starting with"):
        _split_output({"hidden": hidden})


def test_model_without_encoder_layers_is_refused():
    with pytest.raises(ValueError, match="encoder layer list"):
        GradCam(nn.Linear(4, 2))


def test_bad_inputs_are_refused(model, tokenizer):
    with pytest.raises(ValueError, match="empty"):
        gradcam_for_texts(model, tokenizer, ["a good film", "   "], progress=False)
    with pytest.raises(TypeError, match="input_ids"):
        GradCam(model).attribute(torch.tensor([[2, 5, 3]]))
    with pytest.raises(TypeError, match="integer class"):
        GradCam(model).attribute(encode_texts(tokenizer, TEXTS[:1]), target=0.5)
    with pytest.raises(ValueError, match="one class per review"):
        GradCam(model).attribute(encode_texts(tokenizer, TEXTS[:2]), target=[0, 1, 1])


def test_long_text_is_truncated_with_a_warning(model, tokenizer):
    long_text = " ".join(["good"] * 100)
    with pytest.warns(TruncationWarning):
        (res,) = gradcam_for_texts(
            model, tokenizer, [long_text], max_length=32, progress=False
        )
    assert res.truncated
    assert res.score("Grad-CAM").shape == (3, 32)
    assert res.tokens[-1] == "[SEP]"


# ------------------------------------------------------------- layer agreement


def test_layer_agreement_is_spearman_between_layers_over_the_real_tokens():
    from scipy.stats import spearmanr

    from helpers.gradcam import layer_agreement, mean_layer_agreement

    g = torch.Generator().manual_seed(0)
    base = torch.rand(6, generator=g)
    other = torch.rand(6, generator=g)
    cam = torch.stack([base, 2 * base + 1, -base, other, torch.zeros(6)])[None]
    real = torch.tensor([[False, True, True, True, True, False]])  # [CLS] … [SEP]
    rho = layer_agreement(cam, real)
    assert rho.shape == (1, 5, 5)
    assert rho[0, 0, 1] == pytest.approx(1.0) and rho[0, 0, 2] == pytest.approx(-1.0)
    expected = spearmanr(base[1:5], other[1:5]).statistic
    assert rho[0, 0, 3] == pytest.approx(expected) == rho[0, 3, 0]
    assert all(rho[0, i, 4] != rho[0, i, 4] for i in range(4))  # constant: NaN
    assert (rho[0].diagonal() == 1).all()
    # a list of per-review maps of different lengths gives the same numbers
    listed = layer_agreement(
        [cam[0], cam[0, :, :4]], [real[0], torch.tensor([False, True, True, True])]
    )
    assert listed.shape == (2, 5, 5)
    assert listed[0] == pytest.approx(rho[0], nan_ok=True)
    mean = mean_layer_agreement(listed)
    assert mean.shape == (5, 5) and mean[0, 1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="mask"):
        layer_agreement(cam, real[:, :4])


def test_layer_mean_weighs_every_layer_alike_and_skips_special_tokens():
    from helpers.gradcam import layer_mean

    cam = torch.tensor([[5.0, 1.0, 3.0, 5.0], [0.0, 100.0, 300.0, 0.0]])
    res = gradcam_record(["[CLS]", "good", "film", "[SEP]"], cam)
    mean = layer_mean(res)
    expected = torch.tensor([0.0, (0.25 + 0.25) / 2, (0.75 + 0.75) / 2, 0.0])
    torch.testing.assert_close(mean, expected)
    assert float(mean.sum()) == pytest.approx(1.0)
