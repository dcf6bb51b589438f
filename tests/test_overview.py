"""Chapter 7's aggregate view: [CLS] vectors, their projection, accuracy by length."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch
from tiny import TEXTS, tiny_bert, tiny_tokenizer

from helpers import data, train
from helpers.book import overview

matplotlib.use("Agg")


def test_cls_vectors_are_the_last_layers_first_position_in_text_order():
    model, tokenizer = tiny_bert(attn=None), tiny_tokenizer()
    got = overview.cls_vectors(model, tokenizer, TEXTS, batch_size=2)
    assert got.shape == (len(TEXTS), model.config.hidden_size)
    for i, text in enumerate(TEXTS):
        alone = tokenizer([text], return_tensors="pt")
        with torch.no_grad():
            want = model(**alone, output_hidden_states=True).hidden_states[-1][0, 0]
        assert torch.allclose(got[i], want, atol=1e-5)
    vectors, logits = overview.cls_vectors(model, tokenizer, TEXTS, return_logits=True)
    assert torch.allclose(vectors, got, atol=1e-5)
    with torch.no_grad():
        want = model(**tokenizer(TEXTS[:1], return_tensors="pt")).logits[0]
    assert torch.allclose(logits[0], want, atol=1e-5)
    with pytest.raises(ValueError, match="at least one text"):
        overview.cls_vectors(model, tokenizer, [])


def test_cls_vectors_of_an_eager_model_run_on_the_fused_kernel():
    """Chapter 7 loads its model with eager attention (for the explanations);
    the [CLS] pass over the test sample needs no attention weights."""
    model, tokenizer = tiny_bert(attn="eager"), tiny_tokenizer()
    seen = []
    hook = model.register_forward_pre_hook(
        lambda m, _: seen.append(m.config._attn_implementation)
    )
    try:
        got = overview.cls_vectors(model, tokenizer, TEXTS)
    finally:
        hook.remove()
    assert seen and set(seen) == {"sdpa"}
    assert model.config._attn_implementation == "eager"  # restored
    with torch.no_grad():
        want = model(
            **tokenizer(TEXTS[:1], return_tensors="pt"), output_hidden_states=True
        )
    assert torch.allclose(got[0], want.hidden_states[-1][0, 0], atol=1e-5)


def test_the_vectors_pass_gives_chapter_2s_evaluation_without_a_second_pass():
    """Chapter 7 evaluates the test sample from the logits of its [CLS] pass."""
    model, tokenizer = tiny_bert(attn=None, perturb=0.5), tiny_tokenizer()
    reviews = data.ReviewSet(list(TEXTS), [0, 1, 1, 0], "tiny")
    want = train.evaluate(model, tokenizer, reviews, max_length=16, batch_size=3)
    _, logits = overview.cls_vectors(
        model, tokenizer, TEXTS, max_length=16, return_logits=True
    )
    got = train.scores_from_logits(logits, reviews)
    assert set(got) == set(want)
    for key in ("preds", "labels", "confusion"):
        assert (got[key] == want[key]).all(), key
    assert got["accuracy"] == want["accuracy"]
    assert got["loss"] == pytest.approx(want["loss"], abs=1e-5)
    torch.testing.assert_close(torch.tensor(got["probs"]), torch.tensor(want["probs"]))
    with pytest.raises(ValueError, match="3 rows of logits for 4 reviews"):
        train.scores_from_logits(logits[:3], reviews)


def test_pca_finds_the_direction_of_largest_variance():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=generator) * torch.tensor([10.0, 1, 1, 1, 1])
    points, explained = overview.pca_2d(x)
    assert points.shape == (200, 2)
    assert explained[0] > 0.8 and explained[0] >= explained[1]
    # PC 1 is the first coordinate (up to sign, fixed by the largest loading)
    corr = torch.corrcoef(torch.stack([points[:, 0], x[:, 0]]))[0, 1]
    assert corr > 0.99
    again, _ = overview.pca_2d(x)
    assert torch.equal(points, again)
    with pytest.raises(ValueError, match="matrix"):
        overview.pca_2d(torch.zeros(5))


def test_accuracy_by_length_bins_counts_and_intervals():
    lengths = [10, 20, 130, 300, 600, 700]
    correct = [True, True, False, True, False, True]
    rows = overview.accuracy_by_length(lengths, correct, edges=(128, 256, 512))
    assert [r["bin"] for r in rows] == ["< 128", "128–255", "256–511", "512+"]
    assert [r["n"] for r in rows] == [2, 1, 1, 2]
    assert [r["accuracy"] for r in rows] == [1.0, 0.0, 1.0, 0.5]
    for r in rows:
        assert r["low"] <= r["accuracy"] <= r["high"]
    empty = overview.accuracy_by_length([10], [True], edges=(5, 8))
    assert empty[1]["n"] == 0 and math.isnan(empty[1]["accuracy"])
    with pytest.raises(ValueError, match="lengths but"):
        overview.accuracy_by_length([1, 2], [True])
    with pytest.raises(ValueError, match="increase"):
        overview.accuracy_by_length([1], [True], edges=(10, 5))


def test_plots_draw_one_point_per_review_and_one_bar_per_bin():
    fig = overview.plot_cls_projection(
        torch.randn(6, 2),
        [0, 1, 0, 1, 0, 1],
        [True] * 5 + [False],
        explained=[0.5, 0.2],
    )
    left, right = fig.axes
    assert sum(len(c.get_offsets()) for c in left.collections) == 6
    assert sum(len(c.get_offsets()) for c in right.collections) == 6
    assert "50%" in left.get_xlabel()
    rows = overview.accuracy_by_length([10, 300], [True, False], edges=(128,))
    fig = overview.plot_accuracy_by_length(rows, cut=256)
    assert len(fig.axes[0].patches) == 2 and "256" in fig.axes[0].get_title()
