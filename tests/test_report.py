"""helpers.book.report and .plots: tables, the generated conclusion, figures."""

from __future__ import annotations

import numpy as np
import pytest
from tiny import TEXTS, tiny_bert, tiny_tokenizer

from helpers import attr, metrics
from helpers.book import layer_plots, plots, report
from helpers.metrics import CascadeResults
from helpers.stats import ConfidenceInterval as CI


def _row(method, comp, diff, suff=0.1, ties=0.0):
    return {
        "method": method,
        "comprehensiveness": CI(comp, comp - 0.01, comp + 0.01, 50),
        "sufficiency": CI(suff, suff - 0.01, suff + 0.01, 50),
        "comp - random": CI(diff, diff - 0.01, diff + 0.01, 50),
        "ties": ties,
    }


def _cascade(final: dict[str, tuple[float, float]], n=5, flat=None, head=None):
    """A two-step cascade whose last step has the given (signed, abs) ρ per method.

    ``head``: ρ after the head-only step per method (default 0.5: it changed).
    """
    methods = list(final)
    first = {m: (head or {}).get(m, 0.5) for m in methods}
    rho = {m: np.tile([first[m], s], (n, 1)) for m, (s, _) in final.items()}
    rho_abs = {m: np.tile([first[m], a], (n, 1)) for m, (_, a) in final.items()}
    degenerate = {m: np.zeros((n, 2), dtype=bool) for m in methods}
    for m, k in (flat or {}).items():
        degenerate[m][:k, -1] = True
    chance = [m for m in methods if m == "random"]
    return CascadeResults(
        methods, ["head", "layer 0"], rho, rho_abs, degenerate, baselines=chance
    )


def _summary(*args, **kwargs) -> str:
    """``report.summarise`` without the ``<bdi>`` around each method name."""
    text = report.summarise(*args, **kwargs)
    return text.replace("<bdi>", "").replace("</bdi>", "")


def test_summary_escapes_and_isolates_method_names():
    hostile = "<img src=x onerror=alert(1)>\u202e"
    text = report.summarise([_row(hostile, 0.4, 0.1), _row("random", 0.1, 0.0)])
    assert "<img" not in text and "&lt;img" in text
    assert "<bdi>&lt;img src=x onerror=alert(1)&gt;\u202e\u202c</bdi>" in text


ROWS = [
    _row("A", 0.30, 0.20),
    _row("B", 0.25, 0.15, suff=0.02),
    _row("random", 0.10, 0.0),
]


def test_summary_follows_the_numbers():
    text = _summary(ROWS)
    assert (
        "**A**" in text and "clearly above" in text and "beyond the confidence" in text
    )
    assert "0.300 [0.290, 0.310], n = 50 reviews" in text
    assert "**Most sufficient** (lowest AOPC sufficiency): **B**" in text
    assert "explain with **A**, the most comprehensive method" in text
    assert "not separated" not in text
    assert all(line.startswith("- ") for line in text.splitlines())
    weak = [_row("A", 0.10, -0.001), _row("random", 0.10, 0.0)]
    text = _summary(weak)
    assert "not distinguishable from" in text and "no method is both" in text
    with pytest.raises(ValueError, match="besides the random"):
        _summary([_row("random", 0.1, 0.0)])


def test_sanity_verdict_uses_signed_and_absolute_rho_with_n():
    cascade = _cascade(
        {"A": (0.05, 0.9), "B": (0.05, 0.1), "random": (0.0, 0.0)}, flat={"B": 2}
    )
    text = _summary(ROWS, cascade)
    assert "**Sanity check** (5 reviews; the table gives each ρ): passed by B." in (
        text
    )
    assert "survives the cascade (once the head" in text
    assert text.split("survives the cascade (")[1].split("): ")[1].startswith("A.")
    assert "B 2 of 5" in text  # constant maps are counted, not dropped
    assert "explain with **B**" in text  # A fails on the magnitudes
    assert "random: the chance level, a baseline with no verdict" in text


def test_a_method_missing_from_the_cascade_fails():
    rows = [_row("C", 0.40, 0.30), *ROWS]
    cascade = _cascade({"A": (0.0, 0.0), "B": (0.0, 0.0), "random": (0.0, 0.0)})
    text = _summary(rows, cascade)
    assert "Failed, not in the cascade: C." in text
    assert "explain with **A**" in text  # C is the most comprehensive but unchecked


def test_summary_names_maps_that_ignore_the_head():
    n = 4
    rho_a = np.tile([1.0, 0.8, 0.7, 0.1], (n, 1))  # ignores the head, late drop
    rho_b = np.tile([0.2, 0.1, 0.0, 0.0], (n, 1))
    rho = {"A": rho_a, "B": rho_b, "random": np.ones((n, 4))}
    cascade = CascadeResults(
        ["A", "B", "random"],
        ["head", "layer 2", "layer 1", "layer 0"],
        rho,
        rho,
        {m: np.zeros((n, 4), dtype=bool) for m in rho},
        baselines=["random"],
    )
    text = _summary(ROWS, cascade)
    assert "ignores the classifier (unchanged, mean ρ ≥ 0.9," in text
    assert "a token supports): A." in text and "passed by B." in text
    assert "A (layer 0)" in text and "B (" not in text.split("Slow to react")[1]
    assert "random (" not in text  # the baseline is never judged
    assert "explain with **B**" in text  # A beats random but ignores the head


def test_summary_names_every_method_not_separated_from_the_best():
    rows = [
        _row("A", 0.422, 0.2),
        _row("B", 0.415, 0.19),
        _row("C", 0.30, 0.1),
        _row("random", 0.10, 0.0),
    ]
    text = _summary(rows)
    assert "Not separated from it (overlapping intervals at this sample size): B" in (
        text
    )
    assert "C (" not in text.split("Not separated")[1].split("\n")[0]
    assert "explain with **A** or **B** (not separated" in text
    assert [r["method"] for r in report.leaders(rows)] == ["A", "B"]
    # B fails the sanity check: A is recommended alone
    cascade = _cascade(
        {"A": (0.0, 0.0), "B": (0.0, 0.0), "C": (0.0, 0.0), "random": (0.0, 0.0)},
        head={"B": 1.0},
    )
    text = _summary(rows, cascade)
    assert "explain with **A**, the most comprehensive method" in text
    assert "a token supports): B." in text


def test_summary_reports_tie_shares_above_one_percent():
    rows = [_row("A", 0.3, 0.2, ties=0.25), _row("B", 0.2, 0.1, ties=0.004), ROWS[2]]
    text = _summary(rows)
    assert "A 25.0 %" in text and "B 0.4" not in text
    text = _summary([_row("A", 0.3, 0.2, ties=0.0), ROWS[2]])
    assert "No method left more than 1 %" in text


def test_tables_escape_and_show_intervals(tmp_path):
    rows = [_row("<b>A</b> & co", 0.3, 0.2, ties=0.125), ROWS[2]]
    page = report.table_html(rows, caption="n = 50 <reviews>")
    assert "&lt;b&gt;A&lt;/b&gt; &amp; co" in page and "<b>A</b>" not in page
    assert "n = 50 &lt;reviews&gt;" in page
    assert "<b>0.300</b><br><small>[0.290, 0.310]</small>" in page
    assert "12.5 %" in page
    markdown = report.table_markdown(rows)
    assert markdown.splitlines()[0].startswith("| method | comprehensiveness ↑ |")
    assert "0.300 [0.290, 0.310]" in markdown
    path = report.write_csv(rows, tmp_path / "t.csv")
    header, *body = (tmp_path / "t.csv").read_text().splitlines()
    assert path == str(tmp_path / "t.csv")
    assert header.startswith("method,comprehensiveness,comprehensiveness low")
    assert len(body) == 2 and ",0.12500" in body[0]


@pytest.fixture(scope="module")
def evaluated():
    tokenizer, model = tiny_tokenizer(), tiny_bert(perturb=0.05)
    methods = {
        "grad x input": attr.GradientXInput(model),
        "rollout": attr.AttentionRollout(model),
        "random": attr.RandomScores(model, 0, draws=2),
    }
    res = metrics.evaluate_faithfulness(
        model, tokenizer, TEXTS, methods, batch_size=3, progress=False
    )
    return res


def test_results_table_and_summary_from_an_evaluation(evaluated):
    res = evaluated
    rows = report.results_table(res, n_resamples=200)
    assert [r["method"] for r in rows] == ["grad x input", "rollout", "random"]
    for r in rows:
        comp = res.aopc("comprehensiveness", r["method"])
        assert r["comprehensiveness"].mean == pytest.approx(comp.mean())
        assert r["n"] == 4 and r["ties"] == res.tie_share(r["method"])
    floor = res.aopc("comprehensiveness", "random")
    diff = res.aopc("comprehensiveness", "rollout") - floor
    assert rows[1]["comp - random"].mean == pytest.approx(diff.mean())
    text = _summary(rows)
    best = max(rows[:2], key=lambda r: r["comprehensiveness"].mean)
    assert f"**{best['method']}**" in text.split("Most comprehensive")[1][:40]
    assert f"{best['comprehensiveness'].mean:.3f}" in text and "n = 4" in text
    agreement = report.mean_agreement(res, "grad x input", "rollout")
    assert agreement.n == 4
    with pytest.raises(ValueError, match="not one of"):
        report.mean_agreement(res, "IG", "rollout")


def test_figures_fit_the_book_column(evaluated, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cascade = _cascade({m: (0.1, 0.1) for m in evaluated.methods}, n=4)
    figures = [
        plots.plot_curves(evaluated, tmp_path / "curves.png"),
        plots.plot_agreement(evaluated),
        plots.plot_cascade(cascade),
    ]
    for fig in figures:
        assert fig.get_figwidth() <= plots.BOOK_WIDTH
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "n = 4" in figures[2].axes[0].get_title()
    plt.close("all")


def _layered_results(n_layers=5, n=4) -> metrics.FaithfulnessResults:
    """Made-up results: five main methods, random and ``n_layers`` Grad-CAM layers."""
    rng = np.random.default_rng(0)
    layers = [f"Grad-CAM L{k}" for k in range(n_layers)]
    names = ["[CLS] attention", "rollout", *layers, "grad x input", "IG", "random"]
    fractions, curve = (0.1, 0.5), (0.0, 0.1, 0.5, 1.0)

    def table(width):
        return {m: rng.uniform(0, 1, (n, width)) for m in names}

    return metrics.FaithfulnessResults(
        methods=names,
        fractions=fractions,
        curve_fractions=curve,
        comprehensiveness=table(2),
        sufficiency=table(2),
        deletion=table(4),
        insertion=table(4),
        tied={m: np.zeros((n, 2)) for m in names},
        selected=np.ones((n, 2), int),
        agreement=rng.uniform(-1, 1, (n, len(names), len(names))),
        p_full=np.ones(n),
        n_tokens=np.full(n, 10),
    )


def test_curve_plots_keep_few_lines_and_put_layers_in_small_multiples(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = _layered_results()
    assert report.layer_methods(res.methods) == [f"Grad-CAM L{k}" for k in range(5)]
    assert report.main_methods(res.methods) == [
        "[CLS] attention",
        "rollout",
        "grad x input",
        "IG",
        "random",
    ]
    assert report.layer_of("Grad-CAM L12") == 12 and report.layer_of("IG") is None
    fig = plots.plot_curves(res)
    for ax in fig.axes:
        assert len(ax.get_lines()) == 5
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == report.main_methods(
        res.methods
    )
    assert min(t.get_fontsize() for t in legend.get_texts()) >= 9
    chosen = plots.plot_curves(res, methods=["IG", "random"])
    assert len(chosen.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="not among"):
        plots.plot_curves(res, methods=["AttnLRP"])
    grid = layer_plots.plot_layer_curves(res, tmp_path / "layers.png")
    panels = [ax for ax in grid.axes if ax.get_visible()]
    assert [ax.get_title().split(":")[0] for ax in panels] == [
        f"layer {k}" for k in range(5)
    ]
    comp = res.aopc("comprehensiveness", "Grad-CAM L3").mean()
    assert panels[3].get_title() == f"layer 3: comp. {comp:.3f}"
    assert all(len(ax.get_lines()) == 4 for ax in panels)  # layer and random, x2
    assert grid.get_figwidth() <= plots.BOOK_WIDTH
    assert (tmp_path / "layers.png").read_bytes()[:4] == b"\x89PNG"
    names = res.methods
    steps = ["head", "layer 1", "layer 0"]
    cascade = CascadeResults(
        names,
        steps,
        {m: np.full((4, 3), 0.5) for m in names},
        {m: np.full((4, 3), 0.5) for m in names},
        {m: np.zeros((4, 3), bool) for m in names},
    )
    lines = plots.plot_cascade(cascade).axes[0].get_lines()
    assert len([ln for ln in lines if not ln.get_label().startswith("_")]) == 5
    layered = layer_plots.plot_cascade_layers(cascade)
    assert sum(ax.get_visible() for ax in layered.axes) == 5
    heat = plots.plot_agreement(res, methods=report.main_methods(names))
    assert len(heat.axes[0].get_xticklabels()) == 5
    with pytest.raises(ValueError, match="per-layer"):
        layer_plots.plot_layer_curves(_layered_results(n_layers=0))
    plt.close("all")
