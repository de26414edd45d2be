"""``solution.saturation``: the fit of eps^2 = a / N + b, on curves with and without a floor."""


import numpy as np
import pytest
from conftest import (
    fake_curves,
    orientations,
    tuned_population,
)

from v1_orientation.solution.population import (
    decoding_error_curve,
)
from v1_orientation.solution.saturation import (
    bootstrap_information_saturation,
    fit_information_saturation,
    saturation_error,
    saturation_fits,
    saturation_table,
    saturation_verdict,
)


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


def test_saturation_fits_table_and_verdict():
    curves = fake_curves()
    fits = saturation_fits(curves, 100, n_boot=200, seed=1)
    rmse = curves["interleaved"]["rmse"][1:]
    a, b = fit_information_saturation([100, 1000, 10000], rmse)
    f = fits["interleaved"]
    assert (f["a"], f["b"]) == (a, b)
    assert f["slope"] == pytest.approx(np.polyfit(np.log([100, 1000, 10000]),
                                                  np.log(rmse.mean(1)), 1)[0])
    np.testing.assert_array_equal(
        f["boot"], bootstrap_information_saturation([100, 1000, 10000], rmse, 200, seed=1))
    assert f["error_all"] == curves["interleaved"]["rmse"][-1].mean()
    values = saturation_table(fits, 100).values()
    assert values["columns"] == ["quantity", "interleaved", "interleaved CI low",
                                 "interleaved CI high", "blocked", "blocked CI low",
                                 "blocked CI high"]
    b_row = dict(zip(values["columns"], values["data"][4], strict=True))
    low, high = np.percentile(f["boot"][:, 1], [2.5, 97.5])
    assert b_row["quantity"] == "b (deg^2)"
    assert [b_row["interleaved"], b_row["interleaved CI low"], b_row["interleaved CI high"]] == \
        pytest.approx([b, low, high])
    floor = {"a": 900.0, "b": 0.01, "boot": np.column_stack([np.full(50, 900.0),
                                                              np.linspace(0.005, 0.02, 50)])}
    verdict, evidence = saturation_verdict(floor, 20000)
    assert verdict == "floor detected" and "excludes 0" in evidence
    assert "half the asymptotic information at N = 9e+04 (4.5 x the recorded neurons)" in evidence
    floor["boot"][:5, 1] = 0.0
    verdict, evidence = saturation_verdict(floor, 20000)
    assert verdict == "no detectable saturation" and "includes 0" in evidence
