"""The offline surrogate ``simulate_stringer``: its contract, its exactness, its calibration.

The calibration targets are the real recording's published numbers (shared/reference.md);
the measurements are defined once, in benchmarks/calibration.py, which prints them side by
side. The surrogate is a simulation: these tests check the model, not mouse V1.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import calibration as cal  # noqa: E402

from v1_orientation.course.recording import load_data
from v1_orientation.course.surrogate import (
    SURROGATE_VERSION,
    _draw_shared_loadings,
    _draw_trial_bins,
    _draw_tuning_parameters,
    _shared_noise_variances,
    _standardised_tuning,
    _zscored_bin_means,
    simulate_stringer,
)

N_NEURONS, N_BINS = 23589, 360


@pytest.fixture(scope="module")
def surrogate():
    """The full-size surrogate of seed 0 (what fetch_data serves offline)."""
    return simulate_stringer(seed=0)


@pytest.fixture(scope="module")
def surrogate_file(surrogate, tmp_path_factory):
    """The full-size surrogate saved in the recording's format (``resp``, ``stimuli``)."""
    path = tmp_path_factory.mktemp("surrogate") / "surrogate.npz"
    resp, stimuli = surrogate
    np.savez(path, resp=resp, stimuli=stimuli)
    return str(path)


def _simulate_every_trial(rng, signal, counts, loadings, shared_fraction):
    """The model written out trial by trial: tuning + shared + private noise, z-scored, binned."""
    labels = np.repeat(np.arange(N_BINS), counts)
    latents = rng.standard_normal((labels.size, loadings.shape[0]))
    private = rng.standard_normal((labels.size, signal.shape[1]))
    trials = (signal[labels].astype(np.float64) + latents @ loadings
              + np.sqrt(1 - shared_fraction) * private)
    zscored = stats.zscore(trials, axis=0)
    return np.add.reduceat(zscored, np.r_[0, np.cumsum(counts)[:-1]], axis=0) / counts[:, None]


def _top_component_share(resp):
    """Share of the across-bin variance in the top 5 principal components."""
    centred = resp - resp.mean(axis=0)
    eigenvalues = np.linalg.eigvalsh(centred @ centred.T)[::-1]
    return eigenvalues[:5].sum() / eigenvalues.sum()


def _signal_part(resp, signal):
    """Least-squares projection of each neuron's bins onto its own tuning curve."""
    signal = signal.astype(np.float64)
    centred = signal - signal.mean(axis=0)
    scale = (centred * resp).sum(axis=0) / np.maximum((centred**2).sum(axis=0), 1e-12)
    return centred * scale


def test_shapes_dtypes_and_stimulus_values(surrogate):
    resp, stimuli = surrogate
    assert isinstance(resp, np.ndarray) and isinstance(stimuli, np.ndarray)
    assert resp.dtype == np.float32 and resp.shape == (N_BINS, N_NEURONS)
    assert stimuli.shape == (N_BINS,)
    np.testing.assert_array_equal(stimuli, np.arange(N_BINS))  # integer degrees, in order
    assert np.all(np.isfinite(resp))


def test_other_sizes():
    resp, stimuli = simulate_stringer(seed=3, n_neurons=7, n_trials=2000)
    assert resp.shape == (N_BINS, 7) and resp.dtype == np.float32 and stimuli.shape == (N_BINS,)


def test_same_seed_is_bitwise_identical_and_other_seeds_differ(surrogate):
    resp, stimuli = surrogate
    again, stimuli_again = simulate_stringer(seed=0)
    assert again.tobytes() == resp.tobytes() and stimuli_again.tobytes() == stimuli.tobytes()
    other, _ = simulate_stringer(seed=1)
    assert np.mean(other != resp) > 0.99


def test_version_is_one_positive_int():
    assert isinstance(SURROGATE_VERSION, int) and SURROGATE_VERSION >= 1


def test_docstring_says_it_is_a_simulation():
    assert "SIMULATION, not mouse V1 data" in simulate_stringer.__doc__


@pytest.mark.parametrize("kwargs", [
    {"n_trials": 360}, {"n_trials": 4598.5}, {"n_neurons": 0}, {"width_median": 0},
    {"width_median": 90}, {"width_spread": -1}, {"second_peak_mean": 1.0},
    {"second_peak_concentration": 0}, {"signal_median": 0}, {"signal_median": 1},
    {"signal_spread": float("nan")}, {"signal_max": 1.0}, {"shared_fraction": 1.0},
    {"shared_fraction": -0.1}, {"shared_dims": 0}, {"shared_dims": 2.5}, {"shared_decay": -1},
])
def test_rejects_out_of_range_arguments(kwargs):
    with pytest.raises(ValueError):
        simulate_stringer(**{"n_neurons": 3, **kwargs})


def test_too_few_trials_to_fill_every_bin_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        simulate_stringer(n_neurons=2, n_trials=400)


def test_trial_bins_are_the_nearest_degree_and_all_filled():
    counts, orientation = _draw_trial_bins(np.random.default_rng(0), 4598)
    assert counts.sum() == 4598 and counts.min() >= 1
    assert counts.mean() == pytest.approx(12.77, abs=0.01)
    np.testing.assert_array_less(np.abs(orientation - np.arange(N_BINS)), 0.5 + 1e-12)


@pytest.mark.parametrize("shared_fraction", [0.0, 0.5])
def test_binned_noise_equals_simulating_every_trial_in_distribution(shared_fraction):
    """The shortcut (bin means + two draws per neuron) against real trials, z-scored.

    With shared noise the bins are correlated across neurons; the statistics compared
    include the share of variance in the top principal components, which the shared
    noise sets, so a mis-scaled shared part (or one left out) fails.
    """
    rng = np.random.default_rng(5)
    counts, orientation = _draw_trial_bins(rng, 4598)
    preferred, kappa, ratio, snr = _draw_tuning_parameters(
        rng, 3000, 14.0, 0.3, 0.6, 5.0, 0.2, 1.0, 0.95)
    loadings = _draw_shared_loadings(rng, 3000, shared_fraction, 10, 1.0)
    signal = _standardised_tuning(orientation, preferred, kappa, ratio)
    signal *= np.sqrt(snr).astype(np.float32)

    shortcut = _zscored_bin_means(rng, signal.copy(), counts, loadings, shared_fraction)
    brute = _simulate_every_trial(rng, signal, counts, loadings, shared_fraction)

    # Exactly z-scored: the trial-weighted mean of the bin means is zero.
    np.testing.assert_allclose(counts @ shortcut.astype(np.float64) / counts.sum(), 0, atol=1e-5)
    # Same distribution: per-neuron variance over bins, correlation with the tuning curve,
    # and the noise's structure across neurons (variance share of the top 5 components).
    # (Tolerances: about 3 times the spread between independent draws; leaving the shared
    # part out moves the component share from ~0.35 to ~0.04, halving it to ~0.24.)
    for statistic, rel in ((lambda r: r.var(axis=0).mean(), 0.02),
                           (lambda r: cal.even_odd_reliability(r).mean(), 0.02),
                           (lambda r: _top_component_share(r - _signal_part(r, signal)), 0.15)):
        assert statistic(shortcut) == pytest.approx(statistic(brute), rel=rel)


def test_shared_noise_variances_follow_the_power_law():
    variances = _shared_noise_variances(30, 1.0)
    assert variances.shape == (30,) and variances.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(variances / variances[0], 1 / np.arange(1, 31))
    np.testing.assert_allclose(_shared_noise_variances(4, 0.0), 0.25)


def test_shared_loadings_have_the_requested_expected_share():
    loadings = _draw_shared_loadings(np.random.default_rng(0), 200_000, 0.4, 30, 1.0)
    assert loadings.shape == (30, 200_000)
    assert (loadings**2).sum(axis=0).mean() == pytest.approx(0.4, rel=0.01)
    assert not _draw_shared_loadings(np.random.default_rng(0), 5, 0.0, 3, 1.0).any()


def test_pure_noise_bins_have_the_variance_of_a_mean_of_12_8_trials():
    resp, _ = simulate_stringer(seed=2, n_neurons=4000, signal_median=1e-9)
    # ANOVA: between-bin share of a z-scored variable ~ (bins - 1) / (trials - 1), i.e. the
    # count-weighted variance of bin means; unweighted it is ~ mean(1 / n_b) ~ 1 / 11.8.
    assert resp.var(axis=0).mean() == pytest.approx(1 / 11.8, rel=0.05)


def test_class_decoder_log_is_within_a_factor_1_5_of_the_published_one(surrogate):
    log = cal.class_decoder_log(*surrogate)
    assert sorted(log) == [10, 20, 30, 40, 50]
    for iteration, published in cal.PUBLISHED_DECODER_LOG.items():
        ratio = log[iteration] / published
        assert 1 / cal.DECODER_LOG_FACTOR <= ratio <= cal.DECODER_LOG_FACTOR, (
            f"iteration {iteration}: surrogate {log[iteration]:.1f} vs published {published}")


def test_template_rdm_correlations_are_within_0_05_of_the_real_ones(surrogate_file):
    correlations = cal.template_rdm_correlations(surrogate_file)
    for layer, real in cal.REAL_RDM_CORRELATIONS.items():
        assert correlations[layer] == pytest.approx(real, abs=cal.RDM_TOLERANCE), layer


def test_ridge_decodes_the_assignments_181_stimuli_within_1_to_4_degrees(surrogate_file):
    resp, stimuli = load_data(surrogate_file)  # 181 stimuli, -90..90 deg
    assert resp.shape[0] == 181
    low, high = cal.RIDGE_ERROR_RANGE
    assert low <= cal.ridge_median_error(resp, stimuli) <= high


def test_most_well_tuned_neurons_have_two_peaks_180_degrees_apart(surrogate):
    """Well tuned: even/odd-degree split-half reliability >= 0.8 (4-deg smoothing).

    Two peaks: within 30 deg of 180 deg from the main peak, the smoothed tuning curve
    rises above its median by at least 25% of the main peak's height. Control: the same
    criterion at 90 deg, where two-peaked tuning has a trough, must rarely hold.
    """
    peaks = cal.two_peak_fractions(surrogate[0])
    assert peaks["n_well_tuned"] >= 1000
    assert peaks["two_peaks"] > cal.TWO_PEAK_MIN_FRACTION
    assert peaks["orthogonal_peak"] <= cal.ORTHOGONAL_PEAK_MAX_FRACTION


@pytest.mark.parametrize("recipe", cal.CHEAP_RECIPES)
def test_adam_decoder_of_the_students_table_is_within_a_factor_1_5(surrogate_file, recipe):
    """The cheapest recipe(s) of the real recording's Adam table (tests stay under a minute).

    The twelve recipes, and the share of each one's error at the seam, are in
    benchmarks/calibration.py; this checks the seam is resolved about as well as in the
    recording, not at the surrogate v1's 4-5 times the real error.
    """
    resp, stimuli = load_data(surrogate_file)
    mse, _ = cal.student_table_mse(resp, stimuli, *recipe)
    published = cal.PUBLISHED_DECODER_TABLE[recipe]
    assert 1 / cal.DECODER_TABLE_FACTOR <= mse / published <= cal.DECODER_TABLE_FACTOR, (
        f"H={recipe[0]}, wd={recipe[1]}: surrogate {mse:.2f} vs published {published}")


def test_surrogate_fisher_information_against_a_direct_computation():
    """Woodbury and the analytic slope against an explicit covariance and finite differences."""
    params = {"n_neurons": 40, "width_median": 20.0, "width_spread": 0.3, "second_peak_mean": 0.5,
              "second_peak_concentration": 1.5, "signal_median": 0.1, "signal_spread": 1.0,
              "signal_max": 0.95, "shared_fraction": 0.6, "shared_dims": 5, "shared_decay": 0.5}
    fisher, counts = cal.surrogate_fisher_information(3, **params)

    trials_rng, tuning_rng, _ = np.random.default_rng(3).spawn(3)
    counts_direct, orientation = _draw_trial_bins(trials_rng, 4598)
    preferred, kappa, ratio, snr = _draw_tuning_parameters(
        tuning_rng, 40, 20.0, 0.3, 0.5, 1.5, 0.1, 1.0, 0.95)
    loadings = _draw_shared_loadings(tuning_rng, 40, 0.6, 5, 0.5)
    def curves(theta):  # the docstring's h_n(theta), in float64
        delta = np.deg2rad(theta)[:, None] - np.deg2rad(preferred)[None, :]
        return np.exp(kappa * (np.cos(delta) - 1)) + ratio * np.exp(kappa * (-np.cos(delta) - 1))

    step = 1e-3  # deg
    slope = (curves(orientation + step) - curves(orientation - step)) / (2 * step)
    slope /= curves(orientation).std(axis=0)  # g_n: h_n standardised over the bins
    trial_sd = np.sqrt(snr + 1)
    mean_slope = np.sqrt(snr) * slope / trial_sd
    covariance = (np.diag(np.full(40, 0.4)) + loadings.T @ loadings) / np.outer(trial_sd, trial_sd)
    direct = np.einsum("bn,bn->b", mean_slope, np.linalg.solve(covariance, mean_slope.T).T)

    np.testing.assert_array_equal(counts, counts_direct)
    np.testing.assert_allclose(fisher, direct, rtol=1e-5)
    assert np.all(fisher > 0)
