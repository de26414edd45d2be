"""The geometry the answers describe: RDMs across the seam, tilt categories, PCs as harmonics.

Orientations are the assignment's, degrees in [-90, 90] with period 180 (-90 and +90 are the
same orientation); RDMs are (S, S) with a zero diagonal, one row per stimulus.
"""

from __future__ import annotations

import numpy as np

from v1_orientation._internal import _as_numpy

__all__ = [
    "seam_comparison", "rdm_between", "category_structure", "distinct_values",
    "harmonic_r2", "seam_gap",
]


def _orientations(orientations):
    return np.asarray(_as_numpy(orientations), dtype=np.float64).reshape(-1)


def seam_comparison(rdm, orientations, max_difference=10, period=180.0):
    """Dissimilarity of pairs across the +-90 seam against interior pairs as far apart.

    A pair of stimuli at theta_i < theta_j crosses the seam when its circular difference
    ``period - (theta_j - theta_i)`` is the shorter way round. If a representation depended
    on the circular difference only, such a pair would be as dissimilar as an interior pair
    ``theta_j - theta_i`` apart the short way.

    Args:
        rdm (array-like): (S, S) RDM.
        orientations (array-like): (S,) orientations, degrees, in one period.
        max_difference (int): largest circular difference compared, degrees (whole degrees).
        period (float): period of orientation, degrees.

    Returns:
        dict: ``ends`` (the RDM between the lowest and highest orientation, the same
        orientation when they are a period apart), ``neighbours`` (mean RDM between
        consecutive orientations) and ``step`` (their median spacing, degrees),
        ``by_difference`` (d -> (interior mean,
        seam mean, number of seam pairs), d = 1..max_difference where both exist),
        ``excess`` (mean over seam pairs of their RDM minus the interior mean at their
        difference), ``fraction_above`` (share of seam pairs above that mean), ``n_pairs``.
    """
    rdm = np.asarray(_as_numpy(rdm), dtype=np.float64)
    theta = _orientations(orientations)
    i, j = np.triu_indices(theta.size, k=1)
    line = np.abs(theta[j] - theta[i])
    short = np.rint(np.minimum(line, period - line)).astype(int)
    crosses = period - line < line
    values = rdm[i, j]
    by_difference, excess, above = {}, [], []
    for d in range(1, int(max_difference) + 1):
        interior = values[(short == d) & ~crosses]
        seam = values[(short == d) & crosses]
        if interior.size and seam.size:
            by_difference[d] = (float(interior.mean()), float(seam.mean()), int(seam.size))
            excess += list(seam - interior.mean())
            above += list(seam > interior.mean())
    lo, hi = np.argmin(theta), np.argmax(theta)
    order = np.argsort(theta)
    return {"ends": float(rdm[lo, hi]), "neighbours": float(np.mean(rdm[order[:-1], order[1:]])),
            "step": float(np.median(np.diff(theta[order]))), "by_difference": by_difference,
            "excess": float(np.mean(excess)) if excess else np.nan,
            "fraction_above": float(np.mean(above)) if above else np.nan,
            "n_pairs": len(excess)}


def rdm_between(rdm, orientations, a, b):
    """The RDM entry between the stimuli nearest orientations ``a`` and ``b`` (degrees)."""
    theta = _orientations(orientations)
    rdm = np.asarray(_as_numpy(rdm), dtype=np.float64)
    return float(rdm[np.argmin(np.abs(theta - a)), np.argmin(np.abs(theta - b))])


def category_structure(rdm, orientations, margin=5.0):
    """Mean dissimilarity within and across the tilt categories (left < 0 < right).

    Stimuli within ``margin`` degrees of 0 or of +-90, where the categories meet, are left
    out of the means.

    Returns:
        dict: ``within`` and ``across`` (mean RDM over pairs of the same or of opposite
        tilt), ``orthogonal`` (the mean of the RDM between 0 and -90 and between 0 and +90).
    """
    theta = _orientations(orientations)
    rdm = np.asarray(_as_numpy(rdm), dtype=np.float64)
    clear = (np.abs(theta) > margin) & (np.abs(theta) < 90 - margin)
    sign = np.sign(theta[clear])
    sub = rdm[np.ix_(clear, clear)]
    i, j = np.triu_indices(sign.size, k=1)
    same = sign[i] == sign[j]
    return {"within": float(sub[i, j][same].mean()), "across": float(sub[i, j][~same].mean()),
            "orthogonal": float(np.mean([rdm_between(rdm, theta, 0, -90),
                                         rdm_between(rdm, theta, 0, 90)]))}


def distinct_values(resp, decimals=None):
    """Number of distinct values each unit takes over the stimuli: (n_units,) ints.

    Args:
        resp (array-like): (S, N) responses.
        decimals (int or None): round to this many decimals first (None: exact values).
    """
    resp = np.asarray(_as_numpy(resp), dtype=np.float64)
    if decimals is not None:
        resp = np.round(resp, decimals)
    ordered = np.sort(resp, axis=0)
    return 1 + np.count_nonzero(np.diff(ordered, axis=0), axis=0)


def harmonic_r2(scores, orientations, period=180.0):
    """How much of each component is the first harmonic of orientation.

    Args:
        scores (array-like): (S, K) component scores (e.g. principal components).
        orientations (array-like): (S,) orientations, degrees.
        period (float): period of orientation, degrees.

    Returns:
        ndarray: (K,) R^2 of each column's least-squares fit by ``c0 + c1 cos(2 pi theta /
        period) + c2 sin(2 pi theta / period)``.
    """
    scores = np.asarray(_as_numpy(scores), dtype=np.float64)
    scores = scores[:, None] if scores.ndim == 1 else scores
    phase = 2 * np.pi * _orientations(orientations) / period
    design = np.stack([np.ones_like(phase), np.cos(phase), np.sin(phase)], axis=1)
    coef, *_ = np.linalg.lstsq(design, scores, rcond=None)
    residual = ((scores - design @ coef) ** 2).sum(axis=0)
    return 1 - residual / ((scores - scores.mean(axis=0)) ** 2).sum(axis=0)


def seam_gap(embedding, orientations):
    """Distance between the ends (-90 and +90) of an embedding, over its 1-degree steps.

    Args:
        embedding (array-like): (S, 2) points, one per stimulus.
        orientations (array-like): (S,) orientations, degrees, sorted or not.

    Returns:
        float: the distance between the points of the lowest and highest orientation divided
        by the median distance between points of neighbouring orientations (about 1 when the
        ring closes at the seam; much more than 1 when the ends lie apart).
    """
    theta = _orientations(orientations)
    points = np.asarray(_as_numpy(embedding), dtype=np.float64)[np.argsort(theta)]
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return float(np.linalg.norm(points[-1] - points[0]) / np.median(steps))
