"""Checks of 1c: the trained CNN tells left from right on fresh gratings."""

CONFIG = {
    "test_accuracy_is_a_fraction": {
        "points": 1, "failure_message": "cnn_accuracy should be the fraction (0 to 1) of fresh "
        "gratings that net classifies correctly"},
    "test_the_network_is_right_on_fresh_gratings": {"points": 1, "hidden": True},
}


def test_accuracy_is_a_fraction(cnn_accuracy):
    assert 0 <= float(cnn_accuracy) <= 1


def test_the_network_is_right_on_fresh_gratings(env):
    import numpy as np

    from ccn_helpers import gratings, predict

    tilt = np.random.default_rng(591).uniform(-90, 90, 500)
    accuracy = np.mean((predict(env["net"], gratings(tilt))[:, 0] > 0.5) == (tilt > 0))
    assert accuracy >= 0.95 and abs(float(env["cnn_accuracy"]) - accuracy) <= 0.05, accuracy
