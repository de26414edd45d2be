"""Part 2: does the decoding error saturate? Fits of ``eps^2 = a / N + b``, with bootstrap CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from v1_orientation.solution.stats import percentile_interval
from v1_orientation.solution.tables import ResultTable

__all__ = [
    "fit_information_saturation", "bootstrap_information_saturation", "saturation_error",
    "saturation_fits", "saturation_table", "saturation_verdict",
]


def _mean_squared(errors):
    """Mean over repeats of squared RMS errors: (S,) or (S, R) degrees -> (S,) deg^2."""
    errors = np.asarray(errors, dtype=np.float64)
    return errors**2 if errors.ndim == 1 else np.mean(errors**2, axis=1)


def fit_information_saturation(sizes, errors):
    """Fit the saturating model ``mse(N) = a / N + b`` to decoding errors.

    In terms of the (linear Fisher) information ``I = 1 / mse`` this is
    ``I(N) = N / (a + b N)``: information grows linearly, ``I ~ N / a``, while
    ``N << a / b``, and saturates at ``I_inf = 1 / b`` (an error floor ``sqrt(b)``)
    when the noise has an information-limiting component (Moreno-Bote et al.
    2014); independent noise gives ``b = 0``, i.e. ``error ~ sqrt(a / N)``.
    Fitted by non-negative least squares on relative residuals,
    ``min_{a, b >= 0} sum_s ((a / N_s + b) / m_s - 1)^2``, with ``m_s`` the mean
    squared error at size ``N_s``: every size counts alike whatever its error,
    much as on log axes, and the fit is linear in (a, b), so it has one answer.

    Args:
        sizes (array-like): (S,) numbers of neurons.
        errors (array-like): (S,) or (S, R) RMS errors in degrees (R repeats).

    Returns:
        tuple: ``a`` (deg^2 x neurons) and ``b`` (deg^2), floats >= 0.
    """
    from scipy.optimize import nnls

    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1)
    mse = _mean_squared(errors)
    if mse.shape != sizes.shape or sizes.size < 2 or np.any(mse <= 0):
        raise ValueError("need errors > 0 at two or more sizes, one row per size")
    design = np.stack([1.0 / sizes, np.ones_like(sizes)], axis=1) / mse[:, None]
    (a, b), _ = nnls(design, np.ones_like(sizes))
    return float(a), float(b)


def bootstrap_information_saturation(sizes, errors, n_boot=1000, seed=0):
    """Bootstrap distribution of ``fit_information_saturation`` over repeats.

    Repeats (columns of ``errors``) are the independent units: each bootstrap
    sample draws R of them with replacement, the same ones at every size (a repeat
    is one nested-subset curve, so its sizes are not independent of each other),
    and refits ``(a, b)``.

    Args:
        sizes (array-like): (S,) numbers of neurons.
        errors (array-like): (S, R) RMS errors in degrees.
        n_boot (int): bootstrap samples.
        seed (int): seed of the resampling.

    Returns:
        ndarray: (n_boot, 2) samples of ``(a, b)``.
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim != 2:
        raise ValueError(f"errors must be sizes x repeats, got shape {errors.shape}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, errors.shape[1], size=(int(n_boot), errors.shape[1]))
    return np.array([fit_information_saturation(sizes, errors[:, p]) for p in picks])


def saturation_error(sizes, a, b):
    """RMS error of the saturating model, ``sqrt(a / N + b)`` degrees, at each size N."""
    return np.sqrt(a / np.asarray(sizes, dtype=np.float64) + b)


def saturation_fits(curves, min_size, n_boot=1000, seed=0):
    """The saturating model fitted to each scheme's curve at N >= ``min_size``, bootstrapped.

    Args:
        curves (dict): scheme -> ``decoding_error_curve`` output.
        min_size (int): smallest population in the fit.
        n_boot (int): bootstrap samples over repeats (``bootstrap_information_saturation``).
        seed (int): seed of the bootstrap.

    Returns:
        dict: scheme -> ``a``, ``b`` (``fit_information_saturation``), ``boot``
        (n_boot x 2), ``slope`` (of log mean error against log N over the fitted sizes),
        ``error_all`` and ``error_all_sd`` (mean and SD over repeats with all neurons, deg).
    """
    out = {}
    for scheme, curve in curves.items():
        fitted = curve["sizes"] >= min_size
        sizes, rmse = curve["sizes"][fitted], curve["rmse"][fitted]
        a, b = fit_information_saturation(sizes, rmse)
        out[scheme] = {
            "a": a, "b": b, "boot": bootstrap_information_saturation(sizes, rmse, n_boot, seed),
            "slope": float(np.polyfit(np.log(sizes), np.log(rmse.mean(axis=1)), 1)[0]),
            "error_all": float(curve["rmse"][-1].mean()),
            "error_all_sd": float(curve["rmse"][-1].std(ddof=1)),
        }
    return out


def saturation_table(fits, min_size, level=0.95, title=""):
    """The fitted saturation parameters of each scheme with bootstrap intervals.

    Args:
        fits (dict): ``saturation_fits`` output.
        min_size (int): smallest population in the fit (for the slope's label).
        level (float): coverage of the intervals.
        title (str): line above the table.

    Returns:
        ResultTable: one quantity per row (error with all neurons and its SD, slope, a,
        b, sqrt(b), N at half the asymptotic information a / b, infinite when b = 0);
        per scheme the estimate and the bounds of its percentile bootstrap interval.
    """
    labels = ["error with all neurons (deg), mean", "error with all neurons (deg), SD",
              f"slope d log(err) / d log(N), N >= {min_size}", "a (deg^2 x neurons)",
              "b (deg^2)", "asymptotic error sqrt(b) (deg)",
              "N at half the asymptotic information, a/b"]
    frame = pd.DataFrame(index=pd.Index(labels, name="quantity"))
    for scheme, f in fits.items():
        a_ci, b_ci = percentile_interval(f["boot"], level).T
        estimates = [f["error_all"], f["error_all_sd"], f["slope"], f["a"], f["b"],
                     np.sqrt(f["b"]), f["a"] / f["b"] if f["b"] > 0 else np.inf]
        lows = [np.nan] * 3 + [a_ci[0], b_ci[0], np.sqrt(b_ci[0]), np.nan]
        highs = [np.nan] * 3 + [a_ci[1], b_ci[1], np.sqrt(b_ci[1]), np.nan]
        frame[scheme], frame[f"{scheme} CI low"], frame[f"{scheme} CI high"] = (
            estimates, lows, highs)
    row_formats = dict(zip(labels, [".3f", ".3f", ".3f", ".4g", ".3g", ".3g", ".3g"],
                           strict=True))
    return ResultTable(frame, title=title, row_formats=row_formats,
                       notes=[f"CI: {level:.0%} percentile bootstrap over the random subsets."])


def saturation_verdict(fit, n_neurons, level=0.95):
    """Whether the decoding error saturates: does the interval of the floor b exclude 0?

    Args:
        fit (dict): one scheme of ``saturation_fits``.
        n_neurons (int): neurons recorded, to put N at half the information in context.
        level (float): coverage of the interval.

    Returns:
        tuple: the verdict (``"floor detected"`` or ``"no detectable saturation"``) and
        its evidence: b with its interval, whether the interval excludes 0, and, for a
        floor, the asymptotic error and N at half the asymptotic information.
    """
    low, high = percentile_interval(fit["boot"][:, 1], level)
    evidence = (f"b = {fit['b']:.3g} deg^2, {level:.0%} CI [{low:.3g}, {high:.3g}], "
                f"{'excludes' if low > 0 else 'includes'} 0")
    if low <= 0:
        return "no detectable saturation", evidence + "; the error keeps falling as N grows"
    half = fit["a"] / fit["b"]
    return "floor detected", (f"{evidence}; asymptotic error {np.sqrt(fit['b']):.3f} deg, half "
                              f"the asymptotic information at N = {half:.3g} "
                              f"({half / n_neurons:.1f} x the recorded neurons)")
