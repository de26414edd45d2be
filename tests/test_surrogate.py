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

import ccn_helpers as ch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import calibration as cal  # noqa: E402

N_NEURONS, N_BINS = 23589, 360


@pytest.fixture(scope="module")
def surrogate():
    """The full-size surrogate of seed 0 (what fetch_data serves offline)."""
    return ch.simulate_stringer(seed=0)


@pytest.fixture(scope="module")
def surrogate_file(surrogate, tmp_path_factory):
    """The full-size surrogate saved in the recording's format (``resp``, ``stimuli``)."""
    path = tmp_path_factory.mktemp("surrogate") / "surrogate.npz"
    resp, stimuli = surrogate
    np.savez(path, resp=resp, stimuli=stimuli)
    return str(path)


# --- the contract ---------------------------------------------------------------------------


def test_shapes_dtypes_and_stimulus_values(surrogate):
    resp, stimuli = surrogate
    assert isinstance(resp, np.ndarray) and isinstance(stimuli, np.ndarray)
    assert resp.dtype == np.float32 and resp.shape == (N_BINS, N_NEURONS)
    assert stimuli.shape == (N_BINS,)
    np.testing.assert_array_equal(stimuli, np.arange(N_BINS))  # integer degrees, in order
    assert np.all(np.isfinite(resp))


def test_other_sizes():
    resp, stimuli = ch.simulate_stringer(seed=3, n_neurons=7, n_trials=2000)
    assert resp.shape == (N_BINS, 7) and resp.dtype == np.float32 and stimuli.shape == (N_BINS,)


def test_same_seed_is_bitwise_identical_and_other_seeds_differ(surrogate):
    resp, stimuli = surrogate
    again, stimuli_again = ch.simulate_stringer(seed=0)
    assert again.tobytes() == resp.tobytes() and stimuli_again.tobytes() == stimuli.tobytes()
    other, _ = ch.simulate_stringer(seed=1)
    assert np.mean(other != resp) > 0.99


def test_version_is_one_positive_int():
    assert isinstance(ch.SURROGATE_VERSION, int) and ch.SURROGATE_VERSION >= 1


def test_docstring_says_it_is_a_simulation():
    assert "SIMULATION, not mouse V1 data" in ch.simulate_stringer.__doc__


@pytest.mark.parametrize("kwargs", [
    {"n_trials": 359}, {"n_trials": 4598.5}, {"n_neurons": 0}, {"width_median": 0},
    {"width_median": 90}, {"width_spread": -1}, {"second_peak_mean": 1.0},
    {"second_peak_concentration": 0}, {"snr_median": 0}, {"snr_spread": float("nan")},
])
def test_rejects_out_of_range_arguments(kwargs):
    with pytest.raises(ValueError):
        ch.simulate_stringer(**{"n_neurons": 3, **kwargs})


def test_too_few_trials_to_fill_every_bin_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        ch.simulate_stringer(n_neurons=2, n_trials=400)


# --- the preprocessing: z-scored over trials, averaged in 1-degree bins ----------------------


def test_trial_bins_are_the_nearest_degree_and_all_filled():
    counts, orientation = ch._draw_trial_bins(np.random.default_rng(0), 4598)
    assert counts.sum() == 4598 and counts.min() >= 1
    assert counts.mean() == pytest.approx(12.77, abs=0.01)
    np.testing.assert_array_less(np.abs(orientation - np.arange(N_BINS)), 0.5 + 1e-12)


def test_binned_noise_equals_simulating_every_trial_in_distribution():
    """The shortcut (bin means + one chi-square per neuron) against real trials, z-scored."""
    rng = np.random.default_rng(5)
    counts, orientation = ch._draw_trial_bins(rng, 4598)
    preferred, kappa, ratio, snr = ch._draw_tuning_parameters(
        rng, 3000, 14.0, 0.3, 0.6, 5.0, 0.3, 1.0)
    signal = ch._standardised_tuning(orientation, preferred, kappa, ratio)
    signal *= np.sqrt(snr).astype(np.float32)

    shortcut = ch._zscored_bin_means(rng, signal.copy(), counts)

    labels = np.repeat(np.arange(N_BINS), counts)
    trials = signal[labels].astype(np.float64) + rng.standard_normal((labels.size, snr.size))
    zscored = stats.zscore(trials, axis=0)
    brute = np.add.reduceat(zscored, np.r_[0, np.cumsum(counts)[:-1]], axis=0) / counts[:, None]

    # Exactly z-scored: the trial-weighted mean of the bin means is zero.
    np.testing.assert_allclose(counts @ shortcut.astype(np.float64) / counts.sum(), 0, atol=1e-5)
    # Same distribution: per-neuron variance over bins and correlation with the tuning curve.
    for statistic in (lambda r: r.var(axis=0), cal.even_odd_reliability):
        assert statistic(shortcut).mean() == pytest.approx(statistic(brute).mean(), rel=0.01)


def test_pure_noise_bins_have_the_variance_of_a_mean_of_12_8_trials():
    resp, _ = ch.simulate_stringer(seed=2, n_neurons=4000, snr_median=1e-9)
    # ANOVA: between-bin share of a z-scored variable ~ (bins - 1) / (trials - 1), i.e. the
    # count-weighted variance of bin means; unweighted it is ~ mean(1 / n_b) ~ 1 / 11.8.
    assert resp.var(axis=0).mean() == pytest.approx(1 / 11.8, rel=0.05)


# --- calibration against the real recording --------------------------------------------------


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
    resp, stimuli = ch.load_data(surrogate_file)  # 181 stimuli, -90..90 deg
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
    assert peaks["two_peaks"] >= cal.TWO_PEAK_MIN_FRACTION
    assert peaks["orthogonal_peak"] <= cal.ORTHOGONAL_PEAK_MAX_FRACTION
