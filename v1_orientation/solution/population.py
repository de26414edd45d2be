"""Part 2: cross-validated decoding error against the number of neurons."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from v1_orientation._internal import _as_numpy, _single_threaded
from v1_orientation.solution.circular import orientation_difference
from v1_orientation.solution.crossval import _complement, cv_folds
from v1_orientation.solution.ridge import CircularRidge
from v1_orientation.solution.tables import ResultTable

__all__ = [
    "cross_validated_angles", "decoding_error_curve", "decoding_error_curves", "error_curve_table",
    "ranked_table", "smallest_size_within",
]


def _gram_embedding(gram):
    """An n x n matrix ``Z`` with ``Z Z^T = gram``, from the eigendecomposition of ``gram``.

    Ridge regression in the dual form sees the responses only through inner products
    (of centred rows, which are inner products too), so ``Z`` is an exact, cheap
    stand-in for an n x p response matrix with p >> n and ``X X^T = gram``:
    ``Z = X V`` for an orthonormal basis ``V`` of the row space of ``X``.
    """
    eigval, eigvec = np.linalg.eigh(gram)
    return eigvec * np.sqrt(np.clip(eigval, 0.0, None))


def _nested_subset_features(xt, sizes, order, every_neuron=None):
    """For each size, features that any ridge decoder treats as ``xt[order[:size]].T``.

    Up to n neurons the responses themselves; beyond, ``_gram_embedding`` of the
    n x n Gram matrix, accumulated block by block over the nested subsets (one pass
    over the neurons for all sizes).

    Args:
        xt (ndarray): p x n responses (one row per neuron: gathering rows is fast), float64.
        sizes (array-like): increasing subset sizes, each <= p.
        order (ndarray): (p,) neuron order; subset k is ``order[:sizes[k]]``.
        every_neuron (ndarray or None): the features of all p neurons, which do not
            depend on the order (computed once by the caller and shared); None: accumulated.

    Yields:
        ndarray: n x min(size, n) features, one per size.
    """
    n = xt.shape[1]
    gram = np.zeros((n, n))
    done = 0
    for size in sizes:
        if size <= n:
            yield xt[order[:size]].T
            continue
        if every_neuron is not None and size == xt.shape[0]:
            yield every_neuron
            continue
        block = xt[order[done:size]]
        gram += block.T @ block
        done = size
        yield _gram_embedding(gram)


def _fit_and_decode(features, stimuli, train, test, period, angle_min, alphas):
    """Fit ``CircularRidge`` on the training rows and decode the test rows (degrees)."""
    kwargs = {} if alphas is None else {"alphas": alphas}
    model = CircularRidge(period=period, angle_min=angle_min, **kwargs)
    return model.fit(features[train], stimuli[train]).predict(features[test])


def cross_validated_angles(features, stimuli, folds, period=180.0, angle_min=-90.0, alphas=None):
    """Out-of-fold decoded orientations: each fold decoded by a ``CircularRidge`` fit on the rest.

    The ridge penalty is chosen by leave-one-out inside each training set (see
    ``CircularRidge``); the held-out fold is never used for fitting or selection.

    Args:
        features (array-like): n x p responses.
        stimuli (array-like): n orientations, degrees (any range; taken mod ``period``).
        folds (list): test index arrays that partition ``range(n)`` (e.g. ``cv_folds``).
        period (float): period of orientation, degrees.
        angle_min (float): lower end of the decoded range, degrees.
        alphas (array-like): candidate penalties (default: ``CircularRidge``'s).

    Returns:
        ndarray: (n,) decoded orientations in [angle_min, angle_min + period), degrees.
    """
    x = np.asarray(_as_numpy(features), dtype=np.float64)
    y = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    decoded = np.full(y.size, np.nan)
    for test in folds:
        decoded[test] = _fit_and_decode(x, y, _complement(test, y.size), test, period,
                                        angle_min, alphas)
    return decoded


def _circular_rmse(decoded, stimuli, period):
    """Root-mean-square wrapped error over the last axis, degrees."""
    return np.sqrt(np.mean(orientation_difference(decoded, stimuli, period) ** 2, axis=-1))


def _check_sizes(sizes, n_neurons):
    """Sorted unique integer sizes in [1, n_neurons], or ValueError."""
    sizes = np.unique(np.asarray(sizes, dtype=np.int64))
    if sizes.size == 0 or sizes[0] < 1 or sizes[-1] > n_neurons:
        raise ValueError(f"sizes must lie in [1, {n_neurons}], got {sizes}")
    return sizes


def decoding_error_curve(  # noqa: D417 (the arguments are decoding_error_curves')
        resp, stimuli, sizes, n_repeats=5, n_folds=10, scheme="interleaved", rank_by=None,
        period=180.0, angle_min=-90.0, alphas=None, seed=0, progress=False, n_jobs=1):
    """``decoding_error_curves`` for one cross-validation scheme.

    Args:
        resp, stimuli, sizes, n_repeats, n_folds, rank_by, period, angle_min, alphas, seed,
            progress, n_jobs: passed on to ``decoding_error_curves`` (see there).
        scheme (str): the one scheme, ``"interleaved"`` or ``"blocked"`` (see ``cv_folds``).

    Returns:
        dict: that scheme's ``sizes`` (S,) int; ``rmse`` (S, R) circular RMS errors,
        degrees; ``decoded`` (R, n_stimuli) out-of-fold decoded orientations with the
        largest size, degrees.
    """
    return decoding_error_curves(resp, stimuli, sizes, n_repeats, n_folds, (scheme,), rank_by,
                                 period, angle_min, alphas, seed, progress, n_jobs)[scheme]


def decoding_error_curves(resp, stimuli, sizes, n_repeats=5, n_folds=10,
                          schemes=("interleaved", "blocked"), rank_by=None, period=180.0,
                          angle_min=-90.0, alphas=None, seed=0, progress=False, n_jobs=1):
    """Cross-validated circular decoding error against the number of neurons decoded.

    For each cross-validation scheme, repeat ``r`` and size ``N``, a ``CircularRidge``
    decoder reads the orientation from N neurons, with K-fold cross-validation over
    the stimuli (``cv_folds(stimuli, n_folds, scheme, period, seed=seed + r)``), and
    the error is the circular RMS error over all n out-of-fold stimuli,
    ``sqrt(mean_s wrap(theta_hat_s - theta_s)^2)``.

    Which N neurons:

    - ``rank_by=None``: a random subset. Each repeat draws one random order of all
      neurons and uses its first N (nested subsets), so a repeat is one
      "neuron-dropping" curve and repeats are independent.
    - ``rank_by=callable``: the N neurons with the highest
      ``rank_by(resp[train], stimuli[train])`` (an (n_neurons,) score), computed on
      each fold's training stimuli only, so the selection never sees the test fold.
      Repeats then differ only in the fold partition.

    Beyond n neurons the decoder is fitted on ``_gram_embedding`` of the subset's
    n x n Gram matrix, which gives exactly the predictions of fitting on the
    neurons themselves, at a cost that does not grow with N.

    Args:
        resp (array-like): n_stimuli x n_neurons responses.
        stimuli (array-like): n_stimuli orientations, degrees.
        sizes (array-like): numbers of neurons N, each in [1, n_neurons].
        n_repeats (int): random subsets (or fold partitions) per size, R.
        n_folds (int): folds of the cross-validation, K.
        schemes (iterable of str): cross-validation schemes, ``"interleaved"`` and/or
            ``"blocked"`` (see ``cv_folds``). Every scheme sees the same random
            neuron subsets (repeat ``r`` draws its order with seed ``[seed, r]``), so
            the Gram matrices of the nested subsets are accumulated once per repeat
            for all of them; each scheme has its own folds.
        rank_by (callable): optional score of each neuron from training data.
        period (float): period of orientation, degrees.
        angle_min (float): lower end of the decoded range, degrees.
        alphas (array-like): candidate ridge penalties (default: ``CircularRidge``'s).
        seed (int): seed of the subsets and folds.
        progress (bool): show a progress bar over the repeats.
        n_jobs (int): repeats computed at once, in threads (the same result for any value).

    Returns:
        dict: scheme -> dict with ``sizes`` (S,) int; ``rmse`` (S, R) circular RMS
        errors, degrees; ``decoded`` (R, n_stimuli) out-of-fold decoded orientations
        with the largest size, degrees.
    """
    from tqdm.auto import tqdm

    x = np.asarray(_as_numpy(resp), dtype=np.float64)
    y = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.size:
        raise ValueError(f"resp must be n_stimuli x n_neurons with one stimulus per row; "
                         f"got {x.shape} and {y.shape}")
    sizes = _check_sizes(sizes, x.shape[1])
    schemes = list(schemes)
    xt = np.ascontiguousarray(x.T)
    decoded = {s: np.full((n_repeats, sizes.size, y.size), np.nan) for s in schemes}
    # All neurons give the same features in every repeat and fold: computed once.
    every_neuron = _gram_embedding(x @ xt) if sizes[-1] == x.shape[1] > y.size else None

    def repeat(r):  # one repeat of every scheme; fills its own rows of ``decoded``
        folds = {s: cv_folds(y, n_folds, s, period, seed=seed + r) for s in schemes}
        if rank_by is None:
            order = np.random.default_rng([seed, r]).permutation(x.shape[1])
            for k, z in enumerate(_nested_subset_features(xt, sizes, order, every_neuron)):
                for s in schemes:
                    decoded[s][r, k] = cross_validated_angles(z, y, folds[s], period,
                                                              angle_min, alphas)
            return
        for s in schemes:
            for test in folds[s]:
                train = _complement(test, y.size)
                order = np.argsort(-np.asarray(rank_by(x[train], y[train])), kind="stable")
                features = _nested_subset_features(xt, sizes, order, every_neuron)
                for k, z in enumerate(features):
                    decoded[s][r, k, test] = _fit_and_decode(z, y, train, test, period,
                                                             angle_min, alphas)

    label = (f"{' and '.join(schemes)} split{'s' if len(schemes) > 1 else ''}, "
             f"{'random' if rank_by is None else 'ranked'} neurons")
    # Many small eigendecompositions: one BLAS thread each is as fast, and it does not
    # collapse when the cores are shared. Repeats run in n_jobs threads (LAPACK releases
    # the GIL); each writes its own rows, so the result does not depend on n_jobs.
    with _single_threaded(), ThreadPoolExecutor(max(1, int(n_jobs))) as pool:
        for _ in tqdm(pool.map(repeat, range(n_repeats)), total=n_repeats,
                      disable=not progress, desc=label):
            pass
    return {s: {"sizes": sizes, "rmse": _circular_rmse(decoded[s], y, period).T,
                "decoded": decoded[s][:, -1]} for s in schemes}


def error_curve_table(curves, title=""):
    """Decoding error against population size for each cross-validation scheme.

    Args:
        curves (dict): scheme -> ``decoding_error_curve`` output (the same sizes).
        title (str): line above the table.

    Returns:
        ResultTable: one row per size N; per scheme the mean and SD over repeats of the
        circular RMS error (deg).
    """
    sizes = next(iter(curves.values()))["sizes"]
    frame = pd.DataFrame(index=pd.Index(sizes.tolist(), name="N"))
    for scheme, curve in curves.items():
        frame[f"{scheme} (deg)"] = curve["rmse"].mean(axis=1)
        frame[f"{scheme} SD"] = curve["rmse"].std(axis=1, ddof=1)
    return ResultTable(frame, dict.fromkeys(frame.columns, ".3f"), title,
                       ["circular RMS error, mean and SD over the random subsets"])


def ranked_table(sizes, random_rmse, ranked_rmse, title=""):
    """Decoding error of random and of the most reliable neurons, size by size.

    Args:
        sizes (array-like): (S,) population sizes.
        random_rmse (array-like): (S,) mean error of random subsets, deg.
        ranked_rmse (array-like): (S,) mean error of the most reliable neurons, deg.
        title (str): line above the table.

    Returns:
        ResultTable: per size both errors and their ratio (random / most reliable).
    """
    random_rmse, ranked_rmse = np.asarray(random_rmse), np.asarray(ranked_rmse)
    frame = pd.DataFrame({"random (deg)": random_rmse, "most reliable (deg)": ranked_rmse,
                          "ratio": random_rmse / ranked_rmse},
                         index=pd.Index(np.asarray(sizes).tolist(), name="N"))
    return ResultTable(frame, {"random (deg)": ".3f", "most reliable (deg)": ".3f",
                               "ratio": ".2f"}, title)


def smallest_size_within(sizes, errors, target):
    """The smallest tested size whose error is at or below ``target`` (None if none is).

    Args:
        sizes (array-like): (S,) increasing population sizes.
        errors (array-like): (S,) errors at those sizes.
        target (float): the error to reach.
    """
    reached = np.flatnonzero(np.asarray(errors) <= target)
    return int(np.asarray(sizes)[reached[0]]) if reached.size else None
