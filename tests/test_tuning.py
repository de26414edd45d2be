"""``solution.tuning``: binned tuning curves, split-half reliability and preferred orientation,
against direct numpy computations.
"""

import warnings

import numpy as np
import pytest
from conftest import (
    tuned_population,
)

from v1_orientation.solution.circular import orientation_difference
from v1_orientation.solution.tuning import (
    binned_tuning,
    preferred_orientation,
    reliability_threshold,
    split_half_reliability,
)


def test_binned_tuning_means():
    resp = np.arange(12.0).reshape(6, 2)
    centres, curves = binned_tuning(resp, [0, 1, 2, 3, 4, 5], n_bins=3)
    np.testing.assert_allclose(curves, [[1, 2], [5, 6], [9, 10]])
    np.testing.assert_allclose(centres, [5 / 6, 2.5, 25 / 6])


def test_split_half_reliability_separates_tuned_from_noise():
    pop = tuned_population(np.arange(360.0), 200, noise=0.3)
    resp, stimuli = pop.resp, pop.stimuli
    noise = np.random.default_rng(1).standard_normal(resp.shape)
    both = np.concatenate([resp, noise], axis=1)
    rel = split_half_reliability(both, stimuli)
    assert rel.shape == (400,)
    # signal variance of the binned curve over signal plus noise variance (5 trials a bin)
    signal = np.var(binned_tuning(pop.clean, stimuli, 36)[1], axis=0)
    expected = signal / (signal + 0.3**2 / 5)
    assert np.median(rel[:200]) == pytest.approx(np.median(expected), abs=0.05)
    assert abs(np.median(rel[200:])) < 0.1
    threshold = reliability_threshold(both, stimuli)
    assert 0.2 < threshold < 0.8
    assert np.mean(rel[:200] > threshold) > 0.95 and np.mean(rel[200:] > threshold) < 0.05


def test_preferred_orientation_recovers_the_peak():
    pop = tuned_population(np.arange(360.0), 200, noise=0.05)
    found, selectivity = preferred_orientation(pop.resp, pop.stimuli)
    assert np.max(np.abs(orientation_difference(found, pop.preferred))) < 2
    assert np.all(selectivity > 0.3)
    _, flat = preferred_orientation(np.ones((360, 3)), pop.stimuli)
    np.testing.assert_array_equal(flat, 0)


def test_a_silent_unit_gets_selectivity_zero_without_a_warning():
    resp = np.c_[np.ones(360), np.cos(np.deg2rad(2 * np.arange(360.0)))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, selectivity = preferred_orientation(resp, np.arange(360.0))
    assert selectivity[0] == 0 and selectivity[1] > 0.5


def test_preferred_orientation_and_selectivity_closed_forms():
    # r = b + a cos(2 (theta - mu)) sampled every degree: the vector sum points exactly at mu,
    # and |z| / sum|r - mean r| = (S a / 2) / (S a 2 / pi) = pi / 4, whatever b and a
    theta = np.arange(360.0)
    mu = np.array([10.0, 47.5, 130.0, 170.0])
    b, a = np.array([0.0, 5.0, -3.0, 0.2]), np.array([1.0, 2.0, 0.5, 1e-3])
    resp = b + a * np.cos(np.deg2rad(2 * (theta[:, None] - mu)))
    found, selectivity = preferred_orientation(resp, theta)
    np.testing.assert_allclose(found, mu, atol=1e-9)
    np.testing.assert_allclose(selectivity, np.pi / 4, rtol=1e-3)
    # directions: period 360 and a single cosine peak
    resp = np.cos(np.deg2rad(theta[:, None] - [200.0, 30.0]))
    np.testing.assert_allclose(preferred_orientation(resp, theta, period=360)[0], [200, 30],
                               atol=1e-9)


def test_reliability_threshold_is_the_quantile_of_shuffled_reliabilities():
    pop = tuned_population(np.arange(360.0), 30, noise=1.0)
    rng = np.random.default_rng(7)
    null = [split_half_reliability(pop.resp[rng.permutation(360)], pop.stimuli, 12)
            for _ in range(3)]
    expected = np.quantile(np.concatenate(null), 0.9)
    got = reliability_threshold(pop.resp, pop.stimuli, n_bins=12, n_shuffles=3, quantile=0.9,
                                   seed=7)
    assert got == pytest.approx(expected, abs=1e-12)


def test_an_empty_bin_is_nan_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, curves = binned_tuning(np.ones((4, 2)), [0, 1, 8, 9], n_bins=3)
    assert np.isnan(curves[1]).all() and np.all(curves[[0, 2]] == 1)


def test_binned_tuning_edges_given_and_stimuli_outside_them():
    resp = np.arange(12.0).reshape(6, 2)
    centres, curves = binned_tuning(resp, [-1, 1, 2, 5, 6, 9], n_bins=2, low=0, high=8)
    np.testing.assert_allclose(centres, [2, 6])
    # -1 falls below the first edge and 9 above the last: they join the end bins
    np.testing.assert_allclose(curves, [[2, 3], [8, 9]])


def test_split_half_reliability_against_a_direct_computation():
    pop = tuned_population(np.random.default_rng(1).permutation(360).astype(float), 6, noise=0.5)
    resp, stimuli = pop.resp, pop.stimuli
    order = np.argsort(stimuli)
    edges = np.linspace(stimuli.min(), stimuli.max(), 19)  # both halves share the bins
    curves = []
    for half in (order[0::2], order[1::2]):
        index = np.clip(np.digitize(stimuli[half], edges) - 1, 0, 17)
        curves.append(np.array([resp[half][index == b].mean(axis=0) for b in range(18)]))
    expected = [np.corrcoef(curves[0][:, n], curves[1][:, n])[0, 1] for n in range(6)]
    np.testing.assert_allclose(split_half_reliability(resp, stimuli, n_bins=18), expected,
                               atol=1e-12)


def test_reliability_of_flat_and_faint_units():
    theta = np.arange(360.0)
    faint = 1e-3 * np.cos(np.deg2rad(2 * theta))  # tiny and noise-free: reliable
    resp = np.c_[np.full(360, 4.0), faint]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reliability = split_half_reliability(resp, theta)
    assert reliability[0] == 0.0  # a flat unit has no tuning to reproduce
    assert reliability[1] > 0.99  # the halves sample each bin at alternate degrees
