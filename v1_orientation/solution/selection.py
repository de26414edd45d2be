"""Choosing a decoder inside the training set: nested CV, boundary hedge, the bonus's decoders."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, clone

from v1_orientation._internal import _as_numpy
from v1_orientation.solution.circular import (
    _check_angle_data,
    decoding_errors,
    orientation_difference,
)
from v1_orientation.solution.crossval import out_of_fold_predictions, selection_folds
from v1_orientation.solution.mlp import ClassMLPDecoder, TorchMLPDecoder, student_recipe_decoder
from v1_orientation.solution.ridge import AngleRidge, CircularRidge

__all__ = [
    "raw_label_posterior_mean", "BoundaryHedgedDecoder", "CVSelectedDecoder",
    "best_decoder_candidates", "make_best_decoder", "standard_decoders",
]


def raw_label_posterior_mean(theta, sigma, flip_weight=1.0, period=180.0, angle_min=-90.0,
                             grid_step=0.01):
    """The prediction that minimises the expected squared error on the raw labels.

    The labels lie on the closed interval ``[a, a + P]`` (``a = angle_min``,
    ``P = period``), whose two ends are the same orientation. A circular decoder's
    estimate ``theta`` (in ``[a, a + P)``) says where the orientation is on the
    circle; near the ends, the label may lie at the other end, and on the raw labels
    that costs about ``P^2``. For any prediction ``c``,
    ``E[(c - y)^2 | x] = (c - E[y | x])^2 + Var(y | x)``, so the best prediction is
    the posterior mean ``E[y | x]``. The posterior is modelled on a grid over
    ``[a, a + P]`` as ``p(y | x) ∝ w(y) exp(-d_P(y, theta)^2 / (2 sigma^2))``, with
    ``d_P`` the difference wrapped to the period (a Gaussian circular error) and
    ``w(y) = flip_weight`` for labels on the other side of the wrap
    (``|y - theta| > P / 2``), 1 otherwise. ``flip_weight = 1`` says the decoder knows
    nothing about which end a label is at; 0 trusts the end it reports.

    Example: at an end, if the label is at the upper end with probability q, the
    best prediction is ``c = a + P q`` (for P = 180: ``90 (2 q - 1)`` deg), with
    expected loss ``P^2 q (1 - q)``, against ``P^2 min(q, 1 - q)`` for the likelier
    end: half as much at ``q = 1/2``.

    Args:
        theta (array-like): n circular estimates, degrees.
        sigma (float): their error's standard deviation, degrees.
        flip_weight (float): weight, in [0, 1], of the labels across the wrap.
        period (float): period P of the labels, degrees.
        angle_min (float): lower end a of the labels, degrees.
        grid_step (float): spacing of the grid on which the posterior is summed, degrees.

    Returns:
        ndarray: (n,) posterior means in [a, a + P], degrees.
    """
    theta = np.asarray(_as_numpy(theta), dtype=np.float64).reshape(-1)
    if not 0 <= flip_weight <= 1:
        raise ValueError(f"flip_weight must lie in [0, 1], got {flip_weight!r}")
    grid = np.linspace(angle_min, angle_min + period, int(round(period / grid_step)) + 1)
    sigma = max(float(sigma), grid_step)
    out = theta.copy()
    # More than 10 sigma from both ends the posterior is the untruncated Gaussian (the
    # rest weighs < e^-50), whose mean is theta: only estimates near an end need the grid.
    to_end = np.minimum(theta - angle_min, angle_min + period - theta)
    near = np.flatnonzero(to_end < 10 * sigma)
    for start in range(0, near.size, 256):  # bounds memory: 256 x grid
        rows = near[start:start + 256]
        log_w = -0.5 * (orientation_difference(grid, theta[rows, None], period) / sigma) ** 2
        weights = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        weights[np.abs(grid - theta[rows, None]) > period / 2] *= flip_weight
        # trapezoid rule: the two ends of the interval carry half a grid step each (a full
        # step would tilt the balance between the ends, with a lever of 180 deg)
        weights[:, [0, -1]] *= 0.5
        out[rows] = weights @ grid / weights.sum(axis=1)
    return out


def _with_block_width(estimator, block_width):
    """A clone of ``estimator`` whose inner cross-validation (if any) uses ``block_width``."""
    estimator = clone(estimator)
    if block_width is not None and "block_width" in estimator.get_params(deep=False):
        estimator.set_params(block_width=block_width)
    return estimator


class BoundaryHedgedDecoder(BaseEstimator):
    """A circular decoder whose predictions minimise the expected squared error on raw labels.

    Fits a circular ``decoder`` (default ``CircularRidge``), and from its
    out-of-fold predictions inside the training data (its exact leave-one-out
    predictions ``loo_angles_`` where it has them, else ``selection_folds``)
    estimates the spread ``sigma`` of its circular error and the ``flip_weight``
    (one of ``flip_weights``) whose ``raw_label_posterior_mean`` has the lowest
    out-of-fold MSE on the raw labels: how far the end the decoder reports can be
    trusted. A prediction is that posterior mean: the decoder's own estimate away
    from the ends, a hedge towards the middle near them when the training data show
    that the decoder confuses the ends.

    Args:
        decoder: unfitted circular decoder with period ``period`` (None: ``CircularRidge``).
        flip_weights (tuple of float): candidate flip weights in [0, 1]; the first of
            equally good ones is kept, so put the cautious ones first.
        n_folds (int or None): folds for the out-of-fold predictions; None: the decoder's
            leave-one-out predictions if it has them (and no ``block_width``), else 5.
        block_width (float or None): blocked folds of this width (see ``selection_folds``).
        period (float): period P of the labels, degrees.
        angle_min (float): lower end a of the labels, degrees.
        grid_step (float): grid spacing of the posterior mean, degrees.
        seed (int): seed of the folds.

    Attributes:
        sigma_ (float): out-of-fold circular RMS error of the decoder, degrees.
        flip_weight_ (float): the chosen flip weight.
        cv_mse_ (ndarray): out-of-fold raw-label MSE of each flip weight, deg^2.
        decoder_: the decoder fitted on all the training data.
    """

    def __init__(self, decoder=None, flip_weights=(1.0, 0.3, 0.1, 0.03, 0.01, 0.0), n_folds=None,
                 block_width=None, period=180.0, angle_min=-90.0, grid_step=0.01, seed=0):
        self.decoder = decoder
        self.flip_weights = flip_weights
        self.n_folds = n_folds
        self.block_width = block_width
        self.period = period
        self.angle_min = angle_min
        self.grid_step = grid_step
        self.seed = seed

    def fit(self, X, y):
        """Fit the decoder on n x p responses and n angles (degrees); calibrate the hedge."""
        x, y = _check_angle_data(X, y)
        decoder = self.decoder if self.decoder is not None else \
            CircularRidge(period=self.period, angle_min=self.angle_min)
        decoder = _with_block_width(decoder, self.block_width)
        self.decoder_ = decoder.fit(x, y)
        oof = getattr(self.decoder_, "loo_angles_", None)
        if oof is None or self.n_folds is not None or self.block_width is not None:
            folds = selection_folds(y, self.n_folds or 5, self.block_width, self.period,
                                    self.seed)
            oof = out_of_fold_predictions(decoder, x, y, folds)
        self.sigma_ = float(np.sqrt(np.mean(orientation_difference(oof, y, self.period) ** 2)))
        self.cv_mse_ = np.array([
            np.mean((raw_label_posterior_mean(oof, self.sigma_, weight, self.period,
                                              self.angle_min, self.grid_step) - y) ** 2)
            for weight in self.flip_weights])
        self.flip_weight_ = float(self.flip_weights[int(np.argmin(self.cv_mse_))])
        return self

    def predict(self, X):
        """Posterior-mean angles, (n,) degrees in [angle_min, angle_min + period]."""
        return raw_label_posterior_mean(self.decoder_.predict(X), self.sigma_, self.flip_weight_,
                                        self.period, self.angle_min, self.grid_step)


class CVSelectedDecoder(BaseEstimator):
    """Choose among candidate decoders by K-fold cross-validation inside the data given to fit.

    ``fit(X, y)`` scores every candidate by the mean squared error on the raw labels
    (the assignment's loss, deg^2) of its out-of-fold predictions over
    ``selection_folds`` of ``(X, y)``, keeps the candidate with the lowest score
    (the first on ties) and refits it on all of ``(X, y)``. Candidates that choose
    their own hyperparameters (``CircularRidge``'s penalty, say) do so inside each
    fold's training part, so the selection is nested. ``predict`` only applies the
    refitted winner, row by row: nothing passed to ``predict`` is used for selection.

    Args:
        candidates (list of (str, estimator)): named unfitted decoders.
        n_folds (int): number of folds K.
        block_width (float or None): blocked folds of this width (see
            ``selection_folds``); passed on to candidates that take one.
        period (float): period of orientation for the folds, degrees.
        seed (int): seed of the folds.
        progress (bool): show a progress bar over the candidates.

    Attributes:
        cv_mse_ (dict): candidate name -> out-of-fold MSE on the raw labels, deg^2.
        cv_circ_rmse_ (dict): candidate name -> out-of-fold circular RMS error, degrees.
        cv_predictions_ (dict): candidate name -> (n,) out-of-fold predictions, degrees.
        best_name_ (str): the chosen candidate.
        best_estimator_: the chosen candidate refitted on all the data.
    """

    def __init__(self, candidates, n_folds=5, block_width=None, period=180.0, seed=0,
                 progress=False):
        self.candidates = candidates
        self.n_folds = n_folds
        self.block_width = block_width
        self.period = period
        self.seed = seed
        self.progress = progress

    def fit(self, X, y):
        """Select on, then refit on, n x p responses ``X`` and n angles ``y`` (degrees)."""
        from tqdm.auto import tqdm

        x, y = _check_angle_data(X, y)
        names = [name for name, _ in self.candidates]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"candidates need distinct names, got {names}")
        folds = selection_folds(y, self.n_folds, self.block_width, self.period, self.seed)
        self.cv_predictions_, self.cv_mse_, self.cv_circ_rmse_ = {}, {}, {}
        for name, candidate in tqdm(self.candidates, disable=not self.progress,
                                    desc="model selection", leave=False):
            candidate = _with_block_width(candidate, self.block_width)
            predicted = out_of_fold_predictions(candidate, x, y, folds)
            self.cv_predictions_[name] = predicted
            errors = decoding_errors(predicted, y, self.period)
            self.cv_mse_[name], self.cv_circ_rmse_[name] = errors["mse"], errors["circ_rmse"]
        self.best_name_ = min(names, key=self.cv_mse_.__getitem__)
        chosen = dict(self.candidates)[self.best_name_]
        self.best_estimator_ = _with_block_width(chosen, self.block_width).fit(x, y)
        return self

    def predict(self, X):
        """Decoded angles of the chosen decoder, (n,) degrees."""
        return self.best_estimator_.predict(X)


def best_decoder_candidates(seed=0, device="auto"):
    """The decoders ``make_best_decoder`` chooses among, as (name, unfitted estimator) pairs.

    A line (ridge on the angle), a circle (circular ridge), the circle with the
    boundary hedge for the raw-label loss, and a regularised nonlinear network on
    the circle targets (in the responses' row space, so that it trains in about a
    second).

    Args:
        seed (int): seed of the network and of the hedge's folds.
        device (str): device of the network.

    Returns:
        list of (str, estimator).
    """
    return [
        ("ridge on the angle", AngleRidge()),
        ("circular ridge", CircularRidge()),
        ("circular ridge + boundary hedge", BoundaryHedgedDecoder(seed=seed)),
        ("MLP on the circle (128 units, dropout)",
         TorchMLPDecoder(hidden=(128,), dropout=0.1, target="circle", optimizer="adamw",
                         learning_rate=3e-3, weight_decay=1e-3, n_epochs=300,
                         input_space="rowspace", seed=seed, device=device)),
    ]


def make_best_decoder(seed=0, block_width=None, device="auto", progress=False):
    """The bonus decoder: an unfitted estimator that does all its model selection in ``fit``.

    ``CVSelectedDecoder`` over ``best_decoder_candidates``, with 5-fold
    cross-validation inside the data given to ``fit`` (nested: each candidate's own
    hyperparameters are chosen inside each fold), scored by the raw-label MSE.
    The test set is not needed, and must not be used, until the final evaluation.

    Args:
        seed (int): seed of the folds and of the candidates.
        block_width (float or None): blocked selection folds of this width, degrees.
        device (str): device of the network candidate.
        progress (bool): show a progress bar during selection.

    Returns:
        CVSelectedDecoder: unfitted.
    """
    return CVSelectedDecoder(best_decoder_candidates(seed, device), n_folds=5,
                             block_width=block_width, seed=seed, progress=progress)


def standard_decoders(seed=0, device="auto"):
    """The decoders of the bonus table, by name: the two recipes, two ridges and the best.

    Returns:
        dict: name -> unfitted decoder: ``"class recipe"`` (``ClassMLPDecoder``),
        ``"student recipe"`` (``student_recipe_decoder``), ``"ridge on the angle"``,
        ``"circular ridge"`` and ``"best (nested CV)"`` (``make_best_decoder``).
    """
    return {
        "class recipe": ClassMLPDecoder(device=device),
        "student recipe": student_recipe_decoder(device=device),
        "ridge on the angle": AngleRidge(),
        "circular ridge": CircularRidge(),
        "best (nested CV)": make_best_decoder(seed=seed, device=device),
    }
