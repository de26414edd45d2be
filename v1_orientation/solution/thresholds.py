"""Part 2: single-trial discrimination thresholds and the oblique effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from v1_orientation.solution.published import STRINGER_THRESHOLD_DEG
from v1_orientation.solution.stats import interval_sign, percentile_interval
from v1_orientation.solution.tables import ResultTable

__all__ = [
    "single_trial_thresholds", "threshold_table", "cardinal_orientations",
    "oblique_cardinal_ratio", "oblique_verdict", "discrimination_threshold",
]


def single_trial_thresholds(sigma_bin, n_b, bin_width):
    """From the bin-average decoding error to single-trial errors and thresholds.

    The label of a bin average is off by the mean offset of its ``n_b`` trials within the
    bin (uniform over ``bin_width``): the binning floor ``w sqrt(1 / (12 n_b))``. What
    remains is noise, whose variance grows by ``n_b`` from bin averages to single trials:
    ``sigma_trial = sqrt(n_b (sigma_bin^2 - floor^2))``.

    Args:
        sigma_bin (float): decoding error of bin averages, deg.
        n_b (float): trials per bin.
        bin_width (float): width of a bin, deg.

    Returns:
        dict: named thresholds and errors, in degrees, in the order they derive.
    """
    floor = bin_width * np.sqrt(1 / (12 * n_b))
    sigma_trial = np.sqrt(n_b * max(sigma_bin**2 - floor**2, 0.0))
    out = {
        "bin-average error sigma_bin": sigma_bin,
        "floor from the binning, w sqrt(1 / (12 n_b))": floor,
        "threshold at 75% correct, bin averages": float(discrimination_threshold(sigma_bin)),
        "single-trial error, sqrt(n_b) sigma_bin": np.sqrt(n_b) * sigma_bin,
        "single-trial error, sqrt(n_b (sigma_bin^2 - floor^2))": sigma_trial,
        "threshold at 75% correct, single trials": float(discrimination_threshold(sigma_trial)),
        "threshold at d' = 1, single trials": sigma_trial,
    }
    return out


def threshold_table(thresholds, published=STRINGER_THRESHOLD_DEG, title=""):
    """``single_trial_thresholds`` with the published threshold and our ratio to it.

    Args:
        thresholds (dict): ``single_trial_thresholds`` output.
        published (float): the published single-trial threshold, deg (Stringer et al.
            2021: 0.35; the preprint's 0.34).
        title (str): line above the table.

    Returns:
        ResultTable: one quantity per row, in degrees, then the published value and the
        ratio of our single-trial 75% threshold to it.
    """
    rows = dict(thresholds)
    rows["published, Stringer et al. 2021 (single trials; preprint 0.34)"] = published
    ratio_label = f"ratio of our single-trial 75% threshold to {published:g} deg"
    rows[ratio_label] = thresholds["threshold at 75% correct, single trials"] / published
    frame = pd.DataFrame({"value": list(rows.values())},
                         index=pd.Index(list(rows), name="quantity"))
    return ResultTable(frame, {"value": ".3f"}, title, row_formats={ratio_label: ".2f"},
                       notes=["values in degrees, except the ratio"])


def cardinal_orientations(orientation):
    """Which orientations lie within 22.5 deg of a cardinal one (0 or +-90 deg).

    Args:
        orientation (array-like): orientations in the assignment's convention (0 =
            vertical), degrees in [-90, 90].

    Returns:
        ndarray: bool, True for cardinal, False for oblique.
    """
    orientation = np.asarray(orientation, dtype=np.float64)
    return (np.abs(orientation) < 22.5) | (np.abs(orientation) >= 67.5)


def oblique_cardinal_ratio(squared_errors, cardinal, n_boot, rng, level=0.95):
    """RMS decoding error at oblique over cardinal orientations, with a bootstrap interval.

    The bootstrap resamples the cardinal and the oblique stimuli separately, with
    replacement (stimuli treated as independent).

    Args:
        squared_errors (array-like): (n,) squared error of each stimulus, deg^2.
        cardinal (array-like): (n,) bool, ``cardinal_orientations`` of the stimuli.
        n_boot (int): bootstrap samples.
        rng (numpy.random.Generator): the generator to draw from.
        level (float): coverage of the interval.

    Returns:
        tuple: the ratio and its interval (low, high); above 1 means cardinal
        orientations are decoded more precisely (the oblique effect).
    """
    e2, cardinal = np.asarray(squared_errors), np.asarray(cardinal, dtype=bool)
    card, obl = np.flatnonzero(cardinal), np.flatnonzero(~cardinal)
    ratio = float(np.sqrt(e2[obl].mean() / e2[card].mean()))
    boot = []
    for _ in range(n_boot):
        pick_c = rng.choice(card, card.size)
        pick_o = rng.choice(obl, obl.size)
        boot.append(np.sqrt(e2[pick_o].mean() / e2[pick_c].mean()))
    low, high = percentile_interval(np.array(boot), level)
    return ratio, (float(low), float(high))


def oblique_verdict(ratio, interval, level=0.95):
    """Whether cardinal orientations are decoded more precisely, with the evidence.

    Args:
        ratio (float): RMS error at oblique over cardinal orientations
            (``oblique_cardinal_ratio``).
        interval (tuple): its bootstrap interval (low, high).
        level (float): coverage of the interval.

    Returns:
        tuple: the verdict (``"cardinal more precise"`` when the interval lies above 1,
        ``"oblique more precise"`` below 1, else ``"undecided"``) and its evidence.
    """
    low, high = interval
    sign = interval_sign(low - 1, high - 1)
    verdict = {"> 0": "cardinal more precise", "< 0": "oblique more precise"}.get(sign,
                                                                                 "undecided")
    return verdict, (f"RMS error oblique / cardinal = {ratio:.2f}, {level:.0%} CI "
                     f"[{low:.3g}, {high:.3g}], {'includes' if sign == '~ 0' else 'excludes'} 1")


def discrimination_threshold(sigma, p_correct=0.75):
    """Orientation difference discriminated at ``p_correct`` by a decoder of error SD ``sigma``.

    Convention (one-interval clockwise/anticlockwise judgement): a stimulus at
    ``theta_ref + delta`` is decoded as ``theta_hat ~ N(theta_ref + delta, sigma^2)``
    and called clockwise when ``theta_hat > theta_ref``, so
    ``P(correct) = Phi(delta / sigma)`` and the threshold is
    ``delta = sigma Phi^{-1}(p_correct)``: ``0.674 sigma`` at 75% correct, and
    ``sigma`` itself (``d' = delta / sigma = 1``) at ``p_correct = Phi(1) = 0.841``.

    Args:
        sigma (array-like): SD of the decoded orientation, degrees.
        p_correct (float): criterion in (0.5, 1).

    Returns:
        ndarray or float: threshold(s) in degrees.
    """
    if not 0.5 < p_correct < 1:
        raise ValueError(f"p_correct must be in (0.5, 1), got {p_correct}")
    return np.asarray(sigma, dtype=np.float64) * stats.norm.ppf(p_correct)
