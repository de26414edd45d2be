"""CNN and DeepNetReLU: the template's architecture and initialisation, exact gradients."""

import pytest
import template_oracle as oracle
import torch
from torch import nn

from v1_orientation.course.networks import CNN, DeepNetReLU
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
