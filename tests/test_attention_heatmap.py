"""Chapter 3's heads × tokens view: helpers.attention's matrix and top words, and
helpers.book.attention_figures' heat map of it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from tiny import tiny_bert, tiny_tokenizer

from helpers import attention, highlight
from helpers.book import attention_figures

TEXT = "the acting was really bad and the plot was boring ."


@pytest.fixture(scope="module")
def review():
    """A 2-layer, 4-head tiny BERT's attention on one short review."""
    tokenizer = tiny_tokenizer()
    return attention.explain_review(tiny_bert(attn=None), tokenizer, TEXT)


def test_heads_matrix_is_row_normalised_attention(review):
    tokens, rows = attention.heads_matrix(review)
    assert tokens == review.tokens[1:-1]  # [CLS] and [SEP] left out
    assert rows.shape == (review.n_heads + 1, len(tokens))
    expected = torch.stack(
        [review.cls(-1, h) for h in range(review.n_heads)] + [review.cls(-1)]
    )[:, 1:-1]
    expected = expected / expected.max(dim=1, keepdim=True).values
    torch.testing.assert_close(rows, expected)
    assert torch.allclose(rows.max(dim=1).values, torch.ones(len(rows)))


def test_plot_heads_heatmap_draws_the_matrix(review, tmp_path):
    path = tmp_path / "heads.png"
    fig = attention_figures.plot_heads_heatmap(review, layer=0, path=path)
    try:
        assert isinstance(fig, matplotlib.figure.Figure)
        assert path.stat().st_size > 0
        ax = fig.axes[0]
        tokens, rows = attention.heads_matrix(review, layer=0)
        np.testing.assert_allclose(ax.images[0].get_array(), rows.numpy())
        assert ax.images[0].get_cmap().name == highlight.CMAP
        assert [t.get_text() for t in ax.get_xticklabels()] == tokens
        assert all(t.get_rotation() == 90 for t in ax.get_xticklabels())
        heads = [t.get_text() for t in ax.get_yticklabels()]
        assert heads == [f"head {h}" for h in range(review.n_heads)] + ["mean"]
        assert fig.get_size_inches()[0] <= 10.0
        assert "layer 0 of 0..1" in ax.get_title()
    finally:
        plt.close(fig)


def test_plot_heads_heatmap_refuses_a_long_review(review):
    with pytest.raises(ValueError, match="max_tokens"):
        attention_figures.plot_heads_heatmap(review, max_tokens=3)


def test_top_words_sums_pieces_and_breaks_ties_at_random():
    tokens = ["[CLS]", "act", "##ing", "was", "good", "[SEP]"]
    scores = [0.5, 0.1, 0.25, 0.3, 0.2, 0.0]
    top = attention.top_words(tokens, scores, 2, special_tokens={"[CLS]", "[SEP]"})
    assert [(i, w) for i, w, _ in top] == [(0, "acting"), (1, "was")]
    assert top[0][2] == pytest.approx(0.35) and top[1][2] == pytest.approx(0.3)
    assert len(attention.top_words(tokens, scores, 10)) == 5  # [CLS]/[SEP] shown
    # equal scores: the order comes from the seed, not from the position
    words = ["a", "b", "c", "d"]
    orders = {
        tuple(w for _, w, _ in attention.top_words(words, [1] * 4, 4, seed))
        for seed in range(20)
    }
    assert len(orders) > 1
