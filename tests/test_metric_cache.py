"""helpers.metrics.cache: per-method numbers loaded only when made from the same.

A chapter that asks for numbers an earlier chapter computed loads them; any
change to what made them (the model's weights, a method's settings, the
package's code) computes them again; what is loaded equals what is computed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny import TEXTS, tiny_bert, tiny_tokenizer

from helpers import attr, metrics
from helpers.metrics import cache as results_cache

TABLES = ("comprehensiveness", "sufficiency", "deletion", "insertion", "tied")


@pytest.fixture
def tiny():
    return tiny_tokenizer(), tiny_bert(perturb=0.05)


def methods_of(model, tokenizer, seed=0):
    every = attr.explainers(
        model, tokenizer, ig_steps=3, seed=seed, random_draws=2, gradcam_layers=True
    )
    names = ("grad x input", "Grad-CAM L0", attr.GRADCAM_MEAN, "IG", "random")
    return {name: every[name] for name in names}


def faithfulness(model, tokenizer, methods, cache):
    return metrics.evaluate_faithfulness(
        model, tokenizer, TEXTS, methods, batch_size=3, progress=False, cache=cache
    )


def assert_same_faithfulness(a, b):
    assert a.methods == b.methods
    for table in TABLES:
        assert list(getattr(a, table)) == a.methods  # in the methods' order
        for m in a.methods:
            np.testing.assert_array_equal(getattr(a, table)[m], getattr(b, table)[m])
    for key in ("p_full", "n_tokens", "selected", "agreement"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def refuse_to_run(monkeypatch, *classes):
    """Make every pass of ``classes`` fail: what is loaded must not run them."""

    def fail(self, batch, target, **options):
        raise AssertionError(f"{self.name} ran although its numbers were cached")

    for cls in classes:
        monkeypatch.setattr(cls, "_pass", fail)


def test_fresh_numbers_are_loaded_and_equal_the_computed_ones(
    tiny, tmp_path, monkeypatch
):
    tokenizer, model = tiny
    plain = faithfulness(model, tokenizer, methods_of(model, tokenizer), None)
    first = metrics.cache.ResultsCache(tmp_path)
    computed = faithfulness(model, tokenizer, methods_of(model, tokenizer), first)
    assert (first.loaded, first.computed) == (0, 5)
    assert_same_faithfulness(computed, plain)
    refuse_to_run(
        monkeypatch, attr.GradientXInput, attr.GradCam, attr.IntegratedGradients
    )
    again = metrics.cache.ResultsCache(tmp_path)  # a later chapter, a new object
    loaded = faithfulness(model, tokenizer, methods_of(model, tokenizer), again)
    assert (again.loaded, again.computed) == (5, 0)
    assert_same_faithfulness(loaded, plain)


def test_loaded_and_new_methods_mix_and_agree_with_one_computation(tiny, tmp_path):
    tokenizer, model = tiny
    every = methods_of(model, tokenizer)
    faithfulness(model, tokenizer, {"IG": every["IG"]}, tmp_path)
    cache = metrics.cache.ResultsCache(tmp_path)
    mixed = faithfulness(model, tokenizer, every, cache)
    assert (cache.loaded, cache.computed) == (1, 4)
    assert_same_faithfulness(mixed, faithfulness(model, tokenizer, every, None))


def test_a_changed_model_is_computed_again(tiny, tmp_path):
    tokenizer, model = tiny
    faithfulness(model, tokenizer, methods_of(model, tokenizer), tmp_path)
    with torch.no_grad():
        model.classifier.weight[0, 0] += 0.5  # trained again, say
    cache = metrics.cache.ResultsCache(tmp_path)
    after = faithfulness(model, tokenizer, methods_of(model, tokenizer), cache)
    assert (cache.loaded, cache.computed) == (0, 5)
    fresh = faithfulness(model, tokenizer, methods_of(model, tokenizer), None)
    assert_same_faithfulness(after, fresh)
    assert len(list(tmp_path.glob("*.npz"))) == 5  # overwritten, not piled up


def test_a_changed_setting_recomputes_that_method_only(tiny, tmp_path):
    tokenizer, model = tiny
    faithfulness(model, tokenizer, methods_of(model, tokenizer), tmp_path)
    cache = metrics.cache.ResultsCache(tmp_path)
    reseeded = methods_of(model, tokenizer, seed=99)  # the random floor's seed
    after = faithfulness(model, tokenizer, reseeded, cache)
    assert (cache.loaded, cache.computed) == (4, 1)
    fresh = faithfulness(model, tokenizer, methods_of(model, tokenizer, 99), None)
    assert_same_faithfulness(after, fresh)


def test_changed_code_or_a_torn_file_is_computed_again(tiny, tmp_path, monkeypatch):
    tokenizer, model = tiny
    methods = {"grad x input": attr.GradientXInput(model)}
    faithfulness(model, tokenizer, methods, tmp_path)
    monkeypatch.setattr(results_cache, "code_fingerprint", lambda: "edited")
    cache = metrics.cache.ResultsCache(tmp_path)
    faithfulness(model, tokenizer, methods, cache)
    assert (cache.loaded, cache.computed) == (0, 1)
    (saved,) = tmp_path.glob("*.npz")
    saved.write_bytes(saved.read_bytes()[:100])  # a killed writer's torn file
    cache = metrics.cache.ResultsCache(tmp_path)
    result = faithfulness(model, tokenizer, methods, cache)
    assert (cache.loaded, cache.computed) == (0, 1)
    fresh = faithfulness(model, tokenizer, methods, None)
    assert_same_faithfulness(result, fresh)


def test_stored_maps_are_never_cached(tiny, tmp_path):
    tokenizer, model = tiny
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    maps = torch.rand(
        batch["input_ids"].shape, generator=torch.Generator().manual_seed(0)
    )
    stored = attr.StoredMaps(model, "stored", batch, maps * batch["attention_mask"])
    assert stored.settings() is None  # its maps live in a dict: not describable
    for _ in range(2):
        cache = metrics.cache.ResultsCache(tmp_path)
        faithfulness(model, tokenizer, {"stored": stored}, cache)
        assert (cache.loaded, cache.computed) == (0, 0)


def test_settings_name_what_the_scores_depend_on(tiny):
    tokenizer, model = tiny
    every = attr.explainers(model, tokenizer, ig_steps=7, seed=3, random_draws=2)
    ig = every["IG"].settings()
    assert ig["class"] == "helpers.attr.gradients.IntegratedGradients"
    assert ig["n_steps"] == 7 and "_lig" not in ig and "model" not in ig
    assert every["random"].settings()["seed"] == 3
    layer = every["Grad-CAM L1"].settings()
    assert layer["index"] == 1
    assert layer["shared"]["layers"] == [
        {"module": "bert.encoder.layer.0"},
        {"module": "bert.encoder.layer.1"},
    ]
    for method in every.values():
        json.dumps(method.settings())  # every registry method is describable
    other = tiny_bert()
    foreign = attr.GradientXInput(model)
    foreign.layer = other.bert.embeddings  # a module outside its model
    assert foreign.settings() is None


def test_sanity_check_loads_fresh_and_recomputes_stale(tiny, tmp_path, monkeypatch):
    tokenizer, model = tiny

    def make(m, seed):
        every = attr.explainers(m, tokenizer, seed=seed, gradcam_layers=False)
        return {n: every[n] for n in ("[CLS] attention", "grad x input", "random")}

    def cascade(cache):
        return metrics.sanity_check(
            model, tokenizer, TEXTS, make, batch_size=2, progress=False, cache=cache
        )

    def same(a, b):
        assert (a.methods, a.steps, a.baselines) == (b.methods, b.steps, b.baselines)
        for table in ("rho", "rho_abs", "degenerate"):
            for m in a.methods:
                np.testing.assert_array_equal(
                    getattr(a, table)[m], getattr(b, table)[m]
                )

    plain = cascade(None)
    first = metrics.cache.ResultsCache(tmp_path)
    same(cascade(first), plain)
    n = len(plain.methods)
    assert (first.loaded, first.computed) == (0, n)
    with monkeypatch.context() as patched:
        refuse_to_run(patched, attr.GradientXInput, attr.CLSAttention)
        again = metrics.cache.ResultsCache(tmp_path)
        same(cascade(again), plain)
        assert (again.loaded, again.computed) == (n, 0)
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight[5] += 0.5
    stale = metrics.cache.ResultsCache(tmp_path)
    same(cascade(stale), cascade(None))
    assert (stale.loaded, stale.computed) == (0, n)


def test_cache_must_be_a_results_cache_or_a_folder(tiny):
    tokenizer, model = tiny
    with pytest.raises(TypeError, match="ResultsCache, a folder or None"):
        faithfulness(model, tokenizer, {"x": attr.GradientXInput(model)}, 3)
