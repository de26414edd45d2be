"""MLP decoders of orientation: the class recipe, the student's Adam recipe, a batched torch MLP."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from torch import nn, optim

from v1_orientation._internal import _as_numpy, _single_threaded, _torch_threads
from v1_orientation.course.networks import DeepNetReLU
from v1_orientation.course.runtime import get_device
from v1_orientation.course.training import predict, train_decoder
from v1_orientation.solution.circular import _check_angle_data, angles_to_circle, circle_to_angles
from v1_orientation.solution.crossval import _complement, _fold_by_fold_predictions

__all__ = [
    "ClassMLPDecoder", "TorchMLPDecoder", "student_recipe_decoder",
]


class _SeededTorch:
    """Context in which torch's global generators start from ``seed``; restored afterwards.

    The class code seeds the global generator (``torch.manual_seed(1)``) before
    building its network; forking keeps that exact draw without changing the
    caller's random state.
    """

    def __init__(self, seed, device):
        cuda = torch.device(device).type == "cuda"
        self._fork = torch.random.fork_rng(devices=[torch.device(device).index or 0] if cuda
                                           else [])
        self._seed = seed

    def __enter__(self):
        self._fork.__enter__()
        torch.manual_seed(self._seed)

    def __exit__(self, *exc):
        return self._fork.__exit__(*exc)


def _float32_tensor(x):
    """A float32 CPU tensor of ``x`` (ndarray or tensor)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32)
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


class ClassMLPDecoder(BaseEstimator):
    """The class decoder as a scikit-learn estimator: ``DeepNetReLU`` + ``train_decoder``.

    ``torch.manual_seed(seed)``, ``DeepNetReLU(p, n_hidden)``, then ``train_decoder``
    (full-batch SGD on the MSE of the raw angle): with the defaults, exactly the
    class recipe of 1b. The caller's random state is left untouched.

    Args:
        n_hidden (int): hidden units (10 in class).
        n_epochs (int): full-batch iterations (50 in class).
        learning_rate (float): SGD step size (1e-4 in class).
        seed (int): torch seed before building the network (1 in class).
        device (str): ``"auto"``, ``"cpu"`` or ``"cuda"`` (see ``get_device``).

    Attributes:
        net_ (DeepNetReLU): the trained network.
        loss_history_ (list of float): training MSE at each iteration, deg^2.
    """

    def __init__(self, n_hidden=10, n_epochs=50, learning_rate=1e-4, seed=1, device="auto"):
        self.n_hidden = n_hidden
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.seed = seed
        self.device = device

    @classmethod
    def from_trained(cls, net, loss_history, **params):
        """The estimator of a class-recipe network trained already (the 1b decoder, say).

        Args:
            net (DeepNetReLU): trained by the class recipe (what ``fit`` would do).
            loss_history (list of float): its training MSE at each iteration, deg^2.
            **params: the estimator's parameters (``n_hidden``, ``seed``, ``device``, ...).

        Returns:
            ClassMLPDecoder: fitted, without training again.
        """
        estimator = cls(**params)
        estimator.net_, estimator.loss_history_ = net, list(loss_history)
        return estimator

    def fit(self, X, y):
        """Train on n x p responses ``X`` and n angles ``y`` (degrees)."""
        x = _float32_tensor(X)
        labels = _float32_tensor(y).reshape(-1, 1)
        device = get_device(self.device)
        with _SeededTorch(self.seed, device):
            self.net_ = DeepNetReLU(x.shape[1], self.n_hidden).to(device)
            self.loss_history_ = train_decoder(self.net_, nn.MSELoss(), x, labels,
                                               self.n_epochs, self.learning_rate, quiet=True)
        return self

    def predict(self, X):
        """Decoded angles, (n,) degrees (the network's raw output)."""
        # the module-level predict(): no gradients, batched, back on the CPU
        return predict(self.net_, _float32_tensor(X))[:, 0].astype(np.float64)


class TorchMLPDecoder(BaseEstimator):
    """A configurable ReLU MLP decoder (width, depth, dropout, weight decay, optimiser).

    Layers ``Linear -> ReLU [-> Dropout]`` for each hidden width, then a linear
    output, created in that order (one hidden layer is ``DeepNetReLU`` with the
    same initial weights for the same seed). Trained on the mean squared error of
    either the raw angle (``target="angle"``, 1 output, deg^2, as in class) or of
    the point ``(cos 2 pi theta / P, sin 2 pi theta / P)`` (``target="circle"``,
    2 outputs, decoded with ``circle_to_angles``), full batch or in mini-batches,
    with an optional step learning-rate schedule and gradient-norm clipping.

    ``input_space="rowspace"`` trains on the coordinates of the (centred) responses
    in the n-dimensional span of the training responses, ``z = V^T (x - m) / c``
    (``V``: p x r orthonormal basis from the dual eigendecomposition, ``c``: one
    global scale). Gradient descent on the first layer only ever moves its weights
    within that span (the gradient of ``W x_i`` is a combination of the ``x_i``),
    and weight decay removes the rest, so a rotation-invariant optimiser (SGD, with
    or without L2) on the neurons reaches the same predictions as on ``z`` from an
    initialisation in the span, at a cost set by n instead of p = 23,589. (Adam is
    not rotation-invariant, so with Adam this is a different, cheaper model.)

    Args:
        hidden (tuple of int): hidden widths; ``()`` is a linear readout.
        dropout (float): dropout probability after each hidden ReLU.
        target (str): ``"angle"`` or ``"circle"``.
        optimizer (str): ``"sgd"``, ``"adam"`` or ``"adamw"``.
        learning_rate (float): step size.
        weight_decay (float): L2 penalty (``"adamw"``: decoupled decay).
        momentum (float): SGD momentum.
        n_epochs (int): passes through the training data.
        batch_size (int or None): mini-batch size; ``None`` is full batch.
        lr_step (int or None): epochs between learning-rate decays (``StepLR``).
        lr_gamma (float): factor of each decay.
        clip_norm (float or None): clip the gradient's total norm to this value.
        input_space (str): ``"neurons"`` or ``"rowspace"``.
        period (float): period of the angle in degrees (``target="circle"``).
        angle_min (float): lower end of the predicted range (``target="circle"``).
        seed (int): torch seed of the initial weights, dropout masks and batches.
        device (str): ``"auto"``, ``"cpu"`` or ``"cuda"`` (see ``get_device``).

    Attributes:
        net_ (nn.Sequential): the trained network (in eval mode).
        loss_history_ (list of float): training loss after each epoch's last step.
    """

    def __init__(self, hidden=(150,), dropout=0.0, target="angle", optimizer="adam",
                 learning_rate=1e-3, weight_decay=0.0, momentum=0.0, n_epochs=300,
                 batch_size=None, lr_step=None, lr_gamma=0.5, clip_norm=None,
                 input_space="neurons", period=180.0, angle_min=-90.0, seed=0, device="auto"):
        self.hidden = hidden
        self.dropout = dropout
        self.target = target
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr_step = lr_step
        self.lr_gamma = lr_gamma
        self.clip_norm = clip_norm
        self.input_space = input_space
        self.period = period
        self.angle_min = angle_min
        self.seed = seed
        self.device = device

    def _check_params(self):
        choices = {"target": ("angle", "circle"), "optimizer": ("sgd", "adam", "adamw"),
                   "input_space": ("neurons", "rowspace")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")

    def _network(self, n_inputs, n_outputs):
        layers, width = [], n_inputs
        for n_hidden in self.hidden:
            layers += [nn.Linear(width, n_hidden), nn.ReLU()]
            if self.dropout:
                layers.append(nn.Dropout(self.dropout))
            width = n_hidden
        layers.append(nn.Linear(width, n_outputs))
        return nn.Sequential(*layers)

    def _fit_inputs(self, X):
        """Training inputs as a float32 tensor; sets the row-space basis if asked for."""
        if self.input_space == "neurons":
            return _float32_tensor(X)
        x = np.asarray(_as_numpy(X), dtype=np.float64)
        self.x_mean_ = x.mean(axis=0)
        xc = x - self.x_mean_
        with _single_threaded():
            eigval, eigvec = np.linalg.eigh(xc @ xc.T)
        keep = eigval > eigval.max() * 1e-10  # drop the null direction left by centring
        root = np.sqrt(eigval[keep])
        z = eigvec[:, keep] * root  # = xc @ basis
        scale = np.sqrt(np.mean(z**2))
        with _single_threaded():  # thin products: threads only add overhead
            self.basis_ = xc.T @ (eigvec[:, keep] / root) / scale  # p x r, orthogonal columns
        return torch.as_tensor(z / scale, dtype=torch.float32)

    def _inputs(self, X):
        if self.input_space == "neurons":
            return _float32_tensor(X)
        x = np.asarray(_as_numpy(X), dtype=np.float64)
        with _single_threaded():
            z = (x - self.x_mean_) @ self.basis_
        return torch.as_tensor(z, dtype=torch.float32)

    def _optimizer(self, parameters):
        params = {"lr": self.learning_rate, "weight_decay": self.weight_decay}
        parameters = list(parameters)
        if self.optimizer == "sgd":
            return optim.SGD(parameters, momentum=self.momentum, **params)
        adam = {"adam": optim.Adam, "adamw": optim.AdamW}[self.optimizer]
        try:  # one fused kernel per step: the same update, about 1.5x faster on the CPU
            return adam(parameters, fused=True, **params)
        except (RuntimeError, TypeError):  # a torch or device without the fused kernel
            return adam(parameters, **params)

    def _schedule(self, optimizer):
        """The step learning-rate schedule of ``optimizer``, or None without ``lr_step``."""
        return optim.lr_scheduler.StepLR(optimizer, self.lr_step, self.lr_gamma) \
            if self.lr_step else None

    def _train(self, net, inputs, targets):
        optimizer = self._optimizer(net.parameters())
        schedule = self._schedule(optimizer)
        loss_fn = nn.MSELoss()
        history = []
        net.train()
        for _ in range(self.n_epochs):
            batches = [slice(None)] if self.batch_size is None else \
                torch.randperm(len(inputs), device=inputs.device).split(self.batch_size)
            for batch in batches:
                loss = loss_fn(net(inputs[batch]), targets[batch])
                optimizer.zero_grad()
                loss.backward()
                if self.clip_norm:
                    nn.utils.clip_grad_norm_(net.parameters(), self.clip_norm)
                optimizer.step()
            history.append(loss.item())
            if schedule is not None:
                schedule.step()
        net.eval()
        return history

    def fit(self, X, y):
        """Train on n x p responses ``X`` (ndarray or tensor) and n angles ``y`` (degrees)."""
        self._check_params()
        angles = np.asarray(_as_numpy(y), dtype=np.float64).reshape(-1)
        if X.ndim != 2 or len(X) != angles.size:
            raise ValueError(f"X must be n x p with one angle per row; got {tuple(X.shape)} "
                             f"and {angles.shape}")
        device = get_device(self.device)
        inputs = self._fit_inputs(X).to(device)
        targets = self._targets(angles, device)
        with self._small_problem_threads(device), _SeededTorch(self.seed, device):
            self.net_ = self._network(inputs.shape[1], targets.shape[1]).to(device)
            self.loss_history_ = self._train(self.net_, inputs, targets)
        return self

    def _targets(self, angles, device):
        """Training targets, n x 1 angles (degrees) or n x 2 points on the circle, float32."""
        targets = angles_to_circle(angles, self.period) if self.target == "circle" \
            else angles[:, None]
        return torch.as_tensor(targets, dtype=torch.float32, device=device)

    def _small_problem_threads(self, device):
        # A row-space problem is tiny (n x n): on the CPU, one thread avoids the threads'
        # overhead, which costs more than the arithmetic (about 8x here on 2 cores).
        small = self.input_space == "rowspace" and device.type == "cpu"
        return _torch_threads(1) if small else contextlib.nullcontext()

    def out_of_fold_predictions(self, X, y, folds):
        """Each fold decoded by this decoder trained on the other folds, all folds at once.

        The K fold networks are trained side by side as one batched network: each
        starts from the initial weights that ``fit`` would give it, takes the same
        full-batch updates on its own training rows (rows and row-space coordinates
        are zero-padded to a common size, which changes no update), and is scored on
        its held-out rows. One epoch then costs one set of small operations instead of
        K, about 3 times faster for the row-space network of ``best_decoder_candidates``.
        Without dropout the predictions equal one ``fit`` per fold (up to float32
        rounding); with dropout the masks are drawn for all networks at once, so they
        are equal in distribution. Mini-batches and gradient clipping, whose steps
        couple the rows or the weights differently, fall back to one fit per fold.

        Args:
            X (array-like): n x p responses.
            y (array-like): n angles, degrees.
            folds (list): held-out index arrays that partition ``range(n)``.

        Returns:
            ndarray: (n,) out-of-fold decoded angles, degrees.
        """
        self._check_params()
        x, angles = _check_angle_data(X, y)
        if self.batch_size is not None or self.clip_norm:
            return _fold_by_fold_predictions(self, x, angles, folds)
        device = get_device(self.device)
        members = [clone(self) for _ in folds]
        trains = [_complement(held_out, angles.size) for held_out in folds]
        inputs = [m._fit_inputs(x[train]) for m, train in zip(members, trains, strict=True)]
        targets = [self._targets(angles[train], "cpu") for train in trains]
        with self._small_problem_threads(device):
            nets = []
            for z in inputs:  # each from the seed, as in fit
                with _SeededTorch(self.seed, device):
                    nets.append(self._network(z.shape[1], targets[0].shape[1]))
            stacked = _StackedMLP(nets, self.dropout, device)
            z = _zero_padded(inputs).to(device)
            with _SeededTorch(self.seed, device):
                stacked.train_full_batch(self, z, _zero_padded(targets).to(device),
                                         _mse_row_weights(targets).to(device))
            held_out = [m._inputs(x[fold]) for m, fold in zip(members, folds, strict=True)]
            decoded = stacked.predict(_zero_padded(held_out, z.shape[2]).to(device))
        predicted = np.full(angles.size, np.nan)
        for k, fold in enumerate(folds):
            values = decoded[k, :len(fold)]
            predicted[fold] = circle_to_angles(values, self.period, self.angle_min) \
                if self.target == "circle" else values[:, 0]
        return predicted


    def predict(self, X):
        """Decoded angles, (n,) degrees (wrapped into the period for ``target="circle"``)."""
        # the module-level predict(): no gradients, batched, back on the CPU
        out = predict(self.net_, self._inputs(X)).astype(np.float64)
        if self.target == "circle":
            return circle_to_angles(out, self.period, self.angle_min)
        return out[:, 0]


def _zero_padded(tensors, width=None):
    """K tensors of n_k x c_k as one K x max n_k x ``width`` tensor (default max c_k), 0-padded."""
    width = width or max(t.shape[1] for t in tensors)
    out = torch.zeros(len(tensors), max(len(t) for t in tensors), width, dtype=tensors[0].dtype)
    for k, t in enumerate(tensors):
        out[k, :len(t), :t.shape[1]] = t
    return out


def _mse_row_weights(targets):
    """K x max n_k x 1 weights ``1 / (n_k c)`` (0 on padding) for K targets of n_k x c.

    A sum of squared errors with these weights is the sum of each network's mean
    squared error, whose gradient is each network's own.
    """
    weight = torch.zeros(len(targets), max(len(t) for t in targets), 1)
    for k, t in enumerate(targets):
        weight[k, :len(t)] = 1 / t.numel()
    return weight


class _StackedMLP:
    """K MLPs of the same widths (``TorchMLPDecoder._network``) as one batched network.

    Layer j keeps the K weight matrices as one K x in x out tensor (inputs of the
    first layer zero-padded to the widest) and applies them with ``torch.baddbmm``.
    """

    def __init__(self, nets, dropout, device):
        self.dropout = dropout
        layers = [[m for m in net if isinstance(m, nn.Linear)] for net in nets]
        widest = max(net_layers[0].in_features for net_layers in layers)
        self.weights, self.biases = [], []
        for j, group in enumerate(zip(*layers, strict=True)):
            rows = widest if j == 0 else group[0].in_features
            weight = torch.zeros(len(group), rows, group[0].out_features)
            for k, layer in enumerate(group):
                weight[k, :layer.in_features] = layer.weight.detach().T
            bias = torch.stack([layer.bias.detach() for layer in group])[:, None, :]
            self.weights.append(weight.to(device).requires_grad_())
            self.biases.append(bias.to(device).requires_grad_())

    def forward(self, z, training):
        for j, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = torch.baddbmm(bias, z, weight)
            if j < len(self.weights) - 1:
                z = torch.relu(z)
                if self.dropout:
                    z = nn.functional.dropout(z, self.dropout, training)
        return z

    def train_full_batch(self, decoder, z, targets, weight):
        """``decoder``'s full-batch training loop, for all K networks at once."""
        optimizer = decoder._optimizer(self.weights + self.biases)
        schedule = decoder._schedule(optimizer)
        for _ in range(decoder.n_epochs):
            loss = (weight * (self.forward(z, True) - targets) ** 2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()

    def predict(self, z):
        """K x n x c outputs without dropout, float64 ndarray."""
        with torch.no_grad():
            return self.forward(z, False).cpu().numpy().astype(np.float64)


def student_recipe_decoder(seed=1, device="auto"):
    """A typical student improvement of the class decoder, as an unfitted estimator.

    ``DeepNetReLU`` with 150 hidden units on the raw angle, Adam (lr 1e-3, L2 weight
    decay 0.005), 300 full-batch epochs, learning rate halved every 100 epochs,
    gradient norm clipped at 1.0.

    Args:
        seed (int): torch seed of the initial weights (1, as in class).
        device (str): ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns:
        TorchMLPDecoder: the recipe.
    """
    return TorchMLPDecoder(hidden=(150,), target="angle", optimizer="adam", learning_rate=1e-3,
                           weight_decay=0.005, n_epochs=300, lr_step=100, lr_gamma=0.5,
                           clip_norm=1.0, seed=seed, device=device)
