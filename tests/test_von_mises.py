"""``solution.von_mises``: von Mises fits on units with planted parameters, and against scipy."""

import warnings

import numpy as np
import pytest
from conftest import tuned_population, tuning_curves
from scipy.optimize import curve_fit

from v1_orientation.solution.circular import (
    orientation_difference,
)
from v1_orientation.solution.von_mises import (
    VonMisesFit,
    fit_von_mises,
    model_tuning_table,
    tuning_width_table,
    units_at_quantiles,
    v1_tuning_table,
    von_mises_cv_r2,
    von_mises_cv_threshold,
)


def test_von_mises_fits_do_not_depend_on_blocks_or_threads():
    rng = np.random.default_rng(9)
    stim = np.arange(0.0, 360.0, 5.0)
    pref = rng.uniform(0, 360, 40)
    resp = (np.exp(4 * (np.cos(np.deg2rad(stim[:, None] - pref)) - 1))
            + 0.2 * rng.standard_normal((stim.size, 40)))
    whole = fit_von_mises(resp, stim, n_iter=2, chunk=1024)
    blocks = fit_von_mises(resp, stim, n_iter=2, chunk=7, n_jobs=2)
    for field in ("preferred", "kappa", "baseline", "amplitudes", "r2"):
        np.testing.assert_allclose(getattr(blocks, field), getattr(whole, field), rtol=1e-12,
                                   atol=1e-12, err_msg=field)
    np.testing.assert_allclose(von_mises_cv_r2(resp, stim, n_jobs=2),
                               von_mises_cv_r2(resp, stim), rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def tuning_fits():
    rng = np.random.default_rng(3)
    stim = np.arange(0, 360, 4.0)
    pref = rng.uniform(0, 360, 50)
    resp = (np.exp(3 * (np.cos(np.deg2rad(stim[:, None] - pref)) - 1))
            + 0.5 * np.exp(3 * (np.cos(np.deg2rad(stim[:, None] - pref - 180)) - 1))
            + 0.2 * rng.standard_normal((stim.size, 50)))
    return stim, resp, fit_von_mises(resp, stim, n_iter=1)


def test_units_at_quantiles_picks_by_sorted_score():
    key = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 2.0])
    units = np.array([0, 2, 3, 4])  # scores 5, 9, 3, 7 -> sorted 3 (3), 0 (5), 4 (7), 2 (9)
    assert units_at_quantiles(units, key, [0.0, 0.5, 1.0]).tolist() == [3, 0, 2]
    assert units_at_quantiles(units, key, [1.0, 0.0], n=1).tolist() == [2]


def test_v1_tuning_table_values(tuning_fits):
    stim, resp, fit = tuning_fits
    cv_r2 = von_mises_cv_r2(resp, stim)
    tuned = cv_r2 > 0.2
    other = np.arange(50) % 3 > 0
    table = v1_tuning_table(fit, fit, cv_r2, 0.2, tuned, other, 0.25)
    values = [row[1] for row in table.values()["data"]]
    assert values == pytest.approx([
        np.median(cv_r2), 0.2, tuned.sum(), tuned.mean(), other.mean(), np.mean(tuned == other),
        np.mean(fit.peak_ratio[tuned] > 0.25), np.median(fit.peak_ratio[tuned]),
        np.median(fit.r2[tuned]), np.median(fit.r2[tuned])])
    text = str(table)
    assert f"{tuned.mean():.1%}" in text and f"{np.median(cv_r2):.3f}" in text
    # what a reader sees: the quantities named, the threshold given, no title unless asked
    labels = [row[0] for row in table.values()["data"]]
    assert table.values()["columns"] == ["quantity", "value"] and table.title == ""
    assert "two peaks, a2/a1 > 0.25 (fraction of the tuned)" in labels
    assert labels[0].startswith("held-out R^2") and labels[-1].endswith("10-deg bins (noise "
                                                                        "averaged down), median")


def test_model_and_width_tables(tuning_fits):
    _, _, fit = tuning_fits
    varies = np.arange(50) < 40
    table = model_tuning_table({"pool": fit}, {"pool": varies})
    assert table.values()["columns"] == ["layer", "units", "varying", "R^2 median", "R^2 > 0.8",
                                         "main peak positive"] and table.title == ""
    (row,) = table.values()["data"]
    r2 = fit.r2[varies]
    assert row == pytest.approx(["pool", 50, 40, np.median(r2), np.mean(r2 > 0.8),
                                 np.mean(fit.amplitudes[varies, 0] > 0)])
    widths = np.array([10.0, 20.0, np.nan, 30.0, np.inf])
    table = tuning_width_table({"V1": widths}, {"V1": 9})
    assert table.values()["columns"] == ["group", "units", "shown", "HWHM median (deg)",
                                         "25th pct", "75th pct", "no HWHM (too broad)"]
    assert table.title == ""
    (row,) = table.values()["data"]
    assert row == ["V1", 9, 5, 20.0, 15.0, 25.0, 2]
    (row,) = tuning_width_table({"V1": np.array([np.nan])}, {"V1": 1}).values()["data"]
    assert row[3:6] == [None, None, None] and row[6] == 1  # no finite width: no quartiles


def hwhm_to_kappa(hwhm_deg, period):
    """Concentration whose peak falls to half height hwhm_deg away (closed form)."""
    return np.log(2) / (1 - np.cos(2 * np.pi * np.asarray(hwhm_deg) / period))


def planted_population(n_units=300, noise=0.1, seed=0):
    """Two peaks 180 deg apart (period 360), random width, heights and baseline per unit."""
    rng = np.random.default_rng(seed)
    truth = {
        "mu": rng.uniform(0, 360, n_units),
        "hwhm": rng.uniform(8, 40, n_units),
        "a1": rng.uniform(0.5, 1.5, n_units),
        "ratio": rng.uniform(0, 0.8, n_units),
        "b": rng.normal(0, 0.2, n_units),
    }
    theta = np.arange(360.0)
    pop = tuned_population(theta, n_units, period=360, n_peaks=2, preferred=truth["mu"],
                           kappa=hwhm_to_kappa(truth["hwhm"], 360),
                           amplitudes=np.c_[truth["a1"], truth["a1"] * truth["ratio"]],
                           baseline=truth["b"], noise=noise, seed=rng)
    return theta, pop.resp, truth


def squared_error(fit, resp, theta):
    """(n_units,) residual sum of squares of a fit, its curves built by conftest's own model."""
    curves = tuning_curves(theta, fit.preferred, fit.kappa, fit.amplitudes, fit.baseline,
                           fit.period)
    return np.sum((resp - curves) ** 2, axis=0)


def test_noise_free_curves_are_recovered_exactly():
    theta, resp, truth = planted_population(n_units=60, noise=0.0, seed=1)
    fit = fit_von_mises(resp, theta, period=360, n_peaks=2, n_iter=15)
    np.testing.assert_allclose(orientation_difference(fit.preferred, truth["mu"], 360), 0,
                               atol=1e-4)
    np.testing.assert_allclose(fit.hwhm, truth["hwhm"], rtol=1e-4)
    np.testing.assert_allclose(fit.amplitudes[:, 0], truth["a1"], rtol=1e-4)
    np.testing.assert_allclose(fit.peak_ratio, truth["ratio"], atol=1e-4)
    np.testing.assert_allclose(fit.baseline, truth["b"], atol=1e-4)
    np.testing.assert_allclose(fit.r2, 1.0, atol=1e-8)


def test_noisy_planted_parameters_are_recovered():
    theta, resp, truth = planted_population(n_units=300, noise=0.1, seed=2)
    fit = fit_von_mises(resp, theta)
    mu_error = np.abs(orientation_difference(fit.preferred, truth["mu"], 360))
    assert np.median(mu_error) < 0.5 and mu_error.max() < 3
    width_error = np.abs(fit.hwhm / truth["hwhm"] - 1)
    assert np.median(width_error) < 0.03 and width_error.max() < 0.2
    assert np.median(np.abs(fit.peak_ratio - truth["ratio"])) < 0.03
    assert np.max(np.abs(fit.baseline - truth["b"])) < 0.1


def test_fit_is_as_good_as_scipy_curve_fit():
    theta, resp, truth = planted_population(n_units=20, noise=0.3, seed=3)
    fit = fit_von_mises(resp, theta)
    ours = fit.predict(theta)
    for n in range(20):
        p0 = [truth["b"][n], truth["a1"][n], truth["a1"][n] * truth["ratio"][n], truth["mu"][n],
              hwhm_to_kappa(truth["hwhm"][n], 360)]

        def model(t, b, a1, a2, mu, kappa):
            return tuning_curves(t, mu, kappa, [a1, a2], b, period=360)[:, 0]

        best, _ = curve_fit(model, theta, resp[:, n], p0=p0)  # started at the truth
        sse_scipy = np.sum((resp[:, n] - model(theta, *best)) ** 2)
        sse_ours = np.sum((resp[:, n] - ours[:, n]) ** 2)
        assert sse_ours <= sse_scipy * (1 + 1e-4)


@pytest.mark.parametrize("n_iter", [1, 3, 8])
def test_refinement_never_ends_worse_than_its_starting_grid_fit(n_iter):
    # The Levenberg-Marquardt stage starts at the grid fit and must keep a step only where it
    # lowers that unit's error: on tuned units and on pure noise (where steps often fail) alike.
    theta, tuned, _ = planted_population(n_units=150, noise=0.3, seed=9)
    noise = np.random.default_rng(10).standard_normal((theta.size, 150))
    resp = np.concatenate([tuned, noise], axis=1)
    grid = squared_error(fit_von_mises(resp, theta, n_iter=0), resp, theta)
    refined = squared_error(fit_von_mises(resp, theta, n_iter=n_iter), resp, theta)
    worse = np.flatnonzero(refined > grid * (1 + 1e-9))
    assert worse.size == 0, f"units {worse[:10]} end above their grid error"
    # and the steps taken do help: most tuned units improve on the grid's coarse optimum
    assert np.mean(refined[:150] < grid[:150] * (1 - 1e-6)) > 0.9


def test_second_peak_higher_is_swapped_to_main():
    theta = np.arange(360.0)
    resp = tuning_curves(theta, [30.0], 8.0, [0.4, 1.0], 0.1, period=360)
    fit = fit_von_mises(resp, theta, n_iter=10)
    assert fit.preferred[0] == pytest.approx(210.0, abs=1e-3)
    assert fit.peak_ratio[0] == pytest.approx(0.4, abs=1e-4)
    assert fit.amplitudes[0, 0] == pytest.approx(1.0, abs=1e-4)


def test_peaks_are_relabelled_main_first_for_any_number_of_peaks():
    # three peaks 120 deg apart, the middle one (at 130 deg) highest
    theta = np.arange(0.0, 360.0, 2.0)
    resp = tuning_curves(theta, [10.0], 6.0, [0.5, 1.0, 0.2], 0.2, period=360)[:, 0]
    fit = fit_von_mises(resp[:, None], theta, period=360, n_peaks=3, n_phi=72, n_iter=15)
    assert fit.preferred[0] == pytest.approx(130.0, abs=1e-3)
    np.testing.assert_allclose(fit.amplitudes[0], [1.0, 0.2, 0.5], atol=1e-4)
    np.testing.assert_allclose(fit.predict(theta)[:, 0], resp, atol=1e-6)


def test_single_peak_orientation_fit_on_assignment_range():
    # 'pool'/'fc' style: stimuli -90..90, responses 180-periodic, one peak per period
    rng = np.random.default_rng(4)
    theta = np.arange(-90.0, 91.0)
    n = 50
    mu = rng.uniform(-90, 90, n)
    hwhm = rng.uniform(5, 30, n)
    a, b = rng.uniform(0.5, 2, n), rng.normal(0, 0.3, n)
    pop = tuned_population(theta, n, preferred=mu, kappa=hwhm_to_kappa(hwhm, 180),
                           amplitudes=a[:, None], baseline=b, noise=0.02, seed=rng)
    fit = fit_von_mises(pop.resp, theta, period=180, n_peaks=1)
    assert fit.amplitudes.shape == (n, 1)
    np.testing.assert_allclose(orientation_difference(fit.preferred, mu, 180), 0, atol=0.5)
    np.testing.assert_allclose(fit.hwhm, hwhm, rtol=0.05)
    assert np.all((fit.preferred >= 0) & (fit.preferred < 180))
    with pytest.raises(ValueError, match="second peak"):
        _ = fit.peak_ratio


def test_hwhm_is_where_the_curve_is_at_half_height():
    theta = np.arange(-90.0, 90.0)
    resp = tuning_curves(theta, [10.0], 3.0, 2.0, 0.5, period=180)
    fit = fit_von_mises(resp, theta, period=180, n_peaks=1, n_iter=10)
    w = fit.hwhm[0]
    at_half = fit.predict([10.0 - w, 10.0 + w])[:, 0]
    np.testing.assert_allclose(at_half, 0.5 + 1.0, atol=1e-6)
    # a curve too broad to fall to half height has no half-width
    broad = VonMisesFit(np.zeros(1), np.array([0.3]), np.zeros(1), np.ones((1, 1)),
                           np.ones(1), 180.0, 1)
    assert np.isnan(broad.hwhm[0])


def test_units_are_fitted_independently():
    theta, resp, _ = planted_population(n_units=40, noise=0.3, seed=5)
    together = fit_von_mises(resp, theta, chunk=16)
    for n in (0, 17, 39):
        alone = fit_von_mises(resp[:, [n]], theta)
        assert together.preferred[n] == pytest.approx(alone.preferred[0], abs=1e-9)
        assert together.kappa[n] == pytest.approx(alone.kappa[0], rel=1e-9)


def test_constant_unit_gives_nan_r2_without_failing():
    theta, resp, _ = planted_population(n_units=3, seed=6)
    resp[:, 1] = 0.7
    fit = fit_von_mises(resp, theta)
    assert np.isnan(fit.r2[1])
    assert np.all(np.isfinite(fit.r2[[0, 2]]))


def test_cross_validated_r2_and_shuffle_threshold_separate_tuned_from_noise():
    theta, tuned, _ = planted_population(n_units=200, noise=0.3, seed=7)
    noise = np.random.default_rng(8).standard_normal(tuned.shape)
    resp = np.concatenate([tuned, noise], axis=1)
    cv = von_mises_cv_r2(resp, theta)
    threshold = von_mises_cv_threshold(resp, theta, n_shuffles=2, quantile=0.99, seed=0)
    assert 0 < threshold < 0.2
    assert np.mean(cv[:200] > threshold) > 0.95
    assert np.mean(cv[200:] > threshold) < 0.05
    # held-out R^2 is below the in-sample R^2 of the same model
    in_sample = fit_von_mises(resp, theta, n_iter=0).r2
    assert np.median(cv[200:]) < np.median(in_sample[200:])


def test_bad_arguments_are_rejected():
    theta, resp, _ = planted_population(n_units=2)
    with pytest.raises(ValueError, match="multiple"):
        fit_von_mises(resp, theta, n_peaks=2, n_phi=71)
    with pytest.raises(ValueError, match="n_stimuli"):
        fit_von_mises(resp[:-1], theta)


def test_cross_validated_r2_is_the_held_out_r2_of_a_fit_on_alternate_stimuli():
    theta, resp, _ = planted_population(n_units=30, noise=0.5, seed=11)
    order = np.random.default_rng(0).permutation(theta.size)  # rows in no sorted order
    theta, resp = theta[order], resp[order]
    kappas = [1.0, 4.0, 16.0]
    for kwargs in ({}, {"n_iter": 2, "kappas": kappas}):
        by_angle = np.argsort(theta)
        train, test = by_angle[0::2], by_angle[1::2]  # 0, 2, 4, ... deg and 1, 3, 5, ... deg
        fit = fit_von_mises(resp[train], theta[train], period=360, n_peaks=2,
                               n_iter=kwargs.get("n_iter", 0), kappas=kwargs.get("kappas"))
        predicted = tuning_curves(theta[test], fit.preferred, fit.kappa, fit.amplitudes,
                                  fit.baseline, 360)
        held_out = resp[test]
        expected = 1 - np.sum((held_out - predicted) ** 2, axis=0) / np.sum(
            (held_out - held_out.mean(axis=0)) ** 2, axis=0)
        np.testing.assert_allclose(von_mises_cv_r2(resp, theta, **kwargs), expected,
                                   rtol=1e-10, atol=1e-12)
    # one orientation peak per 180 deg: period and n_peaks reach the fit
    single = von_mises_cv_r2(resp, theta, period=180, n_peaks=1)
    fit = fit_von_mises(resp[train], theta[train], period=180, n_peaks=1, n_iter=0)
    predicted = tuning_curves(theta[test], fit.preferred, fit.kappa, fit.amplitudes,
                              fit.baseline, 180)
    expected = 1 - np.sum((resp[test] - predicted) ** 2, axis=0) / np.sum(
        (resp[test] - resp[test].mean(axis=0)) ** 2, axis=0)
    np.testing.assert_allclose(single, expected, rtol=1e-10, atol=1e-12)


def test_cv_threshold_is_the_quantile_of_the_shuffled_units_cross_validated_r2():
    theta, resp, _ = planted_population(n_units=20, noise=0.5, seed=12)
    rng = np.random.default_rng(3)
    null = [von_mises_cv_r2(resp[rng.permutation(theta.size)], theta, period=180, n_peaks=1,
                               kappas=[2.0, 8.0]) for _ in range(2)]
    expected = np.nanquantile(np.concatenate(null), 0.8)
    got = von_mises_cv_threshold(resp, theta, period=180, n_peaks=1, n_shuffles=2,
                                    quantile=0.8, seed=3, kappas=[2.0, 8.0])
    assert got == pytest.approx(expected, abs=1e-12)


def test_predict_selects_units_in_the_order_given():
    theta, resp, _ = planted_population(n_units=5, noise=0.2, seed=13)
    fit = fit_von_mises(resp, theta)
    every = fit.predict(theta)
    np.testing.assert_array_equal(fit.predict(theta, units=[3, 0]), every[:, [3, 0]])
    np.testing.assert_allclose(every, tuning_curves(theta, fit.preferred, fit.kappa,
                                                    fit.amplitudes, fit.baseline, 360),
                               atol=1e-12)


def test_a_one_stimulus_spike_keeps_a_finite_concentration():
    # the best curve for a spike at one stimulus is ever narrower: the concentration must stay
    # within a decade of the grid's range instead of running off to infinity
    theta = np.arange(360.0)
    resp = np.zeros((360, 1))
    resp[100, 0] = 1.0
    kappas = np.geomspace(0.5, 200.0, 12)
    fit = fit_von_mises(resp, theta, kappas=kappas, n_iter=30)
    assert kappas.min() / 10 * (1 - 1e-9) <= fit.kappa[0] <= kappas.max() * 10 * (1 + 1e-9)
    assert np.isfinite(fit.r2[0])
    # and the broadest curve, a plain cosine, stops a decade below the grid's smallest kappa
    broad = 0.01 * np.cos(np.deg2rad(theta - 40.0))[:, None]
    fit = fit_von_mises(broad, theta, n_peaks=1, kappas=kappas, n_iter=30)
    assert kappas.min() / 10 * (1 - 1e-9) <= fit.kappa[0] <= kappas.max()
    assert fit.r2[0] > 0.99


@pytest.mark.parametrize(("period", "n_peaks", "amplitudes"), [
    (180, 1, [1.5]), (360, 2, [1.0, 0.4]), (360, 3, [0.5, 1.0, 0.2])])
def test_the_grid_alone_recovers_curves_whose_parameters_lie_on_it(period, n_peaks, amplitudes):
    # mu on a grid phase and kappa one of the grid's: the grid stage is exact, no refinement
    theta = np.arange(0.0, period, period / 180)
    kappas = np.array([1.0, 3.0, 9.0])
    mu = np.array([0.0, 25.0, 105.0]) * period / 360  # multiples of period / 72
    resp = tuning_curves(theta, mu, np.array([3.0, 9.0, 1.0]), np.asarray(amplitudes), 0.3,
                         period)
    fit = fit_von_mises(resp, theta, period=period, n_peaks=n_peaks, kappas=kappas, n_iter=0)
    np.testing.assert_allclose(fit.r2, 1.0, atol=1e-10)
    np.testing.assert_allclose(fit.predict(theta), resp, atol=1e-9)


def test_r2_is_nan_for_constant_units_of_any_sign_and_size_and_finite_otherwise():
    theta, resp, _ = planted_population(n_units=4, seed=14)
    resp[:, 0] = -1e3 / 7  # constant up to the rounding of its mean
    resp[:, 1] = 1e-9 * np.random.default_rng(15).standard_normal(360)  # tiny, but not constant
    resp[:, 2] *= 1e4
    resp[:, 3] = 0.0  # R^2 of an exactly flat unit is 0 / 0
    resp = np.c_[resp, np.full(360, 0.5)]  # exactly constant, fitted up to rounding
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_von_mises(resp, theta)
    assert np.isnan(fit.r2[[0, 3, 4]]).all()
    assert np.all(np.isfinite(fit.r2[1:3])) and np.all(fit.r2[1:3] <= 1)
