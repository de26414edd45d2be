"""Dimensionality reduction: principal components' explained variance, PCA and t-SNE embeddings."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from v1_orientation._internal import _as_numpy, _single_threaded
from v1_orientation.solution.tables import ResultTable

__all__ = [
    "explained_variance", "explained_variance_table", "embed", "embed_all",
]


def explained_variance(resp, n_components=None):
    """Fraction of the variance across stimuli captured by each principal component.

    PCA of the n_stimuli x n_units matrix, units centred: the eigenvalues
    ``lambda_k`` of the covariance, as ``lambda_k / sum_j lambda_j``.

    Args:
        resp (array-like): n_stimuli x n_units responses.
        n_components (int): number of components (default: all).

    Returns:
        ndarray: (n_components,) explained-variance ratios, descending.
    """
    variances = _principal_components(resp, 0)[1]
    return (variances / np.sum(variances))[:n_components]


def _principal_components(resp, n_components):
    """Scores on the first principal components of the rows, and every component's variance.

    With more units than stimuli (p > n) the components come from the eigendecomposition
    of the n x n Gram matrix of the centred rows, ``Xc Xc^T = U diag(s^2) U^T``, at
    O(n^2 p) and without the p x n right singular vectors; otherwise from the SVD. The
    scores are ``U S``, each component's sign set as scikit-learn's PCA sets it (its
    largest loading ``Xc^T u / s`` positive), so they equal
    ``PCA(n_components).fit_transform``.

    Args:
        resp (array-like): n x p responses.
        n_components (int): number of components k to score.

    Returns:
        tuple: scores (n x k) and the squared singular values of the centred data
        (descending; sum of squares along each component).
    """
    xc = np.asarray(_as_numpy(resp), dtype=np.float64)
    xc = xc - xc.mean(axis=0)
    with _single_threaded():
        if xc.shape[1] > xc.shape[0]:
            eigval, u = np.linalg.eigh(xc @ xc.T)
            variances, u = np.clip(eigval[::-1], 0.0, None), u[:, ::-1]
        else:
            u, singular, _ = np.linalg.svd(xc, full_matrices=False)
            variances = singular**2
        singular = np.sqrt(variances[:n_components])
        u = u[:, :n_components]
        with np.errstate(invalid="ignore", divide="ignore"):
            loadings = xc.T @ np.where(singular > 0, u / singular, 0.0)
    largest = loadings[np.argmax(np.abs(loadings), axis=0), np.arange(u.shape[1])]
    return u * singular * np.where(largest < 0, -1.0, 1.0), variances


def explained_variance_table(ratios, title=""):
    """Variance explained by the first two principal components of each representation.

    Args:
        ratios (dict): name -> ``explained_variance`` output (at least 2 components).
        title (str): line above the table.

    Returns:
        ResultTable: per representation the fraction of variance on PC1, PC2 and both.
    """
    frame = pd.DataFrame([{"PC1": r[0], "PC2": r[1], "PC1 + PC2": r[0] + r[1]}
                          for r in ratios.values()],
                         index=pd.Index(list(ratios), name="representation"))
    return ResultTable(frame, dict.fromkeys(frame.columns, ".2f"), title)


def embed(resp, method="pca", n_components=2, seed=0, perplexity=30.0):
    """Low-dimensional embedding of population responses, one point per stimulus.

    Args:
        resp (array-like): n_stimuli x n_units responses.
        method (str): ``"pca"`` (linear, variance-preserving) or ``"tsne"``
            (non-linear, preserves neighbourhoods; initialised by PCA).
        n_components (int): dimensions of the embedding.
        seed (int): random state of t-SNE.
        perplexity (float): t-SNE's effective number of neighbours.

    Returns:
        ndarray: n_stimuli x n_components coordinates.
    """
    return embed_all({"": resp}, method, n_components, seed, perplexity)[""]


def embed_all(reps, method="pca", n_components=2, seed=0, perplexity=30.0, n_jobs=1):
    """``embed`` of several representations, computed ``n_jobs`` at a time in threads.

    Each embedding is the one ``embed`` gives (the same arrays whatever ``n_jobs``);
    t-SNE's gradient releases the GIL, so two threads take about half the time.

    Args:
        reps (dict): name -> n_stimuli x n_units responses.
        method (str): ``"pca"`` or ``"tsne"`` (see ``embed``).
        n_components (int): dimensions of each embedding.
        seed (int): random state of t-SNE.
        perplexity (float): t-SNE's effective number of neighbours.
        n_jobs (int): embeddings computed at once.

    Returns:
        dict: name -> n_stimuli x n_components coordinates, in the order of ``reps``.
    """
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    # the thread limit is taken once, around all threads: nested limits would restore
    # each other's settings out of order
    with _single_threaded(user_api=None), ThreadPoolExecutor(max(1, int(n_jobs))) as pool:
        return dict(zip(reps, pool.map(
            lambda x: _embedding(x, method, n_components, seed, perplexity), reps.values()),
            strict=True))


def _embedding(resp, method, n_components, seed, perplexity):
    """``embed`` without its thread limit (the caller sets it)."""
    from sklearn.manifold import TSNE

    x = np.asarray(_as_numpy(resp), dtype=np.float64)
    if method == "pca":
        return _principal_components(x, n_components)[0]
    # PCA to 50 dimensions first: t-SNE's neighbourhoods are stable and it runs in seconds.
    x = _principal_components(x, min(50, *x.shape))[0]
    tsne = TSNE(n_components=n_components, perplexity=min(perplexity, (len(x) - 1) / 3),
                init="pca", random_state=seed)
    return tsne.fit_transform(x)
