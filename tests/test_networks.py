"""``course.networks``: CNN and DeepNetReLU (the template's architecture and initialisation, exact
gradients) and get_hidden_activity.
"""


import numpy as np
import pytest
import template_oracle as oracle
import torch
from torch import nn

from v1_orientation.course.networks import CNN, DeepNetReLU, get_hidden_activity
from v1_orientation.course.stimuli import filters, gratings


def test_cnn_has_template_layers_and_initial_weights():
    torch.manual_seed(12)
    ours = CNN(48, 64)
    torch.manual_seed(12)
    theirs = oracle.CNN(48, 64)
    assert [name for name, _ in ours.named_children()] == ["conv", "pool", "fc", "out"]
    assert ours.dims == theirs.dims == (6, 6, 8)
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert ours_state.keys() == theirs_state.keys()
    for key in ours_state:
        assert torch.equal(ours_state[key], theirs_state[key]), key
    x = gratings([-30.0, 0.0, 45.0])
    assert torch.equal(ours(x), theirs(x))
    assert torch.equal(ours.conv.weight, filters())
    assert torch.all(ours.conv.bias == 0)


def test_cnn_output_is_a_probability_column():
    torch.manual_seed(0)
    out = CNN(48, 64)(gratings([-10.0, 10.0]))
    assert out.shape == (2, 1) and torch.all((out > 0) & (out < 1))


def test_cnn_gradients_match_finite_differences_in_float64():
    torch.manual_seed(0)
    net = CNN(16, 16).double()
    x = torch.rand(2, 16, 16, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(net, (x,), eps=1e-6, atol=1e-5)

    def output_of_fc_weight(weight):
        return torch.func.functional_call(net, {"fc.weight": weight}, (x.detach(),))

    weight = net.fc.weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(output_of_fc_weight, (weight,), eps=1e-6, atol=1e-5)


def test_deep_net_relu_is_the_class_network():
    torch.manual_seed(1)
    net = DeepNetReLU(7, 3)
    assert isinstance(net.in_layer, nn.Linear) and isinstance(net.out_layer, nn.Linear)
    assert (net.in_layer.in_features, net.in_layer.out_features) == (7, 3)
    assert (net.out_layer.in_features, net.out_layer.out_features) == (3, 1)
    r = torch.randn(5, 7)
    expected = torch.relu(r @ net.in_layer.weight.T + net.in_layer.bias)
    expected = expected @ net.out_layer.weight.T + net.out_layer.bias
    assert torch.allclose(net(r), expected)


def test_deep_net_relu_gradcheck():
    torch.manual_seed(0)
    net = DeepNetReLU(6, 4).double()
    r = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(net, (r,))


@pytest.mark.parametrize("h, w", [(48, 64), (24, 32)])
def test_cnn_pool_dims_follow_the_input(h, w):
    net = CNN(h, w)
    assert net.fc.in_features == 6 * (h // 8) * (w // 8)


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
