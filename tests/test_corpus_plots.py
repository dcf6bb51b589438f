"""Chapter 9's figures: top words per class with intervals, relevance vs frequency."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.book import plots
from helpers.corpus_views import WordRelevance
from helpers.stats import ConfidenceInterval


def _word(word, label, n, mean, low, high, kind=None):
    return WordRelevance(
        word=word,
        label=label,
        n_texts=n,
        total=mean * n,
        total_low=low * n,
        total_high=high * n,
        mean=ConfidenceInterval(mean, low, high, n),
        capitalised=0.0,
        kind=kind,
    )


PER_CLASS = {
    "negative": [_word("awful", "negative", 10, 0.5, 0.4, 0.7)],
    "positive": [
        _word("great", "positive", 20, 0.3, 0.2, 0.35),
        _word("$5$", "positive", 4, 0.2, -0.1, 0.5, kind="number"),
    ],
}


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_top_words_one_panel_per_class_largest_on_top_with_intervals():
    fig = plots.plot_top_words(PER_CLASS, "total", "a title")
    negative, positive = fig.axes
    assert negative.get_title() == "explaining negative"
    assert positive.get_xlabel() == "total relevance (95 % CI)"
    labels = [t.get_text() for t in positive.get_yticklabels()]
    ticks = list(positive.get_yticks())
    assert labels[ticks.index(max(ticks))] == "great"  # largest on top
    assert r"\$5\$" in labels  # a dollar is escaped, never mathtext
    widths = sorted(p.get_width() for p in positive.patches)
    assert widths == pytest.approx([0.8, 6.0])  # totals: 0.2 * 4, 0.3 * 20
    (errors,) = [c for c in positive.collections if c.get_segments()]
    spans = sorted(np.ptp([s[:, 0] for s in errors.get_segments()], axis=1))
    assert spans == pytest.approx([0.6 * 4, 0.15 * 20])  # total_high - total_low
    fig.canvas.draw()  # renders: no word is parsed as math


def test_top_words_by_mean_and_bad_input():
    fig = plots.plot_top_words(PER_CLASS, "mean")
    assert fig.axes[0].patches[0].get_width() == pytest.approx(0.5)
    assert fig.axes[0].get_xlabel() == "mean relevance (95 % CI)"
    with pytest.raises(ValueError, match="'total' or 'mean'"):
        plots.plot_top_words(PER_CLASS, "median")
    with pytest.raises(ValueError, match="lower min_texts"):
        plots.plot_top_words({"negative": [], "positive": []})


def test_relevance_frequency_log_x_and_shortcut_kinds_apart():
    points = [
        {"word": "great", "label": "positive", "n_texts": 20, "mean": 0.3},
        {"word": "7/10", "label": "positive", "n_texts": 3, "mean": 0.9},
        {"word": "awful", "label": "negative", "n_texts": 9, "mean": 0.4},
    ]
    points[0]["kind"], points[1]["kind"], points[2]["kind"] = None, "number", None
    fig = plots.plot_relevance_frequency(points, "title")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "texts holding the word (log scale)"
    assert ax.get_ylabel() == "mean relevance per text"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "explaining positive",
        "explaining positive, shortcut kind",
        "explaining negative",
    ]
    offsets = [c.get_offsets().tolist() for c in ax.collections]
    assert offsets == [[[20, 0.3]], [[3, 0.9]], [[9, 0.4]]]
    with pytest.raises(ValueError, match="explain some texts"):
        plots.plot_relevance_frequency([])
