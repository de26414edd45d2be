"""get_hidden_activity, RDM and the template's cells C1 + C2 run unchanged."""

import contextlib
import io
import re

import numpy as np
import pytest
import template_cells
import template_oracle as oracle
import torch
from scipy.stats import zscore

from v1_orientation.course.networks import get_hidden_activity
from v1_orientation.course.rdm import RDM
from v1_orientation.course.stimuli import gratings


@pytest.fixture(scope="module")
def trained_namespace():
    """Namespace after `from ccn_helpers import *` and the template's cell C1."""
    namespace = {}
    exec("from ccn_helpers import *", namespace)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(template_cells.C1, namespace)
    return namespace


@pytest.mark.slow
def test_template_cell_c2_and_rdm_dict_run_unchanged(trained_namespace, recording):
    namespace = dict(trained_namespace, fname=recording)
    exec(template_cells.C2, namespace)
    exec("rdm_dict = {label: RDM(resp) for label, resp in resp_dict.items()}", namespace)
    resp_dict, rdm_dict = namespace["resp_dict"], namespace["rdm_dict"]
    assert list(resp_dict) == ["V1 data", "model\n'pool' layer", "model\n'fc' layer"]
    assert resp_dict["V1 data"].shape == (181, 40)
    assert resp_dict["model\n'pool' layer"].shape == (181, 288)
    assert resp_dict["model\n'fc' layer"].shape == (181, 10)
    for label, rdm in rdm_dict.items():
        assert rdm.shape == (181, 181), label
        assert np.all(np.isfinite(rdm))
    # the same representations as the template's own get_hidden_activity
    net, stimuli = namespace["net"], namespace["stimuli"]
    theirs = oracle.get_hidden_activity(net, stimuli, ["pool", "fc"])
    for key, value in namespace["resp_model"].items():
        np.testing.assert_array_equal(value, theirs[key])


@pytest.mark.slow  # the fixture trains the CNN
def test_hidden_activity_shapes_and_values(trained_namespace):
    net = trained_namespace["net"]
    stimuli = gratings(np.arange(-90, 91, 10))
    hidden = get_hidden_activity(net, stimuli, ["pool", "fc", "out"])
    assert {k: v.shape for k, v in hidden.items()} == {
        "pool": (19, 288), "fc": (19, 10), "out": (19, 1)}
    with torch.no_grad():
        x = torch.relu(net.conv(stimuli.unsqueeze(1)))
        pool = net.pool(x).reshape(19, -1)
        fc = net.fc(pool)
    np.testing.assert_allclose(hidden["pool"], pool.numpy())
    # a hook sees the module's output: 'fc' is the linear layer's, before forward's ReLU
    np.testing.assert_allclose(hidden["fc"], fc.numpy(), rtol=1e-5, atol=1e-5)
    assert np.any(hidden["fc"] < 0)


@pytest.mark.slow  # the fixture trains the CNN
def test_hidden_activity_builds_no_autograd_graph(trained_namespace):
    net = trained_namespace["net"]
    seen = []
    handle = net.fc.register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))
    try:
        get_hidden_activity(net, gratings([0.0, 10.0]), ["fc"])
    finally:
        handle.remove()
    assert seen == [False]
    assert not net._forward_hooks and not net.pool._forward_hooks  # hooks removed


@pytest.mark.slow  # the fixture trains the CNN
def test_unknown_layer_label_lists_the_layers(trained_namespace):
    with pytest.raises(ValueError, match=r"\['pol'\].*\['conv', 'pool', 'fc', 'out'\]"):
        get_hidden_activity(trained_namespace["net"], gratings([0.0]), ["pol", "fc"])


@pytest.mark.slow  # the fixture trains the CNN
def test_hidden_activity_accepts_a_single_label(trained_namespace):
    hidden = get_hidden_activity(trained_namespace["net"], gratings([0.0, 5.0]), "pool")
    assert list(hidden) == ["pool"]


def test_rdm_is_one_minus_correlation():
    resp = np.random.default_rng(0).normal(size=(30, 50))
    np.testing.assert_allclose(RDM(resp), 1 - np.corrcoef(resp), atol=1e-12)
    zresp = zscore(resp, axis=1)
    np.testing.assert_allclose(RDM(resp), 1 - zresp @ zresp.T / 50, atol=1e-12)


def test_rdm_equals_template_and_accepts_tensors():
    resp = torch.randn(20, 15)
    ours = RDM(resp)
    assert isinstance(ours, np.ndarray) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, oracle.RDM(resp.numpy()), atol=1e-5)
    np.testing.assert_array_equal(ours, RDM(resp.numpy()))
    assert np.all(np.diag(ours) == 0) and np.allclose(ours, ours.T)


def test_rdm_names_a_constant_row():
    resp = np.random.default_rng(1).normal(size=(6, 4))
    resp[3] = 2.5
    message = ("the population response to stimulus row(s) [3] is constant across units, so its "
               "correlation distance is undefined; drop those rows (or units that never "
               "respond) before computing the RDM")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        RDM(resp)
    resp[3] = 0.0
    with pytest.raises(ValueError, match=r"\[3\]"):
        RDM(resp)
    # at most ten rows are named
    with pytest.raises(ValueError, match=r"row\(s\) \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\] is"):
        RDM(np.ones((12, 4)))


def test_rdm_constant_means_constant_relative_to_the_row_scale():
    rng = np.random.default_rng(2)
    resp = rng.normal(size=(4, 30))
    resp[0] = 1e-9 * rng.normal(size=30)  # a tiny but real spread: a valid row
    resp[1] = 1e4 * rng.normal(size=30)  # large values in another row change nothing
    np.testing.assert_allclose(RDM(resp), 1 - np.corrcoef(resp), atol=1e-9)
    # a large constant row, whose spread from rounding is far above 1e-12, is still constant
    resp[2] = 1e6 / 3 + np.zeros(30)
    resp[2, ::2] += 1e-11
    with pytest.raises(ValueError, match=r"row\(s\) \[2\] is constant"):
        RDM(resp)


def test_rdm_rejects_bad_shapes_and_values():
    with pytest.raises(ValueError, match=r"^resp must be 2-D \(n_stimuli x n_units\), got shape "
                                         r"\(5,\)$"):
        RDM(np.zeros(5))
    with pytest.raises(ValueError, match=r"^resp holds non-finite values \(NaN or inf\)$"):
        RDM(np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]]))

