"""Representational dissimilarity: the template's ``RDM`` and the class's RDM comparison."""

from __future__ import annotations

import numpy as np
from scipy import stats

from v1_orientation._internal import _as_numpy

__all__ = [
    "RDM", "compare_rdms", "upper_triangle",
]


def RDM(resp):  # noqa: N802 (the template's name)
    """Compute the representational dissimilarity matrix (correlation distance).

    Each stimulus's population response is z-scored across units,
    ``z_i = (r_i - mean(r_i)) / std(r_i)``, and
    ``RDM_ij = 1 - z_i . z_j / N``, i.e. one minus the Pearson correlation
    between the responses to stimuli i and j (``1 - np.corrcoef(resp)``).
    Computed in float64.

    Args:
        resp (ndarray or torch.Tensor): S x N responses, one stimulus per row.

    Returns:
        ndarray: S x S float64 RDM, zero diagonal, values in [0, 2].

    Raises:
        ValueError: ``resp`` is not 2-D, holds non-finite values, or a
            stimulus's population response is constant (its correlation is
            undefined).
    """
    resp = _as_numpy(resp).astype(np.float64)
    if resp.ndim != 2:
        raise ValueError(f"resp must be 2-D (n_stimuli x n_units), got shape {resp.shape}")
    if not np.all(np.isfinite(resp)):
        raise ValueError("resp holds non-finite values (NaN or inf)")
    centred = resp - resp.mean(axis=1, keepdims=True)
    std = np.sqrt((centred**2).mean(axis=1, keepdims=True))
    constant = np.flatnonzero(std[:, 0] <= 1e-12 * (1 + np.abs(resp).max(axis=1)))
    if constant.size:
        raise ValueError(
            f"the population response to stimulus row(s) {constant[:10].tolist()} is constant "
            "across units, so its correlation distance is undefined; drop those rows (or "
            "units that never respond) before computing the RDM"
        )
    zresp = centred / std
    rdm = 1 - (zresp @ zresp.T) / zresp.shape[1]
    np.fill_diagonal(rdm, 0.0)
    return rdm


def compare_rdms(rdm_a, rdm_b, method="pearson"):
    """Correlate two RDMs over their upper triangles (diagonal excluded).

    Pearson: ``r = sum((a - mean a)(b - mean b)) / sqrt(sum (a - mean a)^2 sum (b - mean b)^2)``
    over the S(S-1)/2 stimulus pairs; Spearman: the Pearson correlation of
    their ranks (ties get average ranks). Equal to rsatoolbox's "corr" and
    "spearman" comparisons.

    Args:
        rdm_a (ndarray): S x S RDM.
        rdm_b (ndarray): S x S RDM of the same stimuli.
        method (str): ``"pearson"`` (as in class) or ``"spearman"``.

    Returns:
        float: the correlation, in [-1, 1].

    Raises:
        ValueError: shapes differ or are not square, or ``method`` is unknown.
    """
    a, b = _as_numpy(rdm_a), _as_numpy(rdm_b)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape != b.shape:
        raise ValueError(f"RDMs must be square and of equal shape, got {a.shape} and {b.shape}")
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    x, y = upper_triangle(a), upper_triangle(b)
    if method == "spearman":
        x, y = stats.rankdata(x), stats.rankdata(y)
    return float(np.corrcoef(x, y)[0, 1])


def upper_triangle(rdm):
    """The S(S-1)/2 entries above the diagonal of an S x S matrix, row by row."""
    rdm = _as_numpy(rdm)
    return rdm[np.triu_indices(rdm.shape[0], k=1)]
