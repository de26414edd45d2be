"""Checks of 1a: the data as load_data and load_recording give them, from the file this run loaded.

Each test is a function of the notebook's names (otter passes them in; ``env`` is the whole
namespace). ``CONFIG`` gives each test's points, whether it is hidden, and its messages.
"""

CONFIG = {
    "test_resp_and_ori_are_the_assignments_view": {
        "points": 1, "failure_message": "resp should be a stimuli x neurons tensor and ori a "
        "column of orientations with one row per stimulus, as load_data(fname) returns them"},
    "test_they_are_what_load_data_gives": {"points": 1, "hidden": True},
}


def test_resp_and_ori_are_the_assignments_view(resp, ori, resp_full, stim_full):
    import torch

    assert isinstance(resp, torch.Tensor) and resp.ndim == 2
    assert isinstance(ori, torch.Tensor) and ori.shape == (resp.shape[0], 1)
    assert float(ori.min()) >= -90 and float(ori.max()) <= 90
    assert resp_full.shape[1] == resp.shape[1] and len(stim_full) == resp_full.shape[0]


def test_they_are_what_load_data_gives(env):
    import numpy as np
    import torch

    from ccn_helpers import load_data, load_recording

    resp, ori = load_data(env["fname"])
    full, stimuli = load_recording(env["fname"])
    assert torch.equal(env["resp"], resp) and torch.equal(env["ori"], ori)
    assert np.array_equal(np.asarray(env["resp_full"]), full)
    assert np.array_equal(np.asarray(env["stim_full"]), stimuli)
