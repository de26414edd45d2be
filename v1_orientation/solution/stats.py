"""Statistics shared by the analyses: bootstrap counts, intervals, p-values and verdicts."""

from __future__ import annotations

import numpy as np

__all__ = [
    "bootstrap_counts", "permutation_p_value", "percentile_interval", "bootstrap_difference_p",
    "interval_sign", "difference_verdict",
]


def bootstrap_counts(n_stimuli, n_boot=1000, seed=0):
    """Resample stimuli with replacement: how often each stimulus is drawn.

    Args:
        n_stimuli (int): S, the number of stimuli.
        n_boot (int): number of bootstrap resamples.
        seed (int): seed of the draws.

    Returns:
        ndarray: (n_boot, S) integer counts; each row sums to S.
    """
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_stimuli, size=(n_boot, n_stimuli))
    flat = (draws + n_stimuli * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n_stimuli).reshape(n_boot, n_stimuli)


def permutation_p_value(observed, null):
    """One-sided permutation p-value ``(1 + #{null >= observed}) / (n_perm + 1)``.

    Counting the observed value as one of the permutations keeps the test
    exact (never p = 0); the smallest possible p is ``1 / (n_perm + 1)``.

    Args:
        observed (float or ndarray): (K,) observed statistics.
        null (ndarray): (n_perm,) or (n_perm, K) statistics under the null.

    Returns:
        float or ndarray: (K,) p-values.
    """
    null = np.asarray(null, dtype=np.float64)
    # a tolerance, so that a permutation equal to the observed value up to rounding counts
    exceed = null >= np.asarray(observed, dtype=np.float64) - 1e-12
    return (1 + exceed.sum(axis=0)) / (null.shape[0] + 1)


def percentile_interval(samples, level=0.95):
    """Percentile bootstrap interval: the (1-level)/2 and (1+level)/2 quantiles.

    Args:
        samples (ndarray): (B,) or (B, K) bootstrap samples (NaN ignored).
        level (float): coverage, in (0, 1).

    Returns:
        ndarray: (2,) or (2, K) lower and upper bounds.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return np.nanquantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)


def bootstrap_difference_p(differences):
    """Two-sided bootstrap p-value of "the difference is 0".

    ``p = min(1, 2 min((1 + #{d <= 0}) / (B + 1), (1 + #{d >= 0}) / (B + 1)))``:
    twice the smaller tail of the bootstrap distribution beyond 0, i.e. the
    largest level at which the percentile interval still excludes 0.

    Args:
        differences (ndarray): (B,) bootstrap samples of a difference.

    Returns:
        float: the p-value in (0, 1].
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    tail = min(np.sum(d <= 0), np.sum(d >= 0))
    return float(min(1.0, 2 * (1 + tail) / (d.size + 1)))


def interval_sign(low, high):
    """Where an interval lies with respect to 0.

    Returns:
        str: ``"> 0"`` or ``"< 0"`` when the interval excludes 0, else ``"~ 0"``.
    """
    return "> 0" if low > 0 else "< 0" if high < 0 else "~ 0"


def difference_verdict(difference, first, second, measure, level=0.95):
    """Which of two RDMs is more similar to the reference, with the evidence.

    Args:
        difference (dict): ``RDMComparison.difference(first, second)``: ``estimate``,
            ``ci_low``, ``ci_high``.
        first (str): short name of the RDM the difference starts from.
        second (str): short name of the RDM subtracted.
        measure (str): the similarity measure, for the evidence (e.g. ``"Pearson"``).
        level (float): coverage of the interval.

    Returns:
        tuple: the verdict (``first``, ``second``, or ``"undecided"`` when the interval
        includes 0) and the evidence, e.g.
        ``"Pearson: pool - fc = +0.145, 95% CI [+0.102, +0.190], excludes 0"``.
    """
    sign = interval_sign(difference["ci_low"], difference["ci_high"])
    verdict = {"> 0": first, "< 0": second}.get(sign, "undecided")
    evidence = (f"{measure}: {first} - {second} = {difference['estimate']:+.3f}, "
                f"{level:.0%} CI [{difference['ci_low']:+.3f}, {difference['ci_high']:+.3f}], "
                f"{'includes' if sign == '~ 0' else 'excludes'} 0")
    return verdict, evidence
