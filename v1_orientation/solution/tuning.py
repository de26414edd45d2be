"""Tuning curves from responses: binned curves, split-half reliability, preferred orientation."""

from __future__ import annotations

import numpy as np

from v1_orientation._internal import _as_numpy

__all__ = [
    "binned_tuning", "split_half_reliability", "reliability_threshold", "preferred_orientation",
]


def binned_tuning(resp, stimuli, n_bins=36, low=None, high=None):
    """Average responses in equal-width orientation bins (tuning curves).

    Args:
        resp (array-like): n_stimuli x n_units responses.
        stimuli (array-like): n_stimuli orientations, degrees.
        n_bins (int): number of bins spanning [low, high].
        low (float): lower edge (default: the smallest stimulus).
        high (float): upper edge (default: the largest stimulus).

    Returns:
        tuple: bin centres (n_bins,) in degrees and mean responses
        (n_bins x n_units); a bin without stimuli holds NaN.
    """
    resp = np.asarray(_as_numpy(resp), dtype=np.float64)
    stimuli = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    low = stimuli.min() if low is None else low
    high = stimuli.max() if high is None else high
    edges = np.linspace(low, high, n_bins + 1)
    index = np.clip(np.digitize(stimuli, edges) - 1, 0, n_bins - 1)
    onehot = np.zeros((n_bins, stimuli.size))
    onehot[index, np.arange(stimuli.size)] = 1.0
    counts = onehot.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        curves = (onehot @ resp) / counts
    return (edges[:-1] + edges[1:]) / 2, curves


def _columnwise_correlation(x, y):
    """Pearson correlation of matching columns of two (n, m) arrays -> (m,)."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    denom = np.sqrt((x**2).sum(axis=0) * (y**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (x * y).sum(axis=0) / denom, 0.0)


def split_half_reliability(resp, stimuli, n_bins=36):
    """How reproducible each unit's tuning curve is, from two halves of the stimuli.

    Stimuli are sorted by orientation and dealt alternately into two halves
    (even and odd positions, so both halves cover every orientation); each
    half gives a tuning curve in ``n_bins`` bins, and the reliability is the
    Pearson correlation between the two curves. A noise-only unit scores
    about 0, a well-tuned one close to 1.

    Args:
        resp (array-like): n_stimuli x n_units responses.
        stimuli (array-like): n_stimuli orientations, degrees.
        n_bins (int): bins of each half's tuning curve.

    Returns:
        ndarray: (n_units,) correlations in [-1, 1].
    """
    resp = np.asarray(_as_numpy(resp), dtype=np.float64)
    stimuli = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    order = np.argsort(stimuli, kind="stable")
    low, high = stimuli.min(), stimuli.max()
    halves = [binned_tuning(resp[order[k::2]], stimuli[order[k::2]], n_bins, low, high)[1]
              for k in (0, 1)]
    return _columnwise_correlation(*halves)


def reliability_threshold(resp, stimuli, n_bins=36, n_shuffles=5, quantile=0.99, seed=0):
    """Chance level of ``split_half_reliability``, from stimulus-shuffled responses.

    Shuffling which orientation each response belongs to destroys tuning but
    keeps each unit's response distribution; the ``quantile`` of the
    reliabilities of ``n_shuffles`` shuffles is the threshold above which a
    unit counts as reliably tuned (a false-positive rate of ``1 - quantile``).

    Args:
        resp (array-like): n_stimuli x n_units responses.
        stimuli (array-like): n_stimuli orientations, degrees.
        n_bins (int): bins of each half's tuning curve.
        n_shuffles (int): number of shuffles pooled into the null distribution.
        quantile (float): quantile of the null distribution used as threshold.
        seed (int): seed of the shuffles.

    Returns:
        float: the threshold correlation.
    """
    rng = np.random.default_rng(seed)
    resp = np.asarray(_as_numpy(resp), dtype=np.float64)
    stimuli = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    null = [split_half_reliability(resp[rng.permutation(len(stimuli))], stimuli, n_bins)
            for _ in range(n_shuffles)]
    return float(np.quantile(np.concatenate(null), quantile))


def preferred_orientation(resp, stimuli, period=180.0):
    """Preferred orientation and selectivity of each unit, by the vector sum.

    ``z = sum_s (r_s - mean r) exp(2 pi i theta_s / period) / sum_s |r_s - mean r|``;
    the preferred orientation is ``arg(z) period / (2 pi)`` in [0, period) and
    the selectivity ``|z|`` in [0, 1]. With period 180 a unit with peaks at
    theta and theta + 180 gets the preference theta.

    Args:
        resp (array-like): n_stimuli x n_units responses.
        stimuli (array-like): n_stimuli orientations, degrees.
        period (float): period in degrees.

    Returns:
        tuple: preferred orientations (n_units,) in degrees and selectivities (n_units,).
    """
    resp = np.asarray(_as_numpy(resp), dtype=np.float64)
    theta = 2 * np.pi * np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1) / period
    centred = resp - resp.mean(axis=0)
    z = np.exp(1j * theta) @ centred
    norm = np.abs(centred).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        selectivity = np.where(norm > 0, np.abs(z) / norm, 0.0)
    return np.mod(np.angle(z) * period / (2 * np.pi), period), selectivity
