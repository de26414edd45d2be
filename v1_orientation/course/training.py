"""Trainers: the template's CNN trainer ``train``, the class's ``train_decoder``; ``predict``."""

from __future__ import annotations

import torch
from torch import nn, optim

from v1_orientation._internal import _module_device

__all__ = [
    "train", "train_decoder", "predict",
]


def _check_training_args(train_data, train_labels, n_epochs, **positive):
    if train_data.shape[0] != train_labels.shape[0]:
        raise ValueError(
            f"train_data has {train_data.shape[0]} samples but train_labels has "
            f"{train_labels.shape[0]}; pass one label per sample"
        )
    if int(n_epochs) != n_epochs or n_epochs < 1:
        raise ValueError(f"n_epochs must be a positive integer, got {n_epochs!r}")
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")


def _report_every(n_epochs):
    # The template prints every n_epochs // 5 epochs, which is 0 for n_epochs < 5.
    return max(1, n_epochs // 5)


def train(net, train_data, train_labels,
          n_epochs=25, learning_rate=0.0005,
          batch_size=100, momentum=.99, quiet=False):
    """Train a tilt classifier by mini-batch SGD with momentum on the BCE loss.

    The template's trainer. Each epoch shuffles the data (``torch.randperm``,
    global torch generator) and takes one step per mini-batch on
    ``BCE = -mean(t log p + (1 - t) log(1 - p))``. Prints the last
    mini-batch's loss five times (every epoch when ``n_epochs < 5``).

    The per-iteration losses are stored in ``net.loss_history`` (a list of
    floats, one per mini-batch), so that a bare ``train(...)`` call, like the
    template's cell C1, displays nothing but its log.

    Args:
        net (nn.Module): network mapping p x h x w images to p x 1 probabilities.
        train_data (torch.Tensor): n_train x h x w gratings.
        train_labels (torch.Tensor): n_train x 1 tilts, 1. for right, 0. for left.
        n_epochs (int): passes through the training data, >= 1.
        learning_rate (float): SGD step size.
        batch_size (int): samples per mini-batch.
        momentum (float): SGD momentum.
        quiet (bool): print nothing.

    Raises:
        ValueError: data and labels of different lengths, or a non-positive
            ``n_epochs``, ``learning_rate`` or ``batch_size``.
    """
    _check_training_args(train_data, train_labels, n_epochs,
                         learning_rate=learning_rate, batch_size=batch_size)
    device = _module_device(net)
    train_data, train_labels = train_data.to(device), train_labels.to(device)
    loss_fn = nn.BCELoss()
    optimizer = optim.SGD(net.parameters(), lr=learning_rate, momentum=momentum)
    net.loss_history = []
    every = _report_every(n_epochs)
    for i in range(n_epochs):
        ishuffle = torch.randperm(train_data.shape[0]).to(device)
        minibatch_data = torch.split(train_data[ishuffle], batch_size)
        minibatch_labels = torch.split(train_labels[ishuffle], batch_size)
        for stimuli, tilt in zip(minibatch_data, minibatch_labels, strict=True):
            loss = loss_fn(net(stimuli), tilt)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            net.loss_history.append(loss.item())
        if not quiet and (i + 1) % every == 0:
            print(f"epoch {i + 1} | loss on last mini-batch: {loss.item(): .2e}")
    if not quiet:
        print("training done!")


def train_decoder(net, loss_fn, train_data, train_labels, n_epochs=50, learning_rate=1e-4,
                  quiet=False):
    """Train a decoder by full-batch gradient descent, as in class.

    Each iteration takes one plain SGD step (no momentum) on ``loss_fn``
    evaluated on the whole training set, and prints the loss five times
    (every iteration when ``n_epochs < 5``) as
    ``iteration i/n_epochs | loss: ...``.

    Args:
        net (nn.Module): decoder mapping n x n_neurons to n x 1.
        loss_fn (callable): loss of (output, labels), e.g. ``nn.MSELoss()``.
        train_data (torch.Tensor): n_train x n_neurons responses.
        train_labels (torch.Tensor): n_train x 1 orientations (degrees).
        n_epochs (int): number of full-batch iterations, >= 1.
        learning_rate (float): SGD step size.
        quiet (bool): print nothing.

    Returns:
        list of float: the training loss at each iteration (before its step).

    Raises:
        ValueError: data and labels of different lengths, or a non-positive
            ``n_epochs`` or ``learning_rate``.
    """
    _check_training_args(train_data, train_labels, n_epochs, learning_rate=learning_rate)
    device = _module_device(net)
    train_data, train_labels = train_data.to(device), train_labels.to(device)
    optimizer = optim.SGD(net.parameters(), lr=learning_rate)
    track_loss = []
    every = _report_every(n_epochs)
    for i in range(n_epochs):
        loss = loss_fn(net(train_data), train_labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        track_loss.append(loss.item())
        if not quiet and (i + 1) % every == 0:
            print(f"iteration {i + 1}/{n_epochs} | loss: {loss.item():.3f}")
    return track_loss


def predict(net, data, batch_size=4096):
    """Run a network on data without gradients and return its outputs on the CPU.

    Args:
        net (nn.Module): trained network (its mode is left as it is).
        data (torch.Tensor): n x ... inputs.
        batch_size (int): inputs per forward pass (bounds memory).

    Returns:
        ndarray: the outputs, n x ... (float32), e.g. n x 1 decoded orientations.
    """
    device = _module_device(net)
    with torch.no_grad():
        parts = [net(chunk.to(device)).cpu() for chunk in torch.split(data, batch_size)]
    return torch.cat(parts).numpy()
