"""Linear decoders of orientation: ridge on the angle, ridge on the circle, population vector.

scikit-learn estimators (``fit``/``predict``) on responses ``X`` (n_stimuli x n_neurons) and
orientations ``y`` (n_stimuli,) in degrees.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from v1_orientation._internal import _as_numpy, _single_threaded
from v1_orientation.solution.circular import (
    _check_angle_data,
    angles_to_circle,
    circle_to_angles,
    orientation_difference,
)
from v1_orientation.solution.tuning import preferred_orientation

__all__ = [
    "AngleRidge", "CircularRidge", "PopulationVectorDecoder",
]


_RIDGE_ALPHAS = tuple(np.logspace(-3, 7, 41))  # penalties spanning the eigenvalues of X X^T


class _DualRidge:
    """Ridge regression with an unpenalised intercept, solved in the dual form (p >> n).

    With centred data ``Xc`` (n x p) and targets ``Tc`` (n x k), and the
    eigendecomposition ``Xc Xc^T = U diag(s) U^T``, the ridge weights are
    ``W = Xc^T U diag(1 / (s + alpha)) U^T Tc`` and the fitted values
    ``H Tc`` with ``H = U diag(s / (s + alpha)) U^T``. Leaving stimulus i out
    changes its prediction to ``t_i - (t_i - fitted_i) / (1 - h_ii - 1/n)``
    exactly (the 1/n is the intercept's leverage), so every penalty's
    leave-one-out predictions come from one O(n^2 p) Gram matrix. With few
    columns (p <= n / 2) the nonzero eigenpairs come from the thin SVD
    ``Xc = U diag(sqrt(s)) V^T`` instead, at O(n p^2): the eigenvectors of ``Xc Xc^T``
    it leaves out have eigenvalue 0 and drop out of every formula above.

    Args:
        x (ndarray): n x p responses, float64.
        targets (ndarray): n (x k) targets, float64.
    """

    def __init__(self, x, targets):
        self.x_mean = x.mean(axis=0)
        self.xc = x - self.x_mean
        targets = np.asarray(targets, dtype=np.float64).reshape(len(x), -1)
        self.t_mean = targets.mean(axis=0)
        self.tc = targets - self.t_mean
        with _single_threaded():
            # thin SVD for few columns; for nearly square data eigh of the Gram is faster
            if 2 * self.xc.shape[1] <= self.xc.shape[0]:
                self.eigvec, singular, _ = np.linalg.svd(self.xc, full_matrices=False)
                eigval = singular**2
            else:
                eigval, self.eigvec = np.linalg.eigh(self.xc @ self.xc.T)
        self.eigval = np.clip(eigval, 0, None)
        self.eigvec_squared = self.eigvec**2
        self.projected = self.eigvec.T @ self.tc

    def loo_predictions(self, alphas):
        """Leave-one-out predictions with each penalty, (n_alphas, n, k) in targets' units.

        Args:
            alphas (float or array-like): the penalties (a float gives n x k).
        """
        alphas = np.asarray(alphas, dtype=np.float64)
        shrink = self.eigval / (self.eigval + alphas.reshape(-1, 1))  # n_alphas x r
        n, r, k = self.tc.shape[0], self.eigval.size, self.tc.shape[1]
        # one product for every penalty: (n x r) @ (r x n_alphas k)
        weighted = (shrink[:, :, None] * self.projected).transpose(1, 0, 2).reshape(r, -1)
        fitted = (self.eigvec @ weighted).reshape(n, -1, k).transpose(1, 0, 2)
        leverage = shrink @ self.eigvec_squared.T + 1 / n  # n_alphas x n
        loo = self.tc - (self.tc - fitted) / (1 - leverage)[:, :, None] + self.t_mean
        return loo if alphas.ndim else loo[0]

    def select_alpha(self, alphas, loo_errors):
        """Leave-one-out error of each penalty and the penalty with the lowest one.

        Args:
            alphas (array-like): candidate penalties.
            loo_errors (callable): maps (n_alphas, n, k) leave-one-out predictions to
                (n_alphas,) errors.

        Returns:
            tuple: errors (one per penalty, ndarray) and the chosen penalty (float).
        """
        alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
        errors = np.asarray(loo_errors(self.loo_predictions(alphas)), dtype=np.float64)
        return errors, float(alphas[np.argmin(errors)])

    def coef(self, alpha):
        """Primal weights, p x k, for penalty ``alpha``."""
        dual = self.eigvec @ (self.projected / (self.eigval + alpha)[:, None])
        with _single_threaded():  # a thin product: threads only add overhead
            return self.xc.T @ dual


class AngleRidge(BaseEstimator):
    """Ridge regression on the raw angle: the orientation treated as a line.

    ``theta_hat = b + x^T w`` with ``w = argmin ||theta - b - X w||^2 + alpha ||w||^2``,
    solved in the dual form (see ``CircularRidge``), with ``alpha`` chosen by exact
    leave-one-out cross-validation inside the training data, minimising the mean
    squared error on the raw labels (deg^2). It is the linear counterpart of the
    class MLP. Near the ends of the range it is biased inward: -90 and +90 deg
    are the same grating, yet must be mapped to opposite ends of the line.

    Args:
        alphas (array-like): candidate ridge penalties.

    Attributes:
        alpha_ (float): the chosen penalty.
        cv_errors_ (ndarray): leave-one-out mean squared error (deg^2) of each penalty.
        coef_ (ndarray): (p,) weights, degrees per response unit.
        intercept_ (float): degrees.
    """

    def __init__(self, alphas=_RIDGE_ALPHAS):
        self.alphas = alphas

    def fit(self, X, y):
        """Fit on n stimuli.

        Args:
            X (array-like): n x p responses (ndarray or tensor).
            y (array-like): n angles, degrees.

        Returns:
            AngleRidge: the fitted estimator.
        """
        x, y = _check_angle_data(X, y)
        fit = _DualRidge(x, y)
        self.cv_errors_, self.alpha_ = fit.select_alpha(
            self.alphas, lambda loo: np.mean((loo[..., 0] - y) ** 2, axis=-1))
        self.coef_ = fit.coef(self.alpha_)[:, 0]
        self.intercept_ = float(fit.t_mean[0] - fit.x_mean @ self.coef_)
        return self

    def predict(self, X):
        """Decoded angles, (n,) degrees (not wrapped: a line has no period)."""
        with _single_threaded():  # a thin product: threads only add overhead
            return np.asarray(_as_numpy(X), dtype=np.float64) @ self.coef_ + self.intercept_


class CircularRidge(BaseEstimator):
    """Ridge regression onto (cos 2 theta, sin 2 theta), decoded back to an angle.

    Orientation is circular (-90 and +90 deg are the same grating), so the
    targets are the points ``t = (cos(2 pi theta / P), sin(2 pi theta / P))``
    on the unit circle, fitted by ridge regression
    ``W = argmin ||T - X W||^2 + alpha ||W||^2`` (centred data), and a
    prediction is the angle of ``x W``. Solved in the dual form,
    ``W = X^T (X X^T + alpha I)^{-1} T``, which costs O(n^2 p) for n stimuli and
    p >> n neurons. The ridge penalty ``alpha`` is chosen inside the training
    data by leave-one-out cross-validation (a closed form from one
    eigendecomposition of ``X X^T``, exact for ridge with an intercept),
    minimising the mean squared circular error of the left-out angles; the
    data passed to ``predict`` is never used for selection. A scikit-learn
    estimator: ``fit(X, y)``, ``predict(X)``, degrees in and out.

    Args:
        alphas (array-like): candidate ridge penalties.
        period (float): period of the angle in degrees (180 for orientation).
        angle_min (float): lower end of the predicted range, degrees.

    Attributes:
        alpha_ (float): the chosen penalty.
        cv_errors_ (ndarray): leave-one-out mean squared circular error (deg^2)
            for each candidate penalty.
        loo_angles_ (ndarray): (n,) leave-one-out decoded angles at ``alpha_``, degrees
            (each from a fit without that stimulus, at the penalty chosen with it).
    """

    def __init__(self, alphas=_RIDGE_ALPHAS, period=180.0, angle_min=-90.0):
        self.alphas = alphas
        self.period = period
        self.angle_min = angle_min

    def fit(self, X, y):
        """Fit on n stimuli.

        Args:
            X (array-like): n x p responses.
            y (array-like): n angles, degrees.

        Returns:
            CircularRidge: the fitted estimator.
        """
        x, y = _check_angle_data(X, y)
        targets = angles_to_circle(y, self.period)

        def loo_errors(loo):  # (n_alphas, n, 2) -> mean squared circular error per penalty
            decoded = circle_to_angles(loo.reshape(-1, 2), self.period, self.angle_min)
            wrapped = orientation_difference(decoded.reshape(loo.shape[:-1]), y, self.period)
            return np.mean(wrapped**2, axis=-1)

        fit = _DualRidge(x, targets)
        self.cv_errors_, self.alpha_ = fit.select_alpha(self.alphas, loo_errors)
        self.loo_angles_ = circle_to_angles(fit.loo_predictions(self.alpha_), self.period,
                                            self.angle_min)
        self.x_mean_, self.t_mean_ = fit.x_mean, fit.t_mean
        self.coef_ = fit.coef(self.alpha_)  # p x 2
        return self

    def decision_function(self, X):
        """Predicted points on (near) the unit circle, n x 2."""
        x = np.asarray(_as_numpy(X), dtype=np.float64)
        with _single_threaded():  # a thin product: threads only add overhead
            return (x - self.x_mean_) @ self.coef_ + self.t_mean_

    def predict(self, X):
        """Decode angles.

        Args:
            X (array-like): n x p responses.

        Returns:
            ndarray: n angles in [angle_min, angle_min + period), degrees.
        """
        return circle_to_angles(self.decision_function(X), self.period, self.angle_min)


class PopulationVectorDecoder(BaseEstimator):
    """The classic population vector: each neuron votes for its preferred orientation.

    From the training data, each neuron n gets a preferred orientation ``phi_n``
    and a selectivity ``s_n`` (``preferred_orientation``) and a mean response
    ``m_n``; a response ``x`` is decoded as the angle of
    ``z = sum_n s_n (x_n - m_n) exp(2 pi i phi_n / P)``. No readout weights are fitted
    to the labels (only each neuron's preference), so it has little to overfit, but
    it ignores the shapes of the tuning curves, the noise of each neuron and any
    unevenness of the preferred orientations: robust, and imprecise.

    Args:
        period (float): period of the angle in degrees.
        angle_min (float): lower end of the predicted range, degrees.
    """

    def __init__(self, period=180.0, angle_min=-90.0):
        self.period = period
        self.angle_min = angle_min

    def fit(self, X, y):
        """Estimate preferred orientations, selectivities and mean responses (n x p, n angles)."""
        x, y = _check_angle_data(X, y)
        self.preferred_, self.selectivity_ = preferred_orientation(x, y, self.period)
        self.x_mean_ = x.mean(axis=0)
        return self

    def predict(self, X):
        """Decoded angles, (n,) degrees in [angle_min, angle_min + period)."""
        x = np.asarray(_as_numpy(X), dtype=np.float64) - self.x_mean_
        weights = self.selectivity_ * angles_to_circle(self.preferred_, self.period).T  # 2 x p
        return circle_to_angles(x @ weights.T, self.period, self.angle_min)
