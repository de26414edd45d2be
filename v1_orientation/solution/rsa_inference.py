"""RSA inference: bootstrap over stimuli, permutation tests and the split-half noise ceiling.

Checked against rsatoolbox in the tests; RDMs are (S, S) symmetric with a zero diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from v1_orientation._internal import _as_numpy
from v1_orientation.course.rdm import compare_rdms, upper_triangle
from v1_orientation.solution.stats import (
    bootstrap_counts,
    bootstrap_difference_p,
    interval_sign,
    percentile_interval,
    permutation_p_value,
)
from v1_orientation.solution.tables import ResultTable

__all__ = [
    "resampled_rdm_similarity", "rdm_permutation_null", "RDMComparison", "rsa_compare",
    "split_half_noise_ceiling", "rsa_table", "rsa_difference_table",
]


def _check_method(method):
    """Raise unless ``method`` is a comparison ``compare_rdms`` knows."""
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")


def _rdm_stack(rdm_ref, rdms):
    """Reference and model RDMs as float64 arrays with zero diagonals, shapes checked."""
    ref = np.array(_as_numpy(rdm_ref), dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] != ref.shape[1] or ref.shape[0] < 3:
        raise ValueError(f"the reference RDM must be square with >= 3 stimuli, got {ref.shape}")
    stack = np.array([np.asarray(_as_numpy(r), dtype=np.float64) for r in rdms])
    if stack.ndim != 3 or stack.shape[1:] != ref.shape:
        raise ValueError(f"every RDM must have the reference's shape {ref.shape}")
    np.fill_diagonal(ref, 0.0)
    for r in stack:
        np.fill_diagonal(r, 0.0)
    return ref, stack


def _pair_sum(counts, matrix):
    """``sum_{k<l} c_k c_l X_kl`` for each row c of counts (X symmetric, zero diagonal)."""
    return 0.5 * np.einsum("bs,bs->b", counts @ matrix, counts)


def _weighted_pearson_from_matrices(counts, ref, stack):
    """Pearson correlations over pairs weighted by ``c_k c_l``, from quadratic forms -> (B, K)."""
    ones = np.ones_like(ref)
    np.fill_diagonal(ones, 0.0)
    n = _pair_sum(counts, ones)
    # centring first (a shift does not change a correlation) keeps the moment sums accurate
    ref = _centred_offdiagonal(ref)
    sa, saa = _pair_sum(counts, ref), _pair_sum(counts, ref * ref)
    var_a = saa - sa**2 / n
    out = np.empty((counts.shape[0], len(stack)))
    for k, b in enumerate(stack):
        b = _centred_offdiagonal(b)
        sb, sbb, sab = _pair_sum(counts, b), _pair_sum(counts, b * b), _pair_sum(counts, ref * b)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, k] = (sab - sa * sb / n) / np.sqrt(var_a * (sbb - sb**2 / n))
    return out


def _tie_groups(values):
    """Sort order of a vector and, for ties, where each sorted entry's run of equals lies.

    Returns:
        tuple: the argsort (M,), and ``(first, last)`` (M,) sorted positions of
        each entry's run of equal values, or ``None`` when all values differ.
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new_run = np.r_[True, ordered[1:] != ordered[:-1]]
    if new_run.all():
        return order, None
    run = np.cumsum(new_run) - 1
    first = np.flatnonzero(new_run)
    last = np.r_[first[1:], ordered.size] - 1
    return order, (first[run], last[run])


def _sorted_midranks(groups, weights_sorted):
    """Average ranks of sorted entries in samples that repeat them.

    The m-th smallest entry occurs ``weights_sorted[b, m]`` times in sample b;
    tied entries share the mean of their ranks, as ``scipy.stats.rankdata``.

    Returns:
        ndarray: (B, M) float ranks, in sorted order.
    """
    # integer cumulative sums: exact, and several times faster than floating-point ones
    through = np.cumsum(weights_sorted, axis=1)  # sample size up to and including m
    _, runs = groups
    if runs is None:
        return through - 0.5 * (weights_sorted - 1)
    first, last = runs
    before = np.take(through, first, axis=1) - np.take(weights_sorted, first, axis=1)
    return 0.5 * (before + 1 + np.take(through, last, axis=1))


def _weighted_spearman(counts, ref, stack, chunk=32):
    """Spearman correlations on stimulus resamples, as weighted rank correlations.

    In a resample where pair m occurs w_m times, every copy gets the average rank
    of its tie group; ranks have the known mean (n + 1) / 2 for n = sum w, so only
    the reference's centred ranks and each model's ranks and squared ranks are summed.
    """
    iu = np.triu_indices(ref.shape[0], k=1)
    groups_ref = _tie_groups(ref[iu])
    groups = [_tie_groups(b[iu]) for b in stack]
    out = np.empty((counts.shape[0], len(stack)))
    for start in range(0, counts.shape[0], chunk):
        c = counts[start:start + chunk]
        n = _pairs_in_sample(c)
        mean_rank = (n + 1) / 2
        w = _pair_weights(c, iu, groups_ref[0])  # in the reference's sorted order
        ranks_ref = _sorted_midranks(groups_ref, w) - mean_rank[:, None]
        weighted_ref = np.empty(w.shape)
        weighted_ref[:, groups_ref[0]] = w * ranks_ref  # back to pair order
        var_ref = np.einsum("bm,bm->b", w * ranks_ref, ranks_ref)
        for k, (order, runs) in enumerate(groups):
            w_sorted = _pair_weights(c, iu, order)
            ranks = _sorted_midranks((order, runs), w_sorted)
            cov = np.einsum("bm,bm->b", np.take(weighted_ref, order, axis=1), ranks)
            var = np.einsum("bm,bm->b", w_sorted * ranks, ranks) - n * mean_rank**2
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start:start + chunk, k] = cov / np.sqrt(var_ref * var)
    return out


def _pairs_in_sample(counts):
    """Number of pairs of distinct original stimuli in each resample: sum_{k<l} c_k c_l."""
    return (counts.sum(axis=1) ** 2 - (counts**2).sum(axis=1)) // 2


def _pair_weights(counts, iu, order):
    """``c_k c_l`` for the pairs ``iu`` taken in ``order`` -> (B, M) integers."""
    # gathering from the small (B, S) counts is cheaper than from a (B, M) array
    return np.take(counts, iu[0][order], axis=1) * np.take(counts, iu[1][order], axis=1)


def resampled_rdm_similarity(rdm_ref, rdms, counts, method="pearson"):
    """Similarity of RDMs to a reference RDM on resampled stimulus sets.

    Row b of ``counts`` says how often each stimulus was drawn. The resampled
    RDMs are ``RDM[idx][:, idx]`` for the drawn indices ``idx``; pairs of a
    stimulus with its own copy are left out (their dissimilarity is 0 by
    construction), as rsatoolbox's pattern bootstrap does, and the upper
    triangles are compared with ``compare_rdms``'s measure. Computed exactly,
    as comparisons over the original pairs (k, l) weighted by ``c_k c_l``.

    Args:
        rdm_ref (ndarray): S x S reference RDM (e.g. V1's).
        rdms (sequence of ndarray): K RDMs of the same S stimuli.
        counts (array-like): (B, S) non-negative integer draw counts, e.g.
            from ``bootstrap_counts``.
        method (str): ``"pearson"`` or ``"spearman"``.

    Returns:
        ndarray: (B, K) correlations; NaN where a resample has fewer than two
        distinct dissimilarities.
    """
    _check_method(method)
    ref, stack = _rdm_stack(rdm_ref, rdms)
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] != ref.shape[0]:
        raise ValueError(f"counts must be (n_boot, {ref.shape[0]}), got {counts.shape}")
    if not np.issubdtype(counts.dtype, np.integer) or counts.min() < 0:
        raise ValueError("counts must be non-negative integers (how often each stimulus is drawn)")
    if method == "pearson":
        return _weighted_pearson_from_matrices(counts.astype(np.float64), ref, stack)
    return _weighted_spearman(counts.astype(np.int64), ref, stack)


def _ranked_rdm(rdm):
    """The RDM with its upper-triangle entries replaced by their average ranks."""
    iu = np.triu_indices(rdm.shape[0], k=1)
    ranked = np.zeros_like(rdm)
    ranked[iu] = stats.rankdata(rdm[iu])
    return ranked + ranked.T


def _centred_offdiagonal(rdm):
    """Off-diagonal entries minus their mean, zero diagonal."""
    out = rdm - upper_triangle(rdm).mean()
    np.fill_diagonal(out, 0.0)
    return out


def rdm_permutation_null(rdm_ref, rdms, method="pearson", n_perm=1000, seed=0, chunk=50):
    """Null distribution of RDM similarity when the stimulus labels are unrelated.

    Each permutation ``p`` relabels the stimuli of the reference RDM,
    ``A_p = A[p][:, p]``, and correlates it with each model RDM as
    ``compare_rdms`` does. Permuting keeps the set of dissimilarities (so
    their mean and spread) and breaks only which stimulus pair each belongs
    to, so under "no relation" (all labellings equally likely) the observed
    correlation is one draw of this distribution. Spearman uses the
    permutation-invariant ranks of each RDM.

    Args:
        rdm_ref (ndarray): S x S reference RDM.
        rdms (sequence of ndarray): K RDMs of the same stimuli.
        method (str): ``"pearson"`` or ``"spearman"``.
        n_perm (int): number of permutations (shared by the K RDMs).
        seed (int): seed of the permutations.
        chunk (int): permutations per vectorised batch (bounds memory to
            ``chunk x S x S`` floats).

    Returns:
        ndarray: (n_perm, K) correlations under the null.
    """
    _check_method(method)
    ref, stack = _rdm_stack(rdm_ref, rdms)
    if method == "spearman":
        ref, stack = _ranked_rdm(ref), np.array([_ranked_rdm(b) for b in stack])
    a = _centred_offdiagonal(ref)
    b = np.array([_centred_offdiagonal(x) for x in stack])
    norm = np.sqrt(0.5 * np.sum(a**2) * 0.5 * np.sum(b**2, axis=(1, 2)))
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(np.arange(ref.shape[0]), (n_perm, 1)), axis=1)
    out = np.empty((n_perm, len(stack)))
    for start in range(0, n_perm, chunk):
        p = perms[start:start + chunk]
        permuted = a[p[:, :, None], p[:, None, :]]
        out[start:start + chunk] = 0.5 * np.einsum("cij,kij->ck", permuted, b) / norm
    return out


@dataclass
class RDMComparison:
    """Similarities of several RDMs to one reference RDM, with their inference.

    Made by ``rsa_compare``. The bootstrap resamples are paired (the same
    stimuli for every RDM), so differences between RDMs are tested within
    each resample.

    Attributes:
        names (list of str): the K compared RDMs.
        method (str): ``"pearson"`` or ``"spearman"``.
        estimate (ndarray): (K,) similarity on all stimuli (``compare_rdms``).
        boot (ndarray): (n_boot, K) similarities on stimulus bootstrap resamples.
        null (ndarray): (n_perm, K) similarities with permuted stimulus labels.
        level (float): coverage of the confidence intervals.
    """

    names: list
    method: str
    estimate: np.ndarray
    boot: np.ndarray
    null: np.ndarray
    level: float = 0.95

    def _index(self, name):
        if name not in self.names:
            raise KeyError(f"{name!r} is not one of the compared RDMs {self.names}")
        return self.names.index(name)

    @property
    def ci(self):
        """(K, 2) percentile bootstrap confidence intervals."""
        return percentile_interval(self.boot, self.level).T

    @property
    def p_permutation(self):
        """(K,) one-sided permutation p-values against "no relation"."""
        return permutation_p_value(self.estimate, self.null)

    def difference(self, name_a, name_b):
        """Similarity of ``name_a`` minus that of ``name_b``, with its paired bootstrap.

        Returns:
            dict: ``estimate``, ``ci_low``, ``ci_high`` (percentile interval of
            the paired differences) and ``p`` (``bootstrap_difference_p``).
        """
        i, j = self._index(name_a), self._index(name_b)
        d = self.boot[:, i] - self.boot[:, j]
        low, high = percentile_interval(d, self.level)
        return {"estimate": float(self.estimate[i] - self.estimate[j]),
                "ci_low": float(low), "ci_high": float(high), "p": bootstrap_difference_p(d)}

    def rows(self):
        """One dict per RDM: ``name``, ``r``, ``ci_low``, ``ci_high``, ``p_perm``."""
        ci, p = self.ci, self.p_permutation
        return [{"name": n, "r": float(r), "ci_low": float(lo), "ci_high": float(hi),
                 "p_perm": float(pp)}
                for n, r, (lo, hi), pp in zip(self.names, self.estimate, ci, p, strict=True)]


def rsa_compare(rdm_ref, rdms, method="pearson", n_boot=1000, n_perm=1000, level=0.95, seed=0):
    """Compare RDMs to a reference with bootstrap intervals and permutation tests.

    For each RDM: its similarity to the reference (``compare_rdms``), a
    percentile confidence interval from ``n_boot`` stimulus bootstrap
    resamples (``bootstrap_counts``, ``resampled_rdm_similarity``), and a
    permutation p-value against no relation (``rdm_permutation_null``).

    Args:
        rdm_ref (ndarray): S x S reference RDM.
        rdms (dict): ``{name: S x S RDM}``.
        method (str): ``"pearson"`` or ``"spearman"``.
        n_boot (int): bootstrap resamples.
        n_perm (int): permutations.
        level (float): coverage of the intervals.
        seed (int): seed of the bootstrap (the permutations use ``seed + 1``).

    Returns:
        RDMComparison: estimates, bootstrap and null samples.
    """
    names = list(rdms)
    models = [rdms[n] for n in names]
    ref, stack = _rdm_stack(rdm_ref, models)
    estimate = np.array([compare_rdms(ref, b, method) for b in stack])
    counts = bootstrap_counts(ref.shape[0], n_boot, seed)
    boot = resampled_rdm_similarity(ref, stack, counts, method)
    null = rdm_permutation_null(ref, stack, method, n_perm, seed + 1)
    return RDMComparison(names, method, estimate, boot, null, level)


def _rdm_from_sums(gram, sums, n_units):
    """Correlation-distance RDM from ``X X^T``, the row sums of X and its column count.

    Equals ``RDM(X)``; used to get the RDMs of many column subsets from one product.
    """
    mean = sums / n_units
    cov = gram / n_units - np.outer(mean, mean)
    std = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if np.any(std <= 1e-12 * (1 + np.abs(mean))):
        raise ValueError("a stimulus's response is constant across the units of a split half; "
                         "drop units that never respond before computing a noise ceiling")
    rdm = 1 - cov / np.outer(std, std)
    np.fill_diagonal(rdm, 0.0)
    return rdm


def split_half_noise_ceiling(resp, n_splits=10, methods=("pearson", "spearman"), seed=0):
    """Reliability of a population's RDM and the noise ceiling it sets.

    The units (neurons) are split at random into two halves; each half gives
    an RDM (``RDM`` of its columns) and the two are correlated, ``r_half``.
    The full population has twice as many units, so its RDM's reliability
    (the expected correlation with an independent repeat of the whole
    measurement) follows from the Spearman-Brown formula
    ``rel = 2 r_half / (1 + r_half)``, with ``r_half`` the mean over
    ``n_splits`` random splits. If the measured RDM is the true one plus
    independent noise, a noise-free model of the true RDM correlates with it
    at ``sqrt(rel)`` on average: that is the ceiling.

    Args:
        resp (array-like): S x N responses (units in columns).
        n_splits (int): number of random splits into halves.
        methods (sequence of str): comparison measures (``compare_rdms``).
        seed (int): seed of the splits.

    Returns:
        dict: ``{method: {"split_half": (n_splits,) r_half, "reliability":
        rel, "ceiling": sqrt(rel)}}``.

    Raises:
        ValueError: fewer than 4 units, an unknown method, or a stimulus whose
            response is constant across the units of a half.
    """
    for method in methods:
        _check_method(method)
    x = np.asarray(_as_numpy(resp), dtype=np.float64)
    n_units = x.shape[1]
    if n_units < 4:
        raise ValueError(f"need at least 4 units to split into halves, got {n_units}")
    # one S x S product per split: the other half's follows by subtraction from the whole
    gram, sums = x @ x.T, x.sum(axis=1)
    rng = np.random.default_rng(seed)
    r_half = {m: np.empty(n_splits) for m in methods}
    for i in range(n_splits):
        half = x[:, rng.permutation(n_units)[: n_units // 2]]
        gram_a, sums_a = half @ half.T, half.sum(axis=1)
        rdm_a = _rdm_from_sums(gram_a, sums_a, half.shape[1])
        rdm_b = _rdm_from_sums(gram - gram_a, sums - sums_a, n_units - half.shape[1])
        for m in methods:
            r_half[m][i] = compare_rdms(rdm_a, rdm_b, m)
    out = {}
    for m in methods:
        mean = float(np.mean(r_half[m]))
        reliability = 2 * mean / (1 + mean)
        out[m] = {"split_half": r_half[m], "reliability": reliability,
                  "ceiling": float(np.sqrt(max(reliability, 0.0)))}
    return out


_MEASURES = {"pearson": "Pearson", "spearman": "Spearman"}


def rsa_table(comparisons, noise_ceiling=None, title=""):
    """Similarity of each RDM to the reference, with intervals and permutation p-values.

    Args:
        comparisons (dict): measure (``"pearson"``, ``"spearman"``) -> ``RDMComparison``
            of the same RDMs.
        noise_ceiling (dict or None): ``split_half_noise_ceiling`` output; adds a last
            row with each measure's ceiling.
        title (str): line above the table.

    Returns:
        ResultTable: one row per RDM; per measure the similarity r, the bounds of its
        bootstrap interval and the permutation p-value.
    """
    names = next(iter(comparisons.values())).names
    frame = pd.DataFrame(index=pd.Index(list(names), name="representation"))
    for method, comparison in comparisons.items():
        label = _MEASURES[method]
        frame[f"{label} r"] = comparison.estimate
        frame[f"{label} CI low"], frame[f"{label} CI high"] = comparison.ci.T
        frame[f"{label} p_perm"] = comparison.p_permutation
    if noise_ceiling is not None:
        frame.loc["V1 noise ceiling"] = {f"{_MEASURES[m]} r": noise_ceiling[m]["ceiling"]
                                        for m in comparisons}
    formats = {c: ".4f" if c.endswith("p_perm") else ".3f" for c in frame.columns}
    return ResultTable(frame, formats, title, row_formats={"V1 noise ceiling": ".4f"})


def rsa_difference_table(comparisons, contrasts, title=""):
    """Paired differences in similarity to the reference, with intervals and verdicts.

    Args:
        comparisons (dict): measure -> ``RDMComparison`` (as ``rsa_table``).
        contrasts (sequence): ``(name_a, name_b, label)``: the difference ``a - b``.
        title (str): line above the table.

    Returns:
        ResultTable: one row per contrast; per measure the difference d, its bootstrap
        interval, its two-sided bootstrap p-value and ``interval_sign`` of the interval.
    """
    rows = []
    for a, b, _ in contrasts:
        row = {}
        for method, comparison in comparisons.items():
            d, label = comparison.difference(a, b), _MEASURES[method]
            row |= {f"{label} d": d["estimate"], f"{label} CI low": d["ci_low"],
                    f"{label} CI high": d["ci_high"], f"{label} p": d["p"],
                    f"{label} sign": interval_sign(d["ci_low"], d["ci_high"])}
        rows.append(row)
    frame = pd.DataFrame(rows, index=pd.Index([c[2] for c in contrasts], name="contrast"))
    formats = {c: ".4f" if c.endswith(" p") else "+.3f" for c in frame.columns}
    return ResultTable(frame, formats, title,
                       ["sign: '> 0' / '< 0' when the interval excludes 0, '~ 0' when it "
                        "includes 0."])
