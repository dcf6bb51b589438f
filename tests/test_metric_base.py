"""helpers.metrics.base: each metric's name, range and direction, and their use."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from helpers import metrics
from helpers.book import report
from helpers.metrics import cost, plausibility, sanity
from helpers.metrics.base import Metric
from helpers.stats import ConfidenceInterval

#: name -> (low, high, direction) as the book states them.
EXPECTED = {
    "comprehensiveness": (-1.0, 1.0, "higher is better"),
    "sufficiency": (-1.0, 1.0, "lower is better"),
    "comp - random": (-2.0, 2.0, "higher is better"),
    "deletion AUC": (0.0, 1.0, "lower is better"),
    "insertion AUC": (0.0, 1.0, "higher is better"),
    "AUPRC": (0.0, 1.0, "higher is better"),
    "ERASER AUPRC": (0.0, 1.0, "higher is better"),
    "F1": (0.0, 1.0, "higher is better"),
    "cascade rho": (-1.0, 1.0, "nearer 0 is better"),
    "cascade rho abs": (-1.0, 1.0, "nearer 0 is better"),
    "ms/review": (0.0, math.inf, "lower is better"),
}


def test_every_reported_metric_has_its_range_and_direction():
    assert set(metrics.METRICS) == set(EXPECTED)
    for name, (low, high, direction) in EXPECTED.items():
        metric = metrics.METRICS[name]
        assert (metric.low, metric.high, metric.direction) == (low, high, direction)
        assert metric.what and str(metric).startswith(f"{name} in [")
    assert metrics.SUFFICIENCY.lower_is_better
    assert not metrics.SUFFICIENCY.higher_is_better
    assert metrics.COMPREHENSIVENESS.higher_is_better
    rho = metrics.CASCADE_RHO
    assert not rho.higher_is_better and not rho.lower_is_better
    assert plausibility.AUPRC is metrics.METRICS["AUPRC"]
    assert cost.MS_PER_REVIEW in cost.METRICS and sanity.CASCADE_RHO_ABS.best == 0


def test_direction_gives_arrow_label_key_and_words():
    up = Metric("x", low=0.0, high=1.0, best=1.0, what="a score")
    down = dataclasses.replace(up, best=0.0)
    near = Metric("r", low=-1.0, high=1.0, best=0.0, what="a correlation")
    assert (up.label(), down.label("X"), near.label("ρ")) == ("x ↑", "X ↓", "ρ")
    assert max([0.2, 0.9, 0.5], key=up.key) == 0.9
    assert max([0.2, 0.9, 0.5], key=down.key) == 0.2
    assert max([-0.8, 0.1, 0.6], key=near.key) == 0.1
    assert (up.superlative(), down.superlative()) == ("highest", "lowest")
    assert (up.better, down.better, near.better) == ("higher", "lower", "nearer 0")
    with pytest.raises(ValueError, match="must lie in its range"):
        Metric("bad", low=0.0, high=1.0, best=2.0, what="")


def test_report_headers_come_from_the_metrics():
    headers = report._HEADERS
    assert headers["comprehensiveness"] == "compre\u00adhensiveness ↑"
    assert headers["sufficiency"] == "sufficiency ↓"
    assert headers["comp - random"] == "comp. − random ↑"
    assert headers["cascade rho"] == "cascade ρ"
    assert headers["cascade rho abs"] == "cascade ρ, |map|"
    flipped = dataclasses.replace(metrics.SUFFICIENCY, best=1.0)
    assert flipped.label() == "sufficiency ↑"


def test_table_html_bolds_the_best_value_by_the_metrics_direction():
    def ci(v):
        return ConfidenceInterval(v, v - 0.01, v + 0.01, 50)

    rows = [
        {"method": "a", "comprehensiveness": ci(0.5), "sufficiency": ci(0.3)},
        {"method": "b", "comprehensiveness": ci(0.2), "sufficiency": ci(0.1)},
    ]
    html = report.table_html(rows)
    assert "<b>0.500</b>" in html and "<b>0.100</b>" in html
    assert "<b>0.300</b>" not in html and "<b>0.200</b>" not in html


def test_check_raises_outside_the_range_and_lets_nan_through():
    auprc = metrics.METRICS["AUPRC"]
    assert auprc.check(1.0) == 1.0
    values = np.array([0.0, np.nan, 1.0])
    assert auprc.check(values) is values
    with pytest.raises(ValueError, match=r"AUPRC = 1\.5 lies outside .*\[0, 1\]"):
        auprc.check(1.5)
    with pytest.raises(ValueError, match="ms/review"):
        cost.Cost(ms=-3.0, forwards=1.0, backwards=0.0, n=2)


def test_auprc_is_range_checked_where_it_is_computed(monkeypatch):
    scores, rationale = [0.9, 0.1, 0.5], [True, False, False]
    assert plausibility.auprc(scores, rationale) == pytest.approx(1.0)

    def broken_curve(s, y):  # more true positives than selected tokens
        return np.array([2.0, 3.0]), np.array([-1.0, -1.0])

    monkeypatch.setattr(plausibility, "_curve", broken_curve)
    with pytest.raises(ValueError, match=r"AUPRC = .* lies outside"):
        plausibility.auprc(scores, rationale)


def test_cascade_correlations_are_range_checked():
    table = np.full((2, 1), 0.5)
    bad = {"m": (table, table + 1.0, np.zeros((2, 1), dtype=bool))}
    with pytest.raises(ValueError, match=r"cascade rho abs = 1\.5"):
        sanity._results(["m"], ["head"], bad, baselines=[])
