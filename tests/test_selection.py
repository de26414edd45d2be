"""``solution.selection``: nested selection inside the training set and the boundary hedge.

References are closed forms (truncated normals from scipy) and direct recomputations.
"""

import numpy as np
import pytest
from conftest import (
    circular_rmse,
    tuned_population,
)
from scipy import stats
from sklearn.base import BaseEstimator, clone

from v1_orientation.solution.crossval import (
    cv_folds,
)
from v1_orientation.solution.mlp import TorchMLPDecoder
from v1_orientation.solution.ridge import AngleRidge, CircularRidge, PopulationVectorDecoder
from v1_orientation.solution.selection import (
    BoundaryHedgedDecoder,
    CVSelectedDecoder,
    make_best_decoder,
    raw_label_posterior_mean,
)


def truncated_normal(mean, sd, low, high):
    """Mass inside [low, high] and mean of N(mean, sd^2) restricted to it (scipy)."""
    a, b = (low - mean) / sd, (high - mean) / sd
    mass = stats.norm.cdf(b) - stats.norm.cdf(a)
    return mass, stats.truncnorm.mean(a, b, loc=mean, scale=sd)


class Spy(BaseEstimator):
    """Circular ridge that records the rows it is fitted on and asked to predict."""

    log = []

    def __init__(self, tag="spy"):
        self.tag = tag

    def fit(self, X, y):
        Spy.log.append(("fit", {row.tobytes() for row in np.asarray(X)}))
        self.model_ = CircularRidge().fit(X, y)
        return self

    def predict(self, X):
        Spy.log.append(("predict", {row.tobytes() for row in np.asarray(X)}))
        return self.model_.predict(X)


@pytest.mark.parametrize("make, bound, scored", [
    (CircularRidge, 2.0, 90.0),
    (PopulationVectorDecoder, 3.0, 90.0),
    pytest.param(lambda: TorchMLPDecoder(hidden=(64,), target="circle", optimizer="adamw",
                                            learning_rate=3e-3, weight_decay=1e-3, n_epochs=300,
                                            input_space="rowspace", device="cpu"), 4.0, 90.0,
                 id="torch-mlp", marks=pytest.mark.slow),
    # by design the hedge pulls predictions within a few sigma of +-90 towards the middle when
    # the training data show end confusions (whether they do depends on the noise drawn), so it
    # is scored away from the ends here and at the ends by the hedge tests below
    (BoundaryHedgedDecoder, 2.0, 80.0),
])
def test_circular_decoders_recover_orientation(split, make, bound, scored):
    # stimuli 1 deg apart, 300 neurons with noise 0.2: about 1 deg is reachable; chance is 52 deg
    resp, theta, train, test = split
    predicted = make().fit(resp[train], theta[train]).predict(resp[test])
    inside = np.abs(theta[test]) <= scored
    assert circular_rmse(predicted[inside], theta[test][inside]) < bound
    assert np.all((predicted >= -90) & (predicted <= 90))


@pytest.mark.parametrize("theta, sigma, flip", [(89.0, 0.5, 1.0), (89.0, 0.5, 0.2),
                                                (-89.4, 0.8, 1.0), (-90.0, 1.0, 0.5)])
def test_posterior_mean_is_the_mixture_of_two_truncated_normals(theta, sigma, flip):
    # near an end the posterior has a branch on each side of the wrap: N(theta, sigma) and
    # N(theta -+ 180, sigma), each cut to [-90, 90]; the far branch is weighted by `flip`
    other = theta - 180 if theta > 0 else theta + 180
    m_near, mu_near = truncated_normal(theta, sigma, -90, 90)
    m_far, mu_far = truncated_normal(other, sigma, -90, 90)
    expected = (m_near * mu_near + flip * m_far * mu_far) / (m_near + flip * m_far)
    got = raw_label_posterior_mean([theta], sigma, flip, grid_step=0.001)
    assert got[0] == pytest.approx(expected, abs=2e-3)


def test_posterior_mean_hedges_to_the_middle_and_leaves_the_interior_alone():
    # at the end itself with no clue about the side, the two ends are equally likely: 0
    assert raw_label_posterior_mean([-90.0], 0.5, 1.0)[0] == pytest.approx(0.0, abs=1e-9)
    # trusting the side: the half-normal mean, -90 + sigma sqrt(2 / pi)
    assert raw_label_posterior_mean([-90.0], 0.5, 0.0, grid_step=0.001)[0] == \
        pytest.approx(-90 + 0.5 * np.sqrt(2 / np.pi), abs=1e-3)
    interior = np.array([-60.0, -3.2, 0.0, 45.5, 80.0])
    np.testing.assert_array_equal(raw_label_posterior_mean(interior, 0.5, 1.0), interior)
    with pytest.raises(ValueError, match="flip_weight"):
        raw_label_posterior_mean([0.0], 1.0, 2.0)


def test_hedge_lowers_the_raw_error_where_a_circular_decoder_confuses_the_ends():
    # responses with period 180 carry no clue to which end a label is at: a circular
    # decoder lands on either end at random and pays ~180^2 when wrong
    y_train = np.linspace(-90, 90, 181)
    x_train = tuned_population(y_train, 300, noise=0.2, noise_seed=1).resp
    y_ends = np.repeat([-90.0, -89.5, 89.5, 90.0], 50)
    x_ends = tuned_population(y_ends, 300, noise=0.2, noise_seed=2).resp
    y_mid = np.linspace(-70, 70, 57)
    x_mid = tuned_population(y_mid, 300, noise=0.2, noise_seed=3).resp
    circular = CircularRidge().fit(x_train, y_train)
    hedged = BoundaryHedgedDecoder().fit(x_train, y_train)
    assert hedged.flip_weight_ > 0  # cross-validation inside the training set saw the flips
    mse = {name: np.mean((model.predict(x_ends) - y_ends) ** 2)
           for name, model in (("circular", circular), ("hedged", hedged))}
    assert mse["hedged"] < 0.9 * mse["circular"]
    # far from the ends the hedge changes nothing
    np.testing.assert_allclose(hedged.predict(x_mid), circular.predict(x_mid), atol=1e-9)


def test_selection_fits_only_on_the_training_rows_and_never_on_its_own_held_out_fold(split):
    resp, theta, train, test = split
    Spy.log = []
    selector = CVSelectedDecoder([("spy", Spy()), ("line", AngleRidge())], n_folds=4)
    selector.fit(resp[train], theta[train])
    selector.predict(resp[test])
    train_rows = {row.tobytes() for row in resp[train]}
    test_rows = {row.tobytes() for row in resp[test]}
    fits = [rows for kind, rows in Spy.log if kind == "fit"]
    predicts = [rows for kind, rows in Spy.log if kind == "predict"]
    assert len(fits) == 5  # 4 folds + the refit of the winner on all training rows
    assert all(rows <= train_rows and not rows & test_rows for rows in fits)
    # in each fold, the rows predicted were not among the rows fitted
    assert all(not fit & held for fit, held in zip(fits[:4], predicts[:4], strict=True))
    assert fits[4] == train_rows and predicts[-1] == test_rows


def test_selection_picks_the_lowest_out_of_fold_raw_mse(split):
    resp, theta, train, _ = split
    candidates = [("line", AngleRidge()), ("circle", CircularRidge())]
    selector = CVSelectedDecoder(candidates, n_folds=5, seed=3).fit(resp[train], theta[train])
    folds = cv_folds(theta[train], 5, "interleaved", seed=3)
    x, y = resp[train], theta[train]
    for name, estimator in candidates:  # recomputed by hand
        predicted = np.empty(y.size)
        for held in folds:
            keep = np.setdiff1d(np.arange(y.size), held)
            predicted[held] = clone(estimator).fit(x[keep], y[keep]).predict(x[held])
        assert selector.cv_mse_[name] == pytest.approx(np.mean((predicted - y) ** 2), rel=1e-10)
    assert selector.best_name_ == min(selector.cv_mse_, key=selector.cv_mse_.get) == "circle"


@pytest.mark.slow
def test_best_decoder_is_unfitted_and_its_predictions_ignore_the_rest_of_the_test_set(split):
    resp, theta, train, test = split
    best = make_best_decoder(seed=0, device="cpu")
    assert not [k for k in vars(best) if k.endswith("_")]  # nothing fitted yet
    fitted = clone(best).fit(resp[train], theta[train])
    again = clone(best).fit(resp[train], theta[train])
    assert fitted.best_name_ == again.best_name_ and fitted.cv_mse_ == again.cv_mse_
    base = fitted.predict(resp[test])
    assert circular_rmse(base, theta[test]) < 2.0
    # change every other test row (and their order): the untouched rows' predictions stay
    rng = np.random.default_rng(0)
    other = resp[test].copy()
    other[1::2] = rng.standard_normal(other[1::2].shape)
    np.testing.assert_array_equal(fitted.predict(other)[::2], base[::2])
    order = rng.permutation(len(test))
    np.testing.assert_array_equal(fitted.predict(resp[test][order]), base[order])
