"""Decoders and nested model selection of the 1b bonus, on populations with known tuning.

References are closed forms (truncated normals from scipy, the class code's permutation),
direct recomputations with numpy, and synthetic populations whose orientation is known.
"""

import numpy as np
import pytest
import torch
from conftest import tuned_population
from scipy import stats
from sklearn.base import BaseEstimator, clone

from v1_orientation.course import training
from v1_orientation.course.networks import DeepNetReLU
from v1_orientation.course.training import train_decoder
from v1_orientation.solution.circular import decoding_errors, orientation_difference
from v1_orientation.solution.comparison import compare_decoders, format_decoder_comparison
from v1_orientation.solution.crossval import (
    blocked_split_indices,
    class_split_indices,
    cv_folds,
    orientation_blocks,
    out_of_fold_predictions,
    random_split_indices,
    selection_folds,
)
from v1_orientation.solution.mlp import ClassMLPDecoder, TorchMLPDecoder, student_recipe_decoder
from v1_orientation.solution.ridge import AngleRidge, CircularRidge, PopulationVectorDecoder
from v1_orientation.solution.selection import (
    BoundaryHedgedDecoder,
    CVSelectedDecoder,
    make_best_decoder,
    raw_label_posterior_mean,
)


@pytest.fixture(scope="module")
def split():
    """181 stimuli at 1-deg steps, 300 noisy tuned neurons, a random 108 / 73 split."""
    theta = np.linspace(-90, 90, 181)
    resp = tuned_population(theta, 300, noise=0.2).resp
    idx = np.random.default_rng(1).permutation(len(theta))
    return resp, theta, idx[:108], idx[108:]


def circular_rmse(predicted, true):
    return np.sqrt(np.mean(orientation_difference(predicted, true) ** 2))


# --- each decoder recovers orientation -------------------------------------------------


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


@pytest.mark.slow
def test_class_mlp_decoder_is_the_class_recipe_and_learns(split):
    resp, theta, train, test = split
    x = torch.tensor(resp[train] * 20, dtype=torch.float32)  # scaled: the class's lr suits
    y = torch.tensor(theta[train], dtype=torch.float32)[:, None]  # ~23,589 inputs
    state = torch.random.get_rng_state()
    model = ClassMLPDecoder(device="cpu").fit(x, y)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's stream is untouched
    torch.manual_seed(1)  # the class code, line by line
    net = DeepNetReLU(x.shape[1], 10)
    train_decoder(net, torch.nn.MSELoss(), x, y, n_epochs=50, learning_rate=1e-4, quiet=True)
    x_test = resp[test] * 20
    expected = training.predict(net, torch.tensor(x_test, dtype=torch.float32))[:, 0]
    np.testing.assert_array_equal(model.predict(x_test), expected)
    # it learns: the median error is far below chance (45 deg for uniform guesses on a line)
    assert np.median(np.abs(model.predict(x_test) - theta[test])) < 10


@pytest.mark.slow
def test_torch_mlp_with_the_class_settings_reproduces_the_class_decoder(split):
    resp, theta, train, test = split
    x = resp[train] * 20
    mlp = TorchMLPDecoder(hidden=(10,), target="angle", optimizer="sgd", learning_rate=1e-4,
                             n_epochs=50, seed=1, device="cpu").fit(x, theta[train])
    cls = ClassMLPDecoder(device="cpu").fit(x, theta[train])
    np.testing.assert_allclose(mlp.predict(resp[test] * 20), cls.predict(resp[test] * 20),
                               rtol=1e-5, atol=1e-4)


def test_torch_mlp_row_space_keeps_inner_products_and_options_work(split):
    resp, theta, train, test = split
    model = TorchMLPDecoder(hidden=(16, 8), dropout=0.2, target="circle", optimizer="adam",
                               n_epochs=5, batch_size=32, lr_step=2, clip_norm=1.0,
                               input_space="rowspace", device="cpu").fit(resp[train],
                                                                         theta[train])
    xc = resp[train] - resp[train].mean(0)
    z = xc @ model.basis_
    gram = xc @ xc.T
    # z z^T is the Gram matrix of the centred responses up to the one global scale
    np.testing.assert_allclose(z @ z.T * (gram.trace() / np.trace(z @ z.T)), gram, atol=1e-8)
    assert len(model.loss_history_) == 5 and not model.net_.training
    again = clone(model).fit(resp[train], theta[train])  # seeded: the same fit twice
    np.testing.assert_array_equal(again.predict(resp[test]), model.predict(resp[test]))
    with pytest.raises(ValueError, match="optimizer"):
        TorchMLPDecoder(optimizer="lbfgs").fit(resp[train], theta[train])


def fold_by_fold(estimator, x, y, folds):
    """Out-of-fold predictions the slow, obvious way: one clone fitted per fold."""
    predicted = np.full(y.size, np.nan)
    for held in folds:
        keep = np.setdiff1d(np.arange(y.size), held)
        predicted[held] = clone(estimator).fit(x[keep], y[keep]).predict(x[held])
    return predicted


@pytest.mark.parametrize("settings", [
    # the selection's network: row space (a different width in each fold), AdamW, circle
    dict(hidden=(32,), target="circle", optimizer="adamw", learning_rate=3e-3,
         weight_decay=1e-3, input_space="rowspace"),
    # two hidden layers on the neurons, Adam with L2 and a step schedule, raw angle
    dict(hidden=(16, 8), target="angle", optimizer="adam", learning_rate=1e-3,
         weight_decay=1e-2, lr_step=20, input_space="neurons"),
    dict(hidden=(16,), target="angle", optimizer="sgd", momentum=0.9, learning_rate=1e-5),
], ids=["rowspace-adamw-circle", "neurons-adam-schedule", "sgd-momentum"])
def test_batched_fold_networks_match_one_fit_per_fold(split, settings):
    resp, theta, train, _ = split
    x, y = resp[train][:60, :120], theta[train][:60]
    # unequal folds (12 and 13 rows), so rows and row-space widths are padded
    folds = [np.sort(f) for f in np.array_split(np.random.default_rng(5).permutation(60), 5)][::-1]
    model = TorchMLPDecoder(n_epochs=60, seed=4, device="cpu", **settings)
    batched = out_of_fold_predictions(model, x, y, folds)
    np.testing.assert_allclose(batched, fold_by_fold(model, x, y, folds), atol=2e-3)


def test_batched_fold_networks_with_dropout_and_fallbacks(split):
    resp, theta, train, _ = split
    x, y = resp[train], theta[train]
    folds = cv_folds(y, 5, "interleaved", seed=2)
    dropout = TorchMLPDecoder(hidden=(64,), dropout=0.1, target="circle", optimizer="adamw",
                                 learning_rate=3e-3, weight_decay=1e-3, n_epochs=150,
                                 input_space="rowspace", seed=0, device="cpu")
    # other dropout masks, the same model: about the same out-of-fold error, far below chance
    errors = [circular_rmse(f(dropout, x, y, folds), y)
              for f in (out_of_fold_predictions, fold_by_fold)]
    assert max(errors) < 4 and errors[0] == pytest.approx(errors[1], rel=0.3)
    np.testing.assert_array_equal(out_of_fold_predictions(dropout, x, y, folds),
                                  out_of_fold_predictions(dropout, x, y, folds))  # seeded
    # mini-batches and clipping couple rows or weights: one fit per fold, exactly
    for option in ({"batch_size": 32}, {"clip_norm": 1.0}):
        model = clone(dropout).set_params(n_epochs=5, **option)
        np.testing.assert_array_equal(out_of_fold_predictions(model, x, y, folds),
                                      fold_by_fold(model, x, y, folds))


@pytest.mark.slow
def test_student_recipe_settings_and_training(split):
    resp, theta, train, test = split
    recipe = student_recipe_decoder(device="cpu")
    params = recipe.get_params()
    assert (params["hidden"], params["optimizer"], params["learning_rate"],
            params["weight_decay"], params["n_epochs"], params["lr_step"], params["lr_gamma"],
            params["clip_norm"], params["target"]) == ((150,), "adam", 1e-3, 0.005, 300, 100,
                                                       0.5, 1.0, "angle")
    model = recipe.fit(resp[train] * 20, theta[train])  # scaled like the recording's rows
    assert model.loss_history_[-1] < 1e-3 * model.loss_history_[0]
    assert np.median(np.abs(model.predict(resp[test] * 20) - theta[test])) < 10


# --- the hedge for the raw-label loss -------------------------------------------------


def truncated_normal(mean, sd, low, high):
    """Mass inside [low, high] and mean of N(mean, sd^2) restricted to it (scipy)."""
    a, b = (low - mean) / sd, (high - mean) / sd
    mass = stats.norm.cdf(b) - stats.norm.cdf(a)
    return mass, stats.truncnorm.mean(a, b, loc=mean, scale=sd)


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


# --- nested model selection ---------------------------------------------------------


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


# --- splits and the comparison table ------------------------------------------------


def test_class_split_indices_follow_the_class_code():
    torch.manual_seed(4)
    ishuffle = torch.randperm(181).numpy()  # the class code
    train, test = class_split_indices(181)
    np.testing.assert_array_equal(train, ishuffle[:108])
    np.testing.assert_array_equal(test, ishuffle[108:])


def test_random_and_blocked_splits_partition_the_stimuli():
    y = np.arange(-90.0, 91.0)
    for train, test in random_split_indices(181, n_splits=3, seed=1):
        assert (len(train), len(test)) == (108, 73)
        np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(181))
    for k, (train, test) in enumerate(blocked_split_indices(y, 10.0, n_splits=3, seed=1)):
        np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(181))
        blocks = orientation_blocks(y, 10.0, seed=[1, k])
        assert not set(blocks[train]) & set(blocks[test])  # whole blocks on one side
        assert len(set(blocks[test])) == round(0.4 * len(set(blocks)))


def test_orientation_blocks_are_arcs_of_the_orientation_circle():
    y = np.arange(-90.0, 91.0)
    blocks = orientation_blocks(y, 10.0, seed=5)
    assert blocks[0] == blocks[-1]  # -90 and +90 are the same orientation
    for label in np.unique(blocks):
        members = y[blocks == label]
        # the arc's members span less than the width once unwrapped around the arc
        spread = np.ptp(np.mod(members - members[0] + 90, 180))
        assert spread < 10.0
    folds = selection_folds(y[::2], n_folds=4, block_width=15.0, seed=2)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(y[::2])))
    fold_blocks = orientation_blocks(y[::2], 15.0, seed=2)
    assert all(not set(fold_blocks[a]) & set(fold_blocks[b])
               for i, a in enumerate(folds) for b in folds[i + 1:])


def test_compare_decoders_scores_the_class_split_like_a_direct_fit(split):
    resp, theta, _, _ = split
    decoders = {"circle": CircularRidge(), "vector": PopulationVectorDecoder()}
    result = compare_decoders(decoders, resp, theta, n_random=2, n_blocked=2,
                                 repeat=["circle"], progress=False)
    train, test = class_split_indices(len(theta))
    direct = CircularRidge().fit(resp[train], theta[train]).predict(resp[test])
    assert result["class"]["errors"]["circle"][0] == decoding_errors(direct, theta[test])
    assert len(result["random"]["errors"]["circle"]) == 2
    assert "vector" not in result["blocked"]["errors"]
    table = format_decoder_comparison(result, "circle", ("vector",))
    assert f"{result['class']['errors']['circle'][0]['mse']:.3f}" in table
    assert "(class split only)" in table and "'circle' MSE as a percentage of 'vector'" in table
