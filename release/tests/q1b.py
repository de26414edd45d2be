"""Checks of 1b: the class decoder's test MSE, recomputed from the student's network."""

CONFIG = {
    "test_the_test_errors_are_numbers": {
        "points": 1, "failure_message": "test_mse and test_mse_untrained should be the mean "
        "squared errors (deg^2) of the trained and the untrained decoder on the test stimuli"},
    "test_test_mse_is_the_decoders_error_on_the_class_test_set": {"points": 1, "hidden": True},
    "test_untrained_is_the_class_network_before_training": {"points": 1, "hidden": True},
}


def test_the_test_errors_are_numbers(test_mse, test_mse_untrained):
    import numpy as np

    assert np.isfinite(float(test_mse)) and float(test_mse) > 0
    assert np.isfinite(float(test_mse_untrained)) and float(test_mse_untrained) > 0


def test_test_mse_is_the_decoders_error_on_the_class_test_set(env):
    import numpy as np

    from ccn_helpers import load_data, predict, split_train_test

    _, _, resp_test, stimuli_test = split_train_test(*load_data(env["fname"]))
    predicted = predict(env["decoder"], resp_test)[:, 0]
    mse = float(np.mean((predicted - stimuli_test[:, 0].numpy()) ** 2))
    assert abs(float(env["test_mse"]) - mse) <= 1e-3 * mse, (env["test_mse"], mse)


def test_untrained_is_the_class_network_before_training(env):
    import numpy as np
    import torch

    from ccn_helpers import DeepNetReLU, load_data, predict, split_train_test

    _, _, resp_test, stimuli_test = split_train_test(*load_data(env["fname"]))
    torch.manual_seed(1)
    untrained = DeepNetReLU(resp_test.shape[1], 10)
    mse = float(np.mean((predict(untrained, resp_test)[:, 0] - stimuli_test[:, 0].numpy()) ** 2))
    assert abs(float(env["test_mse_untrained"]) - mse) <= 1e-3 * mse
