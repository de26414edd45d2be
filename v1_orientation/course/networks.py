"""The networks: the class decoder ``DeepNetReLU``, the template's ``CNN``, hidden activity."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from torch import nn

from v1_orientation._internal import _module_device
from v1_orientation.course.stimuli import filters

__all__ = [
    "DeepNetReLU", "CNN", "get_hidden_activity",
]


class DeepNetReLU(nn.Module):
    """The class decoder: one ReLU hidden layer, one linear output.

    ``y = W_out relu(W_in r + b_in) + b_out``.

    Args:
        n_inputs (int): number of neurons (input features).
        n_hidden (int): number of hidden units.

    Attributes:
        in_layer (nn.Linear): n_inputs -> n_hidden.
        out_layer (nn.Linear): n_hidden -> 1.
    """

    def __init__(self, n_inputs, n_hidden):
        super().__init__()
        self.in_layer = nn.Linear(n_inputs, n_hidden)
        self.out_layer = nn.Linear(n_hidden, 1)

    def forward(self, r):
        """Decode orientation from population responses.

        Args:
            r (torch.Tensor): n_stimuli x n_inputs responses.

        Returns:
            torch.Tensor: n_stimuli x 1 decoded orientations (degrees).
        """
        return self.out_layer(torch.relu(self.in_layer(r)))


class CNN(nn.Module):
    """The template's encoding model: conv + max-pool + fully connected + sigmoid.

    Conv2d(1, 6, 7, padding 3) initialised with ``filters()`` and zero bias,
    ReLU, MaxPool2d(8) ('pool', 6 x h/8 x w/8 units), Linear(., 10) + ReLU
    ('fc'), Linear(10, 1) + sigmoid ('out', probability of a right tilt).
    Layers are created in the template's order, so a seeded model has the
    template's initial weights.

    Args:
        h_in (int): height of the input image, in pixels.
        w_in (int): width of the input image, in pixels.

    Attributes:
        conv (nn.Conv2d): convolution filters.
        pool (nn.MaxPool2d): max pooling layer.
        dims (tuple of ints): shape of the pool layer's output (channels, height, width).
        fc (nn.Linear): fully connected layer.
        out (nn.Linear): output layer.
    """

    def __init__(self, h_in, w_in):
        super().__init__()
        c_in, c_out, k, k_pool = 1, 6, 7, 8
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=k, padding=k // 2)
        self.pool = nn.MaxPool2d(k_pool)
        self.dims = (c_out, h_in // k_pool, w_in // k_pool)
        self.fc = nn.Linear(int(np.prod(self.dims)), 10)
        self.out = nn.Linear(10, 1)
        self.conv.weight = nn.Parameter(filters(c_out, k))
        self.conv.bias = nn.Parameter(torch.zeros((c_out,), dtype=torch.float32))

    def forward(self, x):
        """Classify gratings as tilted right or left.

        Args:
            x (torch.Tensor): p x h_in x w_in grayscale images.

        Returns:
            torch.Tensor: p x 1 probabilities that each image is tilted right.
        """
        x = torch.relu(self.conv(x.unsqueeze(1)))
        x = self.pool(x).reshape(-1, int(np.prod(self.dims)))
        x = torch.relu(self.fc(x))
        return torch.sigmoid(self.out(x))


def get_hidden_activity(net, stimuli, layer_labels):
    """Record the outputs of named layers of a network for a batch of stimuli.

    Runs the network once without gradients, with forward hooks on the
    requested child modules (for ``CNN``: ``'conv'``, ``'pool'``, ``'fc'``,
    ``'out'``; 'pool' has 6 x 6 x 8 = 288 units and 'fc' 10 for 48 x 64
    gratings). A hook records its module's output: for ``CNN``, 'fc' is the
    linear layer's output before the ReLU that ``forward`` applies to it, and
    'out' is before the sigmoid, as in the template. The network's train/eval
    mode is left as it is.

    Args:
        net (nn.Module): network whose layers to read.
        stimuli (torch.Tensor): p x h x w input images.
        layer_labels (list of str or str): names of child modules of ``net``.

    Returns:
        dict: ``{label: ndarray of shape (p, n_units)}`` on the CPU, in the
        order the layers ran.

    Raises:
        ValueError: a label is not the name of a child module of ``net``.
    """
    if isinstance(layer_labels, str):
        layer_labels = [layer_labels]
    children = dict(net.named_children())
    unknown = [label for label in layer_labels if label not in children]
    if unknown:
        raise ValueError(
            f"unknown layer label(s) {unknown}; this network's layers are {list(children)}"
        )
    hidden_activity = {}

    def hook(label, module, inputs, output):
        hidden_activity[label] = output.detach().reshape(stimuli.shape[0], -1).cpu().numpy()

    handles = [children[label].register_forward_hook(partial(hook, label))
               for label in dict.fromkeys(layer_labels)]
    try:
        with torch.no_grad():
            net(stimuli.to(_module_device(net)))
    finally:
        for handle in handles:
            handle.remove()
    return hidden_activity
