"""helpers.stats: the Wilson interval (Spearman and the bootstrap: test_metrics)."""

from __future__ import annotations

import math

import pytest

from helpers import stats


def test_wilson_interval_matches_the_textbook_value():
    low, high = stats.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3)
    assert high == pytest.approx(0.9433, abs=1e-3)


def test_wilson_interval_stays_in_the_unit_interval_and_knows_no_data():
    low, high = stats.wilson_interval(0, 20)
    assert low == 0.0 and 0.0 < high < 0.2
    low, high = stats.wilson_interval(20, 20)
    assert 0.8 < low < 1.0 and high == pytest.approx(1.0)
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))
