"""``solution.stats``: bootstrap counts, intervals, p-values and verdicts, against closed forms."""

import numpy as np
import pytest

from v1_orientation.solution.stats import (
    bootstrap_counts,
    bootstrap_difference_p,
    difference_verdict,
    interval_sign,
    percentile_interval,
    permutation_p_value,
)


def test_bootstrap_counts_draw_with_replacement():
    counts = bootstrap_counts(50, n_boot=400, seed=0)
    assert counts.shape == (400, 50)
    assert np.all(counts.sum(axis=1) == 50)
    assert counts.min() >= 0
    # each stimulus is drawn Binomial(50, 1/50) times: mean 1, variance 49/50
    assert counts.mean() == pytest.approx(1.0)
    assert counts.var() == pytest.approx(49 / 50, rel=0.05)
    # about 1 - (1 - 1/50)^50 = 63.6% of the stimuli appear in a resample
    assert np.mean(counts > 0) == pytest.approx(1 - (49 / 50) ** 50, abs=0.01)
    np.testing.assert_array_equal(counts, bootstrap_counts(50, n_boot=400, seed=0))
    assert not np.array_equal(counts, bootstrap_counts(50, n_boot=400, seed=1))


def test_permutation_p_value_closed_forms():
    null = np.arange(99.0)
    assert permutation_p_value(1000.0, null) == pytest.approx(1 / 100)
    assert permutation_p_value(-1.0, null) == pytest.approx(1.0)
    assert permutation_p_value(89.5, null) == pytest.approx((1 + 9) / 100)
    np.testing.assert_allclose(permutation_p_value([1000.0, -1.0], np.c_[null, null]),
                               [0.01, 1.0])


def test_bootstrap_difference_p_closed_forms():
    assert bootstrap_difference_p(np.full(99, 0.3)) == pytest.approx(2 / 100)
    assert bootstrap_difference_p(np.r_[np.full(49, -1.0), np.full(50, 1.0)]) == 1.0
    d = np.r_[np.full(9, -1.0), np.full(90, 1.0)]  # 9 of 99 at or below 0
    assert bootstrap_difference_p(d) == pytest.approx(2 * 10 / 100)


def test_percentile_interval_matches_numpy_quantiles():
    samples = np.random.default_rng(8).normal(size=(1000, 3))
    np.testing.assert_allclose(percentile_interval(samples, 0.9),
                               np.quantile(samples, [0.05, 0.95], axis=0))
    with pytest.raises(ValueError, match="level"):
        percentile_interval(samples, 1.5)


def test_interval_sign_and_difference_verdict():
    assert [interval_sign(*ci) for ci in [(0.1, 0.2), (-0.2, -0.1), (-0.1, 0.1), (0, 0.1)]] == \
        ["> 0", "< 0", "~ 0", "~ 0"]
    d = {"estimate": 0.145, "ci_low": 0.102, "ci_high": 0.19}
    assert difference_verdict(d, "pool", "fc", "Pearson") == (
        "pool", "Pearson: pool - fc = +0.145, 95% CI [+0.102, +0.190], excludes 0")
    d = {"estimate": -0.031, "ci_low": -0.07, "ci_high": 0.01}
    verdict, evidence = difference_verdict(d, "pool", "fc", "Spearman", level=0.9)
    assert verdict == "undecided" and evidence.endswith("90% CI [-0.070, +0.010], includes 0")
    d = {"estimate": -0.2, "ci_low": -0.3, "ci_high": -0.1}
    assert difference_verdict(d, "pool", "fc", "Pearson")[0] == "fc"
