"""``solution.saturation``: the floor of eps^2(N), on curves with and without a planted floor.

Synthetic curves at the recording's population sizes, from both model families and from neither
(decoding a population with a known stimulus jitter), and the surrogate, whose floor is known:
its bins are labelled by their integer degree while their trials' mean orientation is not.
"""

import numpy as np
import pytest
from conftest import orientations, tuned_population

from v1_orientation.course.surrogate import _draw_trial_bins, simulate_stringer
from v1_orientation.solution.population import decoding_error_curve, decoding_error_curves
from v1_orientation.solution.saturation import (
    MODELS,
    SMALL_ERROR_DEG,
    fit_saturation,
    saturation_fits,
    saturation_mse,
    saturation_table,
    saturation_verdict,
)

# The notebook's sizes: 10 log-spaced from 10 neurons to the recording's 23,589.
SIZES = np.unique(np.geomspace(10, 23589, 10).round().astype(int))


def synthetic_curves(mse, n_repeats=5, noise=0.05, seed=0):
    """Repeats of a curve of mean squared errors (S,) with multiplicative noise: rmse (S, R)."""
    rng = np.random.default_rng(seed)
    return np.sqrt(mse[:, None] * np.exp(noise * rng.standard_normal((mse.size, n_repeats))))


@pytest.mark.parametrize("params, model", [
    ({"a": 900.0, "c": 4e4, "b": 0.004}, "series"),
    ({"a": 50.0, "c": 0.0, "b": 0.0}, "series"),
    ({"a": 2000.0, "gamma": 1.15, "b": 0.02}, "power"),
    ({"a": 700.0, "gamma": 0.9, "b": 0.0}, "power"),
])
def test_noise_free_curves_give_their_parameters_back(params, model):
    mse = saturation_mse(SIZES, params, model)
    np.testing.assert_allclose(mse, params["a"] * SIZES ** -params.get("gamma", 1.0)
                               + params.get("c", 0.0) / SIZES**2 + params["b"])
    fitted = fit_saturation(SIZES, mse, model)
    for name, value in params.items():
        assert fitted[name] == pytest.approx(value, rel=1e-4, abs=1e-7), name


@pytest.mark.parametrize("family", ["series", "power"])
@pytest.mark.parametrize("floor", [0.0066, 0.0])
def test_a_planted_floor_lies_in_the_range_and_no_floor_is_not_detected(family, floor):
    params = ({"a": 800.0, "c": 3e4, "b": floor} if family == "series"
              else {"a": 1500.0, "gamma": 1.1, "b": floor})
    curves = {"interleaved": {"sizes": SIZES,
                              "rmse": synthetic_curves(saturation_mse(SIZES, params, family))}}
    fit = saturation_fits(curves)["interleaved"]
    assert fit["sizes"][0] == SIZES[np.sqrt(saturation_mse(SIZES, params, family)) < 5][0]
    low, high = fit["floor_range"]
    assert low <= floor <= high
    verdict, evidence = saturation_verdict(fit, binning_floor=floor)
    assert "lies inside it" in evidence
    if floor == 0:
        assert verdict == "no floor detected"


def test_information_limiting_jitter_is_a_floor_the_range_contains():
    pop = tuned_population(orientations(), 2000, jitter=0.5)
    sizes = [100, 200, 500, 1000, 2000]
    curve = decoding_error_curve(pop.resp, pop.stimuli, sizes, n_repeats=4, n_folds=5)
    fit = saturation_fits({"interleaved": curve})["interleaved"]
    low, high = fit["floor_range"]
    assert low <= np.mean(pop.jitter**2) <= high and low > 0


def test_independent_noise_falls_as_one_over_sqrt_n_near_the_cramer_rao_bound():
    pop = tuned_population(orientations(), 720)
    sizes = [20, 45, 90, 180, 360, 720]
    curve = decoding_error_curve(pop.resp, pop.stimuli, sizes, n_repeats=3, n_folds=5)
    mean_error = curve["rmse"].mean(axis=1)
    assert -0.62 < np.polyfit(np.log(sizes), np.log(mean_error), 1)[0] < -0.45
    # no unbiased estimator beats the Cramer-Rao bound sqrt(mean 1/I(theta)); a linear readout
    # of (cos 2 theta, sin 2 theta) trained on 144 stimuli stays within a factor 2 of it
    bound = np.sqrt(np.mean(1 / pop.fisher))
    assert 0.95 * bound < mean_error[-1] < 2.0 * bound
    assert fit_saturation(sizes, mean_error**2, "series")["b"] < 0.1 * mean_error[-1] ** 2


@pytest.mark.slow
def test_the_surrogate_binning_floor_lies_in_the_range_at_the_notebooks_settings():
    resp, stimuli = simulate_stringer(seed=0)
    trials, _, _ = np.random.default_rng(0).spawn(3)  # simulate_stringer's trial stream
    _, mean_orientation = _draw_trial_bins(trials, 4598)
    known = np.mean((mean_orientation - stimuli) ** 2)  # the labels' error, deg^2
    assert 0.005 < known < 0.008
    curves = decoding_error_curves(resp, stimuli, SIZES, n_repeats=5, n_folds=10,
                                   schemes=("interleaved", "blocked"), seed=2026, n_jobs=2)
    for scheme, fit in saturation_fits(curves).items():
        low, high = fit["floor_range"]
        assert low <= known <= high, scheme


def test_table_rows_are_the_fits():
    curves = {s: {"sizes": SIZES, "rmse": synthetic_curves(
        saturation_mse(SIZES, {"a": 900.0, "c": 0.0, "b": b}, "series"), seed=k)}
        for k, (s, b) in enumerate([("interleaved", 0.004), ("blocked", 0.01)])}
    fits = saturation_fits(curves)
    values = saturation_table(fits).values()
    assert values["columns"][:2] == ["split", "model"]
    rows = {(r[0], r[1]): dict(zip(values["columns"], r, strict=True)) for r in values["data"]}
    for scheme, fit in fits.items():
        for model, m in fit["models"].items():
            row = rows[scheme, MODELS[model]]
            assert row["b (deg^2)"] == m["b"] and row["b CI high"] == m["b_ci"][1]
            assert row["smallest N fitted"] == fit["sizes"][0] and row["slope"] == fit["slope"]


def test_intervals_are_t_intervals_over_the_repeats_own_fits():
    from scipy import stats

    rmse = synthetic_curves(saturation_mse(SIZES, {"a": 900.0, "c": 1e4, "b": 0.01}, "series"))
    fit = saturation_fits({"s": {"sizes": SIZES, "rmse": rmse}}, level=0.9)["s"]
    keep = rmse.mean(1) < SMALL_ERROR_DEG
    for model, m in fit["models"].items():
        own = [fit_saturation(SIZES[keep], rmse[keep, r] ** 2, model)["b"] for r in range(5)]
        half = stats.t.ppf(0.95, 4) * np.std(own, ddof=1) / np.sqrt(5)
        assert m["b"] == pytest.approx(np.mean(own))
        np.testing.assert_allclose(m["b_ci"], (max(np.mean(own) - half, 0), np.mean(own) + half))
    assert fit["floor_range"] == (min(m["b_ci"][0] for m in fit["models"].values()),
                                  max(m["b_ci"][1] for m in fit["models"].values()))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="three or more sizes"):
        fit_saturation([100, 200], [1.0, 0.5])
    with pytest.raises(ValueError, match="positive"):
        fit_saturation([100, 200, 400], [1.0, 0.0, 0.2])
    with pytest.raises(ValueError, match="model must be"):
        fit_saturation([100, 200, 400], [1.0, 0.5, 0.2], "exponential")



def test_a_curve_with_too_few_small_errors_is_fitted_on_its_three_largest_sizes_and_says_so():
    rmse = synthetic_curves(saturation_mse(SIZES, {"a": 5e5, "c": 0.0, "b": 0.1}, "series"))
    assert (rmse.mean(1) < SMALL_ERROR_DEG).sum() < 3
    fit = saturation_fits({"s": {"sizes": SIZES, "rmse": rmse}})["s"]
    np.testing.assert_array_equal(fit["sizes"], SIZES[-3:])
    assert fit["rule"].startswith("the three largest sizes")
    assert "three largest" in saturation_table({"s": fit}).notes[0]
