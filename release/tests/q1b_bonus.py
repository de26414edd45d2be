"""The 1b bonus: one prediction per test stimulus, and, for the leaderboard, their test MSE.

The hidden check recomputes the test MSE from the predictions and the class split's test
stimuli of the file this run loaded and, when the grading tool names a file for it in
``CCN_LEADERBOARD_FILE``, writes it there (the check earns no points).
"""

CONFIG = {
    "test_one_prediction_per_test_stimulus": {
        "points": 0, "failure_message": "bonus_test_predictions should hold one predicted "
        "orientation (deg) per row of resp_test, in their order"},
    "test_record_the_test_mse_for_the_leaderboard": {"points": 0, "hidden": True},
}


def test_one_prediction_per_test_stimulus(bonus_test_predictions, resp_test):
    import numpy as np

    predicted = np.asarray(bonus_test_predictions, dtype=float).reshape(-1)
    assert predicted.shape == (len(resp_test),) and np.all(np.isfinite(predicted))


def test_record_the_test_mse_for_the_leaderboard(env):
    import json
    import os

    import numpy as np

    from ccn_helpers import load_data, split_train_test

    _, _, _, stimuli_test = split_train_test(*load_data(env["fname"]))
    predicted = np.asarray(env["bonus_test_predictions"], dtype=float).reshape(-1)
    mse = float(np.mean((predicted - stimuli_test[:, 0].numpy()) ** 2))
    assert np.isfinite(mse)
    if os.environ.get("CCN_LEADERBOARD_FILE"):
        with open(os.environ["CCN_LEADERBOARD_FILE"], "w") as f:
            json.dump({"test_mse": mse, "n_test": int(predicted.size)}, f)
