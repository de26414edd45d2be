"""``solution.mlp``: the MLP decoders (class recipe, student recipe, batched fold networks)."""

import numpy as np
import pytest
import torch
from conftest import (
    circular_rmse,
)
from sklearn.base import clone

from v1_orientation.course import training
from v1_orientation.course.networks import DeepNetReLU
from v1_orientation.course.training import train_decoder
from v1_orientation.solution.crossval import (
    cv_folds,
    out_of_fold_predictions,
)
from v1_orientation.solution.mlp import ClassMLPDecoder, TorchMLPDecoder, student_recipe_decoder


def fold_by_fold(estimator, x, y, folds):
    """Out-of-fold predictions the slow, obvious way: one clone fitted per fold."""
    predicted = np.full(y.size, np.nan)
    for held in folds:
        keep = np.setdiff1d(np.arange(y.size), held)
        predicted[held] = clone(estimator).fit(x[keep], y[keep]).predict(x[held])
    return predicted


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
