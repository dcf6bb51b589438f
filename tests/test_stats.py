"""helpers.stats: the Wilson interval, Spearman and the bootstrap interval."""

from __future__ import annotations

import math

import numpy as np
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


def test_spearman_on_known_vectors():
    assert stats.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert stats.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(stats.spearman([1, 1, 1], [1, 2, 3]))
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 30), rng.normal(size=30)
    assert stats.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    with pytest.raises(ValueError, match="one length"):
        stats.spearman([1, 2], [1, 2, 3])


def test_bootstrap_ci_contains_mean_narrows_with_n_and_prints_n():
    rng = np.random.default_rng(1)
    small = stats.bootstrap_ci(rng.normal(2.0, 1.0, 30), seed=0)
    large = stats.bootstrap_ci(rng.normal(2.0, 1.0, 3000), seed=0)
    for ci in (small, large):
        assert ci.low < ci.mean < ci.high
    assert (large.high - large.low) < 0.5 * (small.high - small.low)
    assert large.low < 2.0 < large.high
    ci = stats.bootstrap_ci([1.0, np.nan, 3.0])
    assert ci.n == 2 and ci.with_n().endswith("n = 2") and str(ci).startswith("2.000 [")
    assert stats.bootstrap_ci([1.0, 2.0, 3.0], seed=4) == stats.bootstrap_ci(
        [1.0, 2.0, 3.0], seed=4
    )
    with pytest.raises(ValueError, match="at least one"):
        stats.bootstrap_ci([np.nan])


def test_ranked_puts_highest_first_and_orders_ties_by_seed_not_position():
    order = stats.ranked([0.1, 2.0, 0.5, 2.0, 2.0, 0.1], seed=0).tolist()
    assert sorted(order[:3]) == [1, 3, 4] and order[3] == 2
    ties = {tuple(stats.ranked([1.0] * 8, seed=s).tolist()) for s in range(5)}
    assert len(ties) > 1 and tuple(range(8)) not in ties
    assert (
        stats.ranked([1.0] * 8, seed=3).tolist() == stats.ranked([1.0] * 8, 3).tolist()
    )
