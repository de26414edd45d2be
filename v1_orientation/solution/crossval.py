"""Cross-validation over stimuli: folds, orientation blocks, splits, out-of-fold predictions."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from v1_orientation._internal import _as_numpy
from v1_orientation.course.recording import split_train_test
from v1_orientation.solution.circular import _check_angle_data

__all__ = [
    "orientation_blocks", "selection_folds", "out_of_fold_predictions", "class_split_indices",
    "random_split_indices", "blocked_split_indices", "cv_folds",
]


def orientation_blocks(stimuli, block_width=10.0, period=180.0, seed=0):
    """Label each stimulus with the block of orientation it falls in.

    The orientation circle (``stimuli`` mod ``period``), rotated by a random offset,
    is cut into arcs of ``block_width`` degrees (the last one shorter if the width
    does not divide the period). Unlike ``cv_folds(..., scheme="blocked")`` a block
    may be empty, so it also works on a training set with gaps.

    Args:
        stimuli (array-like): n orientations, degrees.
        block_width (float): width of a block, degrees.
        period (float): period of orientation, degrees.
        seed (int): seed of the offset.

    Returns:
        ndarray: (n,) int block labels.
    """
    y = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    if not 0 < block_width <= period:
        raise ValueError(f"block_width must lie in (0, {period}], got {block_width!r}")
    offset = np.random.default_rng(seed).uniform(0.0, period)
    return (np.mod(y - offset, period) // block_width).astype(int)


def selection_folds(stimuli, n_folds=5, block_width=None, period=180.0, seed=0):
    """Folds for choosing a model inside a training set: interleaved or blocked.

    ``block_width=None``: ``cv_folds`` with the interleaved scheme (each held-out
    stimulus usually has a training neighbour 1 deg away). Otherwise the stimuli are
    grouped in ``orientation_blocks`` and whole blocks are dealt at random into the
    folds, so that selection rewards decoders that bridge gaps of that width.

    Args:
        stimuli (array-like): n orientations, degrees.
        n_folds (int): number of folds.
        block_width (float or None): width of the held-out blocks, degrees.
        period (float): period of orientation, degrees.
        seed (int): seed of the shuffle.

    Returns:
        list: ``n_folds`` sorted int arrays of held-out indices, a partition of ``range(n)``.
    """
    if block_width is None:
        return cv_folds(stimuli, n_folds, "interleaved", period, seed=seed)
    blocks = orientation_blocks(stimuli, block_width, period, seed)
    labels = np.unique(blocks)
    if labels.size < n_folds:
        raise ValueError(f"{labels.size} blocks of {block_width:g} deg hold stimuli; "
                         f"{n_folds} folds need at least as many")
    dealt = np.array_split(np.random.default_rng(seed).permutation(labels), n_folds)
    return [np.flatnonzero(np.isin(blocks, group)) for group in dealt]


def out_of_fold_predictions(estimator, X, y, folds):
    """Predict each fold with a clone of ``estimator`` fitted on the other folds.

    Args:
        estimator: unfitted scikit-learn-style decoder.
        X (array-like): n x p responses.
        y (array-like): n angles, degrees.
        folds (list): held-out index arrays that partition ``range(n)``.

    Returns:
        ndarray: (n,) out-of-fold predictions, degrees.
    """
    x, y = _check_angle_data(X, y)
    if hasattr(estimator, "out_of_fold_predictions"):  # a faster way to the same predictions
        return estimator.out_of_fold_predictions(x, y, folds)
    return _fold_by_fold_predictions(estimator, x, y, folds)


def _fold_by_fold_predictions(estimator, x, y, folds):
    """``out_of_fold_predictions`` with one clone fitted per fold (x: n x p, y: n degrees)."""
    predicted = np.full(y.size, np.nan)
    for held_out in folds:
        train = _complement(held_out, y.size)
        predicted[held_out] = clone(estimator).fit(x[train], y[train]).predict(x[held_out])
    return predicted


def class_split_indices(n_stimuli, train_frac=0.6, seed=4):
    """Indices of the class split (``split_train_test``'s permutation), training and test."""
    index = np.arange(n_stimuli)
    train, _, test, _ = split_train_test(index, index, train_frac, seed)
    return train, test


def random_split_indices(n_stimuli, n_splits=20, train_frac=0.6, seed=0):
    """``n_splits`` random train/test splits, ``int(train_frac * n)`` training stimuli each.

    Returns:
        list of (train, test) sorted int arrays.
    """
    rng = np.random.default_rng(seed)
    n_train = int(train_frac * n_stimuli)
    perms = [rng.permutation(n_stimuli) for _ in range(n_splits)]
    return [(np.sort(p[:n_train]), np.sort(p[n_train:])) for p in perms]


def blocked_split_indices(stimuli, block_width=10.0, n_splits=20, test_frac=0.4, period=180.0,
                          seed=0):
    """Train/test splits that hold out whole blocks of orientation.

    Split k cuts the circle into ``orientation_blocks`` (offset drawn with seed
    ``[seed, k]``) and sends ``round(test_frac * n_blocks)`` random blocks to the
    test set, so a test stimulus can lie up to about ``block_width / 2`` degrees
    from the nearest training stimulus (1 deg for a random split of 1-deg bins).

    Returns:
        list of (train, test) sorted int arrays.
    """
    y = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    splits = []
    for k in range(n_splits):
        blocks = orientation_blocks(y, block_width, period, seed=[seed, k])
        labels = np.unique(blocks)
        rng = np.random.default_rng([seed, k, 1])
        held_out = rng.choice(labels, int(round(test_frac * labels.size)), replace=False)
        test = np.isin(blocks, held_out)
        splits.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return splits


def cv_folds(stimuli, n_folds=10, scheme="interleaved", period=180.0, seed=0):
    """Test sets of K-fold cross-validation over stimuli, interleaved or in blocks of orientation.

    ``"interleaved"``: the stimuli are shuffled and dealt into ``n_folds`` folds, so a
    test stimulus usually has training stimuli 1 deg away: the test measures
    interpolation between neighbouring orientations (fine discrimination).
    ``"blocked"``: the orientation circle (``stimuli`` mod ``period``), rotated by a
    random offset, is cut into ``n_folds`` arcs of ``period / n_folds`` degrees, and a
    fold holds out every stimulus in one arc (in a 0-360 deg recording, both
    directions of each orientation), so the decoder must bridge a gap of one arc.

    Args:
        stimuli (array-like): n stimulus orientations, degrees.
        n_folds (int): number of folds K, 2 <= K <= n.
        scheme (str): ``"interleaved"`` or ``"blocked"``.
        period (float): period of orientation, degrees.
        seed (int): seed of the shuffle (interleaved) or of the arcs' offset (blocked).

    Returns:
        list: K sorted int arrays of test indices, together a partition of ``range(n)``.

    Raises:
        ValueError: unknown scheme, K out of range, or an arc without stimuli.
    """
    stimuli = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    n_folds = int(n_folds)
    if not 2 <= n_folds <= stimuli.size:
        raise ValueError(f"n_folds must be in [2, {stimuli.size}], got {n_folds}")
    rng = np.random.default_rng(seed)
    if scheme == "interleaved":
        return [np.sort(f) for f in np.array_split(rng.permutation(stimuli.size), n_folds)]
    if scheme == "blocked":
        shifted = np.mod(stimuli - rng.uniform(0.0, period), period)
        arc = np.minimum((shifted * n_folds / period).astype(int), n_folds - 1)
        folds = [np.flatnonzero(arc == k) for k in range(n_folds)]
        if min(f.size for f in folds) == 0:
            raise ValueError(f"an arc of {period / n_folds:g} deg holds no stimulus; "
                             "use fewer folds")
        return folds
    raise ValueError(f"scheme must be 'interleaved' or 'blocked', got {scheme!r}")


def _complement(test, n):
    """Indices of ``range(n)`` not in ``test``."""
    keep = np.ones(n, dtype=bool)
    keep[test] = False
    return np.flatnonzero(keep)
