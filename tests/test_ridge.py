"""``solution.ridge``: ridge on the angle, ridge on the circle and the population vector, on
populations with known tuning, against brute-force refits and NumPy's primal solution.
"""


import numpy as np
import pytest
import torch
from conftest import (
    tuned_population,
    tuned_rows,
)
from sklearn.base import clone

from v1_orientation.solution.circular import (
    angles_to_circle,
    circle_to_angles,
    orientation_difference,
)
from v1_orientation.solution.ridge import (
    AngleRidge,
    CircularRidge,
    PopulationVectorDecoder,
    _DualRidge,
)


def test_circular_ridge_recovers_orientation_on_a_tuned_population():
    theta = np.linspace(-90, 90, 181)
    resp = tuned_population(theta, 300, noise=0.2).resp
    rng = np.random.default_rng(1)
    idx = rng.permutation(len(theta))
    train, test = idx[:108], idx[108:]
    model = CircularRidge().fit(resp[train], theta[train])
    err = orientation_difference(model.predict(resp[test]), theta[test])
    assert np.sqrt(np.mean(err**2)) < 3.0  # degrees; stimuli 1 deg apart, 300 noisy neurons
    assert np.all(model.predict(resp[test]) >= -90) and np.all(model.predict(resp[test]) < 90)


def test_circular_ridge_leave_one_out_is_exact():
    theta = np.linspace(-90, 90, 40)
    resp = tuned_population(theta, 60, noise=0.5).resp
    alpha = 10.0
    model = CircularRidge(alphas=[alpha]).fit(resp, theta)
    # brute force: refit without each stimulus (ridge with intercept via centring)
    errors = []
    for i in range(len(theta)):
        keep = np.arange(len(theta)) != i
        x, y = resp[keep], theta[keep]
        xm = x.mean(0)
        t = angles_to_circle(y)
        tm = t.mean(0)
        xc = x - xm
        w = xc.T @ np.linalg.solve(xc @ xc.T + alpha * np.eye(len(x)), t - tm)
        pred = circle_to_angles(((resp[i] - xm) @ w + tm)[None])
        errors.append(orientation_difference(pred, theta[i])[0])
    assert model.cv_errors_[0] == pytest.approx(np.mean(np.square(errors)), rel=1e-8)


def test_circular_ridge_predicts_the_primal_ridge_solution():
    theta = np.linspace(-90, 90, 30)
    resp = tuned_population(theta, 20, noise=0.3).resp
    alpha = 3.0
    model = CircularRidge(alphas=[alpha]).fit(resp, theta)
    xc = resp - resp.mean(0)
    t = angles_to_circle(theta)
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(20), xc.T @ (t - t.mean(0)))
    np.testing.assert_allclose(model.coef_, w, atol=1e-8)


def test_circular_ridge_predicts_around_a_non_zero_mean_angle():
    # orientations 10..70 deg: the targets' mean (cos 2 theta, sin 2 theta) is far from 0, so
    # the prediction needs the intercept as well as the weights
    theta = np.linspace(10, 70, 61)
    resp = tuned_population(theta, 40, noise=0.3).resp
    train, test = np.arange(0, 61, 2), np.arange(1, 61, 2)
    alpha = 2.0
    model = CircularRidge(alphas=[alpha]).fit(resp[train], theta[train])
    # reference: primal ridge with an unpenalised intercept, decoded with arctan2
    x, phase = resp[train], np.deg2rad(2 * theta[train])
    targets = np.c_[np.cos(phase), np.sin(phase)]
    assert np.hypot(*targets.mean(axis=0)) > 0.5
    xc, tc = x - x.mean(axis=0), targets - targets.mean(axis=0)
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ tc)
    points = (resp[test] - x.mean(axis=0)) @ w + targets.mean(axis=0)
    expected = np.rad2deg(np.arctan2(points[:, 1], points[:, 0])) / 2
    got = model.predict(resp[test])
    np.testing.assert_allclose(orientation_difference(got, expected), 0, atol=1e-8)
    assert np.sqrt(np.mean(orientation_difference(got, theta[test]) ** 2)) < 5


def test_circular_ridge_is_a_scikit_learn_estimator():
    model = CircularRidge(alphas=[1.0, 10.0], period=360.0, angle_min=0.0)
    copy = clone(model)
    assert copy.get_params()["period"] == 360.0 and copy.alphas == [1.0, 10.0]
    with pytest.raises(ValueError, match="one angle per row"):
        model.fit(np.zeros((5, 3)), np.zeros(4))


def test_population_vector_with_unequal_baselines_and_directions():
    # each neuron's own mean is removed: baselines from 0 to 5 must not bias the vote
    theta = np.linspace(-90, 90, 121, endpoint=False)
    rng = np.random.default_rng(3)
    resp = tuned_population(theta, 200, noise=0.1, baseline=rng.uniform(0, 5, 200)).resp
    model = PopulationVectorDecoder().fit(resp[::2], theta[::2])
    err = orientation_difference(model.predict(resp[1::2]), theta[1::2])
    assert np.sqrt(np.mean(err**2)) < 3 and abs(np.mean(err)) < 0.5
    # directions: period 360, answers in [0, 360)
    theta = np.arange(0.0, 360.0, 2.0)
    resp = tuned_population(theta, 200, period=360, noise=0.1).resp
    model = PopulationVectorDecoder(period=360, angle_min=0).fit(resp[::2], theta[::2])
    decoded = model.predict(resp[1::2])
    assert np.all((decoded >= 0) & (decoded < 360))
    err = orientation_difference(decoded, theta[1::2], period=360)
    assert np.sqrt(np.mean(err**2)) < 8  # uneven preferences bias it; chance is 104 deg
    assert PopulationVectorDecoder().get_params() == {"period": 180.0, "angle_min": -90.0}


def test_circular_ridge_decodes_directions_with_its_own_period_and_range():
    theta = np.arange(0.0, 360.0, 3.0)
    resp = tuned_population(theta, 80, period=360, noise=0.2).resp
    train, test = np.arange(0, 120, 2), np.arange(1, 120, 2)
    alphas = [0.1, 10.0]
    model = CircularRidge(alphas=alphas, period=360, angle_min=0).fit(resp[train],
                                                                          theta[train])
    decoded = model.predict(resp[test])
    assert np.all((decoded >= 0) & (decoded < 360))
    assert np.all((model.loo_angles_ >= 0) & (model.loo_angles_ < 360))
    assert np.sqrt(np.mean(orientation_difference(decoded, theta[test], 360) ** 2)) < 5
    # leave-one-out errors on the 360-deg circle, by refitting without each stimulus
    x, y = resp[train], theta[train]
    for alpha, cv_error in zip(alphas, model.cv_errors_, strict=True):
        errors = []
        for i in range(y.size):
            keep = np.arange(y.size) != i
            xc = x[keep] - x[keep].mean(axis=0)
            phase = np.deg2rad(y[keep])
            t = np.c_[np.cos(phase), np.sin(phase)]
            w = xc.T @ np.linalg.solve(xc @ xc.T + alpha * np.eye(y.size - 1), t - t.mean(0))
            point = (x[i] - x[keep].mean(axis=0)) @ w + t.mean(0)
            guess = np.rad2deg(np.arctan2(point[1], point[0]))
            errors.append(orientation_difference(guess, y[i], 360))
        assert cv_error == pytest.approx(np.mean(np.square(errors)), rel=1e-8)


def test_decoders_compute_float32_column_inputs_in_float64():
    # the notebook's data: float32 tensors, orientations as an (n, 1) column
    theta = np.linspace(-90, 90, 61)
    resp = tuned_population(theta, 40, noise=0.3).resp
    x32 = torch.tensor(resp, dtype=torch.float32)
    y32 = torch.tensor(theta, dtype=torch.float32)[:, None]
    x64, y64 = x32.double().numpy(), y32.double().numpy()[:, 0]
    for make in (CircularRidge, AngleRidge, PopulationVectorDecoder):
        got = make().fit(x32, y32).predict(x32)
        np.testing.assert_allclose(got, make().fit(x64, y64).predict(x64), rtol=1e-10,
                                   atol=1e-9, err_msg=make.__name__)
    np.testing.assert_allclose(angles_to_circle(y32), angles_to_circle(y64), rtol=1e-12,
                               atol=1e-15)
    points = torch.tensor(angles_to_circle(y64) * 2.5, dtype=torch.float32)
    np.testing.assert_allclose(circle_to_angles(points),
                               circle_to_angles(points.double().numpy()), rtol=1e-12,
                               atol=1e-12)


def test_angle_ridge_recovers_orientation_on_a_line_and_matches_the_primal_solution():
    theta = np.linspace(-60, 60, 121)  # no wrap-around in this range
    resp = tuned_population(theta, 300, noise=0.2).resp
    idx = np.random.default_rng(2).permutation(len(theta))
    model = AngleRidge().fit(resp[idx[:72]], theta[idx[:72]])
    assert np.sqrt(np.mean((model.predict(resp[idx[72:]]) - theta[idx[72:]]) ** 2)) < 6.0
    # primal ridge with an unpenalised intercept, at the chosen penalty
    x, y = resp[idx[:72]], theta[idx[:72]]
    xc, yc = x - x.mean(0), y - y.mean()
    w = np.linalg.solve(xc.T @ xc + model.alpha_ * np.eye(x.shape[1]), xc.T @ yc)
    np.testing.assert_allclose(model.coef_, w, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, y.mean() - x.mean(0) @ w, atol=1e-8)


def test_angle_ridge_leave_one_out_is_exact():
    theta = np.linspace(-90, 90, 30)
    resp = tuned_population(theta, 40, noise=0.5).resp
    alpha = 5.0
    model = AngleRidge(alphas=[alpha]).fit(resp, theta)
    errors = []
    for i in range(len(theta)):
        keep = np.arange(len(theta)) != i
        x, y = resp[keep], theta[keep]
        xc = x - x.mean(0)
        w = xc.T @ np.linalg.solve(xc @ xc.T + alpha * np.eye(len(x)), y - y.mean())
        errors.append((resp[i] - x.mean(0)) @ w + y.mean() - theta[i])
    assert model.cv_errors_[0] == pytest.approx(np.mean(np.square(errors)), rel=1e-8)


def test_circular_ridge_leave_one_out_angles_are_refits_without_each_stimulus():
    theta = np.linspace(-90, 90, 25)
    resp = tuned_population(theta, 30, noise=0.5).resp
    model = CircularRidge(alphas=[3.0]).fit(resp, theta)
    for i in range(len(theta)):
        keep = np.arange(len(theta)) != i
        refit = CircularRidge(alphas=[3.0]).fit(resp[keep], theta[keep])
        assert model.loo_angles_[i] == pytest.approx(refit.predict(resp[i:i + 1])[0], abs=1e-8)


@pytest.mark.parametrize("n_units", [3, 12, 30])  # p <= n / 2: the thin-SVD path
def test_ridge_with_few_units_leave_one_out_errors_equal_brute_force_refits(n_units):
    resp, theta = tuned_rows(60, n_units)
    alphas = [0.1, 3.0, 100.0]
    model = CircularRidge(alphas=alphas).fit(resp, theta)
    for k, alpha in enumerate(alphas):
        errors = []
        for i in range(theta.size):
            keep = np.arange(theta.size) != i
            x, t = resp[keep], angles_to_circle(theta[keep])
            xm, tm = x.mean(0), t.mean(0)
            w = np.linalg.solve((x - xm).T @ (x - xm) + alpha * np.eye(n_units),
                                (x - xm).T @ (t - tm))
            decoded = circle_to_angles(((resp[i] - xm) @ w + tm)[None])
            errors.append(orientation_difference(decoded, theta[i])[0])
        assert model.cv_errors_[k] == pytest.approx(np.mean(np.square(errors)), rel=1e-8)


@pytest.mark.parametrize("estimator", [CircularRidge, AngleRidge])
def test_ridge_with_few_units_predicts_the_primal_solution(estimator):
    resp, theta = tuned_rows(50, 8, seed=1)
    model = estimator(alphas=[2.0]).fit(resp, theta)
    xc = resp - resp.mean(0)
    targets = angles_to_circle(theta) if estimator is CircularRidge else theta[:, None]
    w = np.linalg.solve(xc.T @ xc + 2.0 * np.eye(8), xc.T @ (targets - targets.mean(0)))
    np.testing.assert_allclose(model.coef_.reshape(w.shape), w, atol=1e-10)


def test_leave_one_out_predictions_for_many_penalties_match_one_at_a_time():
    resp, theta = tuned_rows(40, 90, seed=2)
    fit = _DualRidge(resp, angles_to_circle(theta))
    alphas = np.logspace(-2, 4, 7)
    stacked = fit.loo_predictions(alphas)
    assert stacked.shape == (7, 40, 2)
    for alpha, loo in zip(alphas, stacked, strict=True):
        np.testing.assert_allclose(fit.loo_predictions(alpha), loo, rtol=1e-12, atol=1e-14)
        # and against a refit without stimulus 0, at this penalty
        keep = np.arange(1, 40)
        refit = _DualRidge(resp[keep], angles_to_circle(theta[keep]))
        predicted = (resp[0] - refit.x_mean) @ refit.coef(alpha) + refit.t_mean
        np.testing.assert_allclose(loo[0], predicted, atol=1e-10)
