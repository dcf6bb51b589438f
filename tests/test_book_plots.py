"""Figures of helpers.book: forest plot, faithful-plausible scatter, legends."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from helpers.book import plots
from helpers.metrics.cost import Cost
from helpers.stats import ConfidenceInterval as CI

matplotlib.use("Agg")


def _rows():
    """Four methods and random; comp - random means out of order on purpose."""
    values = {  # method: (comp - random mean, low, high, sanity)
        "IG": (0.10, 0.02, 0.15, "pass"),
        "AttnLRP": (0.25, 0.20, 0.31, "pass"),
        "rollout": (-0.03, -0.09, 0.01, "fail"),
        "$x$ grad": (0.18, 0.05, 0.22, "fail"),
    }
    rows = [
        {
            "method": "random",
            "comprehensiveness": CI(0.2, 0.18, 0.22, 16),
            "comp - random": CI(0.0, 0.0, 0.0, 16),
            "sanity": "pass",
        }
    ]
    for name, (mean, low, high, sanity) in values.items():
        rows.append(
            {
                "method": name,
                "comprehensiveness": CI(0.2 + mean, 0.2 + low, 0.2 + high, 16),
                "comp - random": CI(mean, low, high, 16),
                "sanity": sanity,
            }
        )
    return rows


def test_forest_plot_draws_each_methods_paired_interval(tmp_path):
    fig = plots.plot_forest(_rows(), path=tmp_path / "forest.png")
    assert (tmp_path / "forest.png").is_file()
    assert fig.get_figwidth() <= plots.BOOK_WIDTH
    (ax,) = fig.axes
    # one row per method, random left out, the largest difference on top
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["AttnLRP", r"\$x\$ grad", "IG", "rollout"]
    ticks = list(ax.get_yticks())
    y_of = dict(zip(labels, ticks, strict=True))
    assert y_of["AttnLRP"] > y_of[r"\$x\$ grad"] > y_of["IG"] > y_of["rollout"]
    # every whisker spans its interval, at its method's row
    (whiskers,) = [c for c in ax.collections if hasattr(c, "get_segments")]
    segments = whiskers.get_segments()
    assert len(segments) == 4
    expected = {
        "AttnLRP": (0.20, 0.31),
        r"\$x\$ grad": (0.05, 0.22),
        "IG": (0.02, 0.15),
        "rollout": (-0.09, 0.01),
    }
    for seg in segments:
        (x0, y0), (x1, y1) = seg
        assert y0 == y1
        name = labels[ticks.index(y0)]
        assert (x0, x1) == pytest.approx(expected[name])
    # dots at the means; hollow (white face) exactly for the sanity failures
    dots = [c for c in ax.collections if c is not whiskers]
    points = {}
    for group in dots:
        offsets = group.get_offsets()
        faces = np.broadcast_to(group.get_facecolors(), (len(offsets), 4))
        for (x, y), face in zip(offsets, faces, strict=True):
            points[labels[ticks.index(y)]] = (x, tuple(face[:3]) == (1.0, 1.0, 1.0))
    assert points == {
        "AttnLRP": (pytest.approx(0.25), False),
        r"\$x\$ grad": (pytest.approx(0.18), True),
        "IG": (pytest.approx(0.10), False),
        "rollout": (pytest.approx(-0.03), True),
    }
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["random", "passes the sanity check", "fails the sanity check"]
    # the zero line is the random baseline
    assert any(list(line.get_xdata()) == [0, 0] for line in ax.get_lines())


def test_forest_plot_needs_the_random_difference():
    rows = [{**r, "comp - random": None} for r in _rows()]
    with pytest.raises(ValueError, match="comp - random"):
        plots.plot_forest(rows)
    no_sanity = [{k: v for k, v in r.items() if k != "sanity"} for r in _rows()]
    ax = plots.plot_forest(no_sanity).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["random"]


def _scatter_inputs():
    faithfulness = _rows()
    auprc = {"random": 0.30, "IG": 0.45, "AttnLRP": 0.50, "rollout": 0.40}
    plausibility = [
        {"method": m, "AUPRC": CI(v, v - 0.05, v + 0.04, 6)} for m, v in auprc.items()
    ]
    ms = {"random": 0.5, "IG": 4500.0, "AttnLRP": 300.0, "rollout": 150.0}
    costs = {m: Cost(ms=v, forwards=1, backwards=1, n=6) for m, v in ms.items()}
    return faithfulness, plausibility, costs, auprc, ms


def test_faithful_plausible_scatter_places_sizes_and_labels_each_method(tmp_path):
    faithfulness, plausibility, costs, auprc, ms = _scatter_inputs()
    fig = plots.plot_faithful_plausible(
        faithfulness, plausibility, costs, path=tmp_path / "scatter.png"
    )
    assert (tmp_path / "scatter.png").is_file()
    assert fig.get_figwidth() <= plots.BOOK_WIDTH
    ax = fig.axes[0]
    # "$x$ grad" has no AUPRC and no cost: left out, like recommendation_table
    names = ["random", "IG", "AttnLRP", "rollout"]
    points = [c for c in ax.collections if len(c.get_offsets())]
    assert len(points) == 1
    comp = {r["method"]: r["comprehensiveness"].mean for r in faithfulness}
    np.testing.assert_allclose(
        points[0].get_offsets(), [(auprc[m], comp[m]) for m in names]
    )
    sizes = points[0].get_sizes()
    order = np.argsort([ms[m] for m in names])
    assert list(np.argsort(sizes, kind="stable")) == list(order)
    # area proportional to the cost above the floor: 4500 / 300 ms
    assert sizes[1] / sizes[2] == pytest.approx(4500 / 300)
    labels = {t.get_text(): t for t in ax.texts}
    assert sorted(labels) == sorted(names)
    for name, text in labels.items():
        assert text.xy == pytest.approx((auprc[name], comp[name]))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert all(label.endswith(" ms/review") for label in legend)
    assert len(legend) >= 2
    with pytest.raises(ValueError, match="all three"):
        plots.plot_faithful_plausible(faithfulness, plausibility, {})


def test_moving_mean_averages_the_neighbours_and_keeps_the_ends():
    from helpers.book import long_reviews

    mean = long_reviews.moving_mean([0.0, 3.0, 0.0, 3.0], 3)
    assert mean == pytest.approx([1.5, 1.0, 2.0, 1.5])


def test_scatter_labels_of_close_points_do_not_overlap():
    faithfulness, plausibility, costs, *_ = _scatter_inputs()
    for row in faithfulness:  # every method at almost the same place
        row["comprehensiveness"] = CI(0.3, 0.25, 0.35, 16)
    for row in plausibility:
        row["AUPRC"] = CI(0.4, 0.35, 0.45, 6)
    fig = plots.plot_faithful_plausible(faithfulness, plausibility, costs)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    assert len(boxes) == 4
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1 :])


def test_reference_costs_are_round_and_span_the_range():
    assert plots._reference_costs(np.array([152.0, 4518.0])) == [200.0, 1000.0, 5000.0]
    assert plots._round_125(0.37) == pytest.approx(0.5)


def test_steps_legend_hides_no_point():
    from helpers.book import recipes

    rows = [
        {"step": f"step {i}", "val_acc": acc, "n_val": 5000}
        for i, acc in enumerate([0.85, 0.86, 0.88, 0.905])  # the last one rightmost
    ]
    fig = recipes.plot_steps(rows)
    fig.canvas.draw()
    (ax,) = fig.axes
    legend = fig.legends[0].get_window_extent()
    frame = ax.get_window_extent()
    assert legend.y1 <= frame.y0  # below the axes
    (points,) = [line for line in ax.get_lines() if line.get_marker() == "o"]
    shown = ax.transData.transform(points.get_xydata())
    assert len(shown) == len(rows)
    assert not any(legend.contains(x, y) for x, y in shown)


def _long(n: int, spans):
    import torch

    from helpers.attr.explanation import TextExplanation, Windowing

    scores = torch.linspace(0.0, 1.0, n)
    how = Windowing(spans, torch.zeros(len(spans), 2), [], "mean", "taper")
    return TextExplanation(
        "t",
        [f"w{i}" for i in range(n)],
        {"$m$": scores},
        1,
        torch.zeros(2),
        windows=how,
    )


def test_position_plot_marks_the_cut_the_dropped_tokens_and_the_windows(tmp_path):
    from helpers.book import long_reviews

    spans = [(0, 50), (30, 80), (60, 120)]
    fig = long_reviews.plot_positions(_long(120, spans), path=tmp_path / "long.png")
    assert (tmp_path / "long.png").is_file()
    assert fig.get_figwidth() <= plots.BOOK_WIDTH
    ax, lanes = fig.axes
    # every token's score, in position order
    (curve,) = [c for c in ax.collections if len(c.get_paths())]
    ys = curve.get_paths()[0].vertices[:, 1]
    assert ys.max() == pytest.approx(1.0) and ys.min() == pytest.approx(0.0)
    (smooth,) = [line for line in ax.get_lines() if len(line.get_xdata()) == 120]
    assert smooth.get_ydata() == pytest.approx(
        long_reviews.moving_mean(np.linspace(0, 1, 120), long_reviews.SMOOTH)
    )
    # the cut after the first window's 50 tokens; the 70 after it shaded
    cut = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_xdata()) for line in cut] == [[49.5, 49.5]]
    (shade,) = ax.patches
    assert (shade.get_x(), shade.get_x() + shade.get_width()) == (49.5, 119.5)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "50 tokens" in texts and "dropped by the cut: 70" in texts
    assert ax.get_xlim() == (-0.5, 119.5)
    # one lane segment per window, from its first to its last token
    segments = [tuple(line.get_xdata()) for line in lanes.get_lines()]
    assert segments == [(0, 49), (30, 79), (60, 119)]
    assert r"\$m\$" in ax.get_ylabel()


def test_position_plot_of_a_text_the_cut_keeps_whole_and_without_windows():
    from helpers.book import long_reviews

    ax = long_reviews.plot_positions(_long(40, [(0, 40)])).axes[0]
    assert not ax.patches and "dropped" not in " ".join(t.get_text() for t in ax.texts)
    plain = _long(40, [(0, 40)])
    plain.windows = None
    with pytest.raises(ValueError, match="explain_long"):
        long_reviews.plot_positions(plain)
