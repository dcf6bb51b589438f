"""helpers.metrics.sanity: the cascading randomisation and its statistics."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from tiny import TEXTS, tiny_bert, tiny_tokenizer

from helpers import attr, metrics


@pytest.fixture(scope="module")
def tiny():
    return tiny_tokenizer(), tiny_bert(perturb=0.05)


def test_cascade_changes_exactly_the_weights_it_claims(tiny):
    _, model = tiny
    original = {k: v.clone() for k, v in model.state_dict().items()}
    steps = metrics.randomisation_steps(model)
    assert [label for label, _ in steps] == ["head", "layer 1", "layer 0"]
    seen = []
    for step in metrics.cascading_randomisation(model, seed=3):
        assert not step.model.training
        state = step.model.state_dict()
        for name, value in state.items():
            claimed = any(name.startswith(m + ".") for m in step.randomised)
            assert torch.equal(value, original[name]) != claimed, (step.label, name)
        seen.append(step.label)
        dense = state["bert.encoder.layer.1.intermediate.dense.weight"]
        if step.label != "head":
            std = model.config.initializer_range
            assert dense.std().item() == pytest.approx(std, rel=0.15)
    assert seen == ["head", "layer 1", "layer 0"]
    for name, value in model.state_dict().items():  # the original is untouched
        assert torch.equal(value, original[name])


def test_rank_change_rules_for_degenerate_maps():
    rising = [1.0, 2.0, 3.0, 4.0]
    assert metrics.rank_change(rising, [4.0, 3.0, 2.0, 1.0]) == (-1.0, False)
    assert metrics.rank_change(rising, [0.0, 0.0, 0.0, 0.0]) == (0.0, True)
    assert metrics.rank_change(rising, [1.0, np.nan, 0.0, 2.0]) == (0.0, True)
    assert metrics.rank_change([0.0] * 4, rising) == (0.0, True)
    assert metrics.rank_change([0.0] * 4, [0.5] * 4) == (1.0, True)


class FromIds(attr.Attribution):
    """A map read from the token ids; ``mode`` says what randomisation does to it.

    ``"keep"``: unchanged; ``"flat"``: all 0 once randomised; ``"nan"``: NaN once
    randomised; ``"negate"``: sign flipped once randomised (signed ρ = -1,
    ρ of absolute values = +1).
    """

    def __init__(self, model, original, mode):
        super().__init__(model)
        self.name, self.randomised, self.mode = mode, model is not original, mode

    def _pass(self, batch, target):
        with torch.no_grad():
            logits = self.model(**batch).logits
        return self._scores(batch), logits

    def _scores(self, inputs):
        scores = inputs["input_ids"].float() * inputs["attention_mask"]
        if not self.randomised or self.mode == "keep":
            return scores
        if self.mode == "flat":
            return torch.zeros_like(scores)
        if self.mode == "nan":
            return torch.full_like(scores, float("nan"))
        return -scores


def toy_methods(original):
    def make(model, seed):
        modes = ("keep", "flat", "nan", "negate")
        methods = {m: FromIds(model, original, m) for m in modes}
        methods["random"] = attr.RandomScores(model, seed)
        return methods

    return make


def test_constant_and_nan_maps_count_as_changed_and_are_counted(tiny):
    tokenizer, model = tiny
    texts = [t + " the movie" for t in TEXTS]  # at least three real tokens each
    res = metrics.sanity_check(
        model, tokenizer, texts, toy_methods(model), batch_size=3, progress=False
    )
    assert res.methods == ["keep", "flat", "nan", "negate", "random"]
    assert res.steps == ["head", "layer 1", "layer 0"]
    np.testing.assert_allclose(res.rho["keep"], 1.0)
    for mode in ("flat", "nan"):
        np.testing.assert_array_equal(res.rho[mode], np.zeros((4, 3)))
        np.testing.assert_array_equal(res.rho_abs[mode], np.zeros((4, 3)))
        assert res.n_degenerate(mode) == 4
    assert res.n_degenerate("keep") == 0
    np.testing.assert_allclose(res.rho["negate"], -1.0)
    np.testing.assert_allclose(res.rho_abs["negate"], 1.0)
    assert res.passes("flat") and res.passes("nan")
    assert not res.passes("keep")
    assert not res.passes("negate"), "ρ of |map| = 1: the magnitudes did not change"
    assert res.final("flat").with_n().endswith("n = 4")


def test_a_method_missing_from_the_cascade_fails(tiny):
    tokenizer, model = tiny
    res = metrics.sanity_check(
        model, tokenizer, TEXTS[:2], toy_methods(model), progress=False
    )
    assert not res.passes("IG")
    with pytest.raises(ValueError, match="fails the sanity check"):
        res.final("IG")

    def shrinking(m, seed):
        methods = toy_methods(model)(m, seed)
        if m is not model:
            del methods["flat"]
        return methods

    with pytest.raises(ValueError, match="same methods"):
        metrics.sanity_check(model, tokenizer, TEXTS[:2], shrinking, progress=False)


def test_cascade_on_tiny_bert_separates_head_free_maps(tiny):
    tokenizer, model = tiny
    make = functools.partial(
        attr.explainers, tokenizer=tokenizer, ig_steps=3, gradcam_layers=False
    )
    res = metrics.sanity_check(
        model, tokenizer, TEXTS, make, batch_size=2, progress=False
    )
    assert res.rho["grad x input"].shape == (4, 3)
    # attention does not read the classifier head: randomising it changes nothing
    np.testing.assert_allclose(res.rho["[CLS] attention"][:, 0], 1.0)
    np.testing.assert_allclose(res.rho["rollout"][:, 0], 1.0)
    # gradients do: a new head gives a different grad x input map
    assert res.rho["grad x input"][:, 0].mean() < 0.95
    # so the head criterion fails the maps that ignore the classifier
    for name in ("[CLS] attention", "rollout"):
        assert metrics.sanity.IGNORES_HEAD in res.reasons(name)
        assert res.verdict(name).startswith("fail: ignores the classifier")
        assert not res.passes(name)
    assert res.reasons("grad x input") == [] and res.verdict("grad x input") == "pass"
    # the random scores are the chance level: no pass, no fail
    assert res.baselines == ["random"]
    assert res.verdict("random") == "baseline" and not res.passes("random")
    assert model.config._attn_implementation == "eager"


def test_verdict_reads_the_head_step_and_the_last_step():
    n = 3

    def cascade(head, last, last_abs=None):
        rho = np.tile([head, 0.5, last], (n, 1))
        absolute = rho if last_abs is None else np.tile([head, 0.5, last_abs], (n, 1))
        return metrics.CascadeResults(
            ["m"],
            ["head", "layer 1", "layer 0"],
            {"m": rho},
            {"m": absolute},
            {"m": np.zeros((n, 3), bool)},
        )

    assert cascade(0.2, 0.1).verdict("m") == "pass"
    assert cascade(-1.0, 0.1).verdict("m") == "pass"  # sign flipped: it changed
    assert cascade(1.0, 0.1).verdict("m") == "fail: ignores the classifier"
    assert cascade(0.2, 0.1, 0.8).verdict("m") == "fail: survives the cascade"
    both = cascade(0.95, 0.6).verdict("m")
    assert both == "fail: ignores the classifier, survives the cascade"
    assert cascade(0.2, 0.1).verdict("other") == "fail: not checked"
    headless = metrics.CascadeResults(
        ["m"],
        ["layer 0"],
        {"m": np.ones((n, 1)) * 0.1},
        {"m": np.zeros((n, 1))},
        {"m": np.zeros((n, 1), bool)},
        baselines=["m"],
    )
    assert headless.reasons("m") == [] and headless.verdict("m") == "baseline"
