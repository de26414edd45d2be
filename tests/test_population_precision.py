"""Part 2 helpers: decoding precision against population size, on populations of known information.

The synthetic neurons (conftest's ``tuned_population``) have von Mises orientation tuning (period
180 deg) and independent Gaussian noise, so their Fisher information is known in closed form; an
optional per-stimulus jitter of the orientation the population "sees" is information-limiting
noise of known size: no decoder can recover it, so the squared error cannot fall below
``mean(xi^2)`` however many neurons.
"""

import numpy as np
import pytest
from conftest import tuned_population
from scipy import special

from v1_orientation.solution.circular import orientation_difference
from v1_orientation.solution.crossval import cv_folds
from v1_orientation.solution.population import decoding_error_curve
from v1_orientation.solution.ridge import CircularRidge
from v1_orientation.solution.saturation import (
    bootstrap_information_saturation,
    fit_information_saturation,
    saturation_error,
)
from v1_orientation.solution.thresholds import discrimination_threshold
from v1_orientation.solution.tuning import split_half_reliability


def orientations(n_stimuli=180):
    return np.arange(n_stimuli) * 180.0 / n_stimuli


# --- cross-validation folds -------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["interleaved", "blocked"])
def test_folds_partition_the_stimuli(scheme):
    stimuli = np.arange(360.0)
    folds = cv_folds(stimuli, n_folds=10, scheme=scheme, seed=3)
    assert len(folds) == 10
    np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(360))
    assert all(len(f) == 36 for f in folds)


def test_blocked_folds_hold_out_arcs_of_orientation_in_both_directions():
    stimuli = np.arange(360.0)
    for seed in range(5):
        for fold in cv_folds(stimuli, n_folds=10, scheme="blocked", seed=seed):
            orientation = np.mod(stimuli[fold], 180)
            # both directions of every held-out orientation are held out
            np.testing.assert_array_equal(np.sort(orientation[stimuli[fold] < 180]),
                                          np.sort(orientation[stimuli[fold] >= 180]))
            # the 18 held-out orientations are consecutive degrees on the 180 deg circle
            held = np.unique(orientation)
            gaps = np.sort(np.append(np.diff(held), held[0] + 180 - held[-1]))
            assert held.size == 18
            np.testing.assert_array_equal(gaps[:-1], 1)


def test_interleaved_folds_spread_over_all_orientations_and_depend_on_the_seed():
    stimuli = np.arange(360.0)
    folds = cv_folds(stimuli, n_folds=10, seed=0)
    for fold in folds:
        assert np.ptp(np.mod(stimuli[fold], 180)) > 150
    assert not np.array_equal(folds[0], cv_folds(stimuli, n_folds=10, seed=1)[0])


def test_folds_reject_bad_arguments():
    with pytest.raises(ValueError, match="scheme"):
        cv_folds(np.arange(10.0), 2, scheme="random")
    with pytest.raises(ValueError, match="n_folds"):
        cv_folds(np.arange(10.0), 11)
    with pytest.raises(ValueError, match="arc"):  # three of four 45-deg arcs hold no stimulus
        cv_folds(np.array([0.0, 1, 2, 3]), 4, scheme="blocked", period=180.0)


# --- the decoding curve -----------------------------------------------------------------------

def test_gram_embedding_gives_exactly_the_decoder_fitted_on_all_neurons():
    theta = orientations(60)
    resp = tuned_population(theta, 200, noise=0.5).resp
    curve = decoding_error_curve(resp, theta, [200], n_repeats=1, n_folds=5, seed=7)
    # reference: CircularRidge fitted on the 200 neurons themselves, fold by fold
    expected = np.empty(theta.size)
    for test in cv_folds(theta, 5, seed=7):
        train = np.setdiff1d(np.arange(theta.size), test)
        expected[test] = CircularRidge().fit(resp[train], theta[train]).predict(resp[test])
    np.testing.assert_allclose(orientation_difference(curve["decoded"][0], expected), 0,
                               atol=1e-7)
    err = orientation_difference(expected, theta)
    assert curve["rmse"][0, 0] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-6)


def test_error_falls_as_one_over_sqrt_n_for_independent_noise():
    pop = tuned_population(orientations(), 720)
    resp, theta, fisher = pop.resp, pop.stimuli, pop.fisher
    sizes = [20, 45, 90, 180, 360, 720]
    curve = decoding_error_curve(resp, theta, sizes, n_repeats=3, n_folds=5)
    assert curve["rmse"].shape == (6, 3)
    mean_error = curve["rmse"].mean(axis=1)
    slope = np.polyfit(np.log(sizes), np.log(mean_error), 1)[0]
    assert -0.62 < slope < -0.45
    # no unbiased estimator beats the Cramer-Rao bound sqrt(mean 1/I(theta)); a linear
    # readout of (cos 2 theta, sin 2 theta) trained on 144 stimuli stays within a factor 2 of it
    bound = np.sqrt(np.mean(1 / fisher))
    assert 0.95 * bound < mean_error[-1] < 2.0 * bound
    # independent noise: the saturating model finds (almost) no floor
    a, b = fit_information_saturation(sizes[2:], curve["rmse"][2:])
    assert b < 0.1 * mean_error[-1] ** 2
    assert a == pytest.approx(mean_error[2] ** 2 * sizes[2], rel=0.3)


def test_information_limiting_noise_shows_up_as_the_fitted_floor():
    pop = tuned_population(orientations(), 2000, jitter=0.5)
    resp, theta, xi = pop.resp, pop.stimuli, pop.jitter
    sizes = [100, 200, 500, 1000, 2000]
    curve = decoding_error_curve(resp, theta, sizes, n_repeats=3, n_folds=5)
    _, b = fit_information_saturation(sizes, curve["rmse"])
    assert np.sqrt(b) == pytest.approx(np.sqrt(np.mean(xi**2)), rel=0.2)


def test_blocked_split_is_harder_than_interleaved_on_the_same_neurons():
    theta = orientations()
    resp = tuned_population(theta, 300).resp
    kw = {"sizes": [300], "n_repeats": 2, "n_folds": 10, "seed": 0}
    inter = decoding_error_curve(resp, theta, scheme="interleaved", **kw)["rmse"].mean()
    blocked = decoding_error_curve(resp, theta, scheme="blocked", **kw)["rmse"].mean()
    assert blocked > inter


def test_ranked_selection_scores_neurons_on_training_folds_only_and_helps():
    rng = np.random.default_rng(0)
    theta = orientations()
    tuned = tuned_population(theta, 100, noise=0.3).resp
    resp = np.concatenate([tuned, 0.3 * rng.standard_normal((180, 400))], axis=1)  # 400 silent
    seen = []

    def spy(x, y):
        seen.append(np.sort(y))
        return split_half_reliability(x, y, n_bins=18)

    ranked = decoding_error_curve(resp, theta, [10, 50, 500], n_repeats=1, n_folds=5,
                                     rank_by=spy, seed=2)
    folds = cv_folds(theta, 5, seed=2)
    assert len(seen) == 5
    for y, test in zip(seen, folds, strict=True):
        np.testing.assert_array_equal(y, np.sort(np.delete(theta, test)))
    random = decoding_error_curve(resp, theta, [10, 50, 500], n_repeats=3, n_folds=5, seed=2)
    assert ranked["rmse"][0, 0] < 0.5 * random["rmse"][0].mean()
    # with every neuron, selection makes no difference (same folds, same neurons)
    assert ranked["rmse"][2, 0] == pytest.approx(random["rmse"][2, 0], rel=1e-6)


def test_curve_rejects_sizes_out_of_range():
    theta = orientations(40)
    resp = tuned_population(theta, 30).resp
    with pytest.raises(ValueError, match="sizes"):
        decoding_error_curve(resp, theta, [10, 31])


# --- the saturating model ---------------------------------------------------------------------

@pytest.mark.parametrize("a, b", [(900.0, 0.04), (50.0, 0.0), (2000.0, 1.5)])
def test_saturation_fit_recovers_planted_parameters(a, b):
    sizes = np.array([10, 30, 100, 300, 1000, 3000, 10000, 23589])
    exact = np.sqrt(a / sizes + b)
    np.testing.assert_allclose(fit_information_saturation(sizes, exact), (a, b), rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose(saturation_error(sizes, a, b), exact)
    # 3% multiplicative noise on each of 8 repeats
    rng = np.random.default_rng(0)
    noisy = exact[:, None] * np.exp(0.03 * rng.standard_normal((sizes.size, 8)))
    a_hat, b_hat = fit_information_saturation(sizes, noisy)
    assert a_hat == pytest.approx(a, rel=0.1)
    assert b_hat == pytest.approx(b, rel=0.15, abs=0.002)


def test_saturation_bootstrap_resamples_repeats():
    sizes = np.array([100, 300, 1000, 3000, 10000])
    exact = np.sqrt(500 / sizes + 0.01)
    same = np.repeat(exact[:, None], 6, axis=1)
    samples = bootstrap_information_saturation(sizes, same, n_boot=50, seed=0)
    assert samples.shape == (50, 2)
    np.testing.assert_allclose(samples, np.tile([500, 0.01], (50, 1)), rtol=1e-6)
    # a repeat is one curve: resampled whole, so curves scaled by c_r give (a, b) scaled alike
    scaled = exact[:, None] * np.linspace(0.8, 1.2, 6)
    samples = bootstrap_information_saturation(sizes, scaled, n_boot=200, seed=0)
    np.testing.assert_allclose(samples[:, 1] / samples[:, 0], 0.01 / 500, rtol=1e-6)
    assert np.ptp(samples[:, 0]) > 0.05 * 500
    # the 95% percentile interval of b covers the planted value in most of 100 experiments
    rng = np.random.default_rng(5)
    covered = 0
    for k in range(100):
        noisy = exact[:, None] * np.exp(0.05 * rng.standard_normal((sizes.size, 10)))
        samples = bootstrap_information_saturation(sizes, noisy, n_boot=300, seed=k)
        low, high = np.percentile(samples[:, 1], [2.5, 97.5])
        covered += low < 0.01 < high
    assert covered >= 80
    np.testing.assert_array_equal(
        samples, bootstrap_information_saturation(sizes, noisy, n_boot=300, seed=99))


def test_saturation_fit_rejects_bad_input():
    with pytest.raises(ValueError):
        fit_information_saturation([100], [1.0])
    with pytest.raises(ValueError):
        fit_information_saturation([100, 200], [1.0, 0.0])
    with pytest.raises(ValueError):
        bootstrap_information_saturation([100, 200], [1.0, 0.5])


# --- discrimination threshold -----------------------------------------------------------------

def test_threshold_matches_the_closed_form_and_a_simulated_observer():
    sigma = np.array([0.1, 0.35, 2.0])
    probit_75 = np.sqrt(2) * special.erfinv(2 * 0.75 - 1)  # Phi^-1(0.75) = 0.6745
    np.testing.assert_allclose(discrimination_threshold(sigma), probit_75 * sigma)
    # d' = 1 convention: at p_correct = Phi(1) the threshold is sigma itself
    phi_1 = 0.5 * (1 + special.erf(1 / np.sqrt(2)))
    np.testing.assert_allclose(discrimination_threshold(sigma, phi_1), sigma)
    # an observer who calls "clockwise" when the decoded angle exceeds the reference
    rng = np.random.default_rng(0)
    delta = discrimination_threshold(1.3, 0.8)
    decoded = delta + 1.3 * rng.standard_normal(200_000)
    assert np.mean(decoded > 0) == pytest.approx(0.8, abs=0.005)
    with pytest.raises(ValueError):
        discrimination_threshold(1.0, 0.5)
