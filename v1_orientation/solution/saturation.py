"""Part 2: does the decoding error saturate? A floor ``b`` in ``eps^2(N)``, with its interval.

Information-limiting noise gives ``eps^2(N) = a / N + b`` at large N. Smaller populations
fall faster than ``1/N`` (errors of degrees, heterogeneous neurons), and how the curve
approaches its floor is not known a priori, so the floor is estimated with two models that also
describe the steeper regime: ``"series"``, ``a/N + c/N^2 + b``, and ``"power"``,
``a N^-gamma + b``. Each is fitted to every repeat's curve (repeats are independent nested-subset
curves) on the sizes in the small-error regime (mean error below ``SMALL_ERROR_DEG``, the stated
rule), and the floor's interval is the t interval over repeats; the two models' intervals
together are the range of floors the data allow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import least_squares, nnls

from v1_orientation.solution.tables import ResultTable

__all__ = [
    "SMALL_ERROR_DEG", "MODELS", "fit_saturation", "saturation_mse", "saturation_fits",
    "saturation_table", "saturation_verdict",
]

# The fit range: sizes whose mean error lies below this, where eps^2 ~ 1 / information holds
# (a few degrees: far below the 180-deg period and the tuning widths, so wrap-around is rare).
SMALL_ERROR_DEG = 5.0
MODELS = {"series": "a/N + c/N^2 + b", "power": "a N^-gamma + b"}


def _check_curve(sizes, mse):
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1)
    mse = np.asarray(mse, dtype=np.float64).reshape(-1)
    if mse.shape != sizes.shape or sizes.size < 3 or np.any(mse <= 0) or np.any(sizes <= 0):
        raise ValueError("need positive mean squared errors at three or more sizes, one per size")
    return sizes, mse


def _fit_series(sizes, mse):
    # Non-negative least squares on relative residuals: every size counts alike, as on log axes.
    design = np.stack([1 / sizes, 1 / sizes**2, np.ones_like(sizes)], axis=1) / mse[:, None]
    (a, c, b), _ = nnls(design, np.ones_like(sizes))
    return {"a": float(a), "c": float(c), "b": float(b)}


def _fit_power(sizes, mse):
    # Least squares on log mse, with b = q^2 >= 0; started at three floors, the best kept.
    def residuals(p):
        return np.log(np.exp(p[0]) * sizes ** -p[1] + p[2] ** 2) - np.log(mse)

    starts = [[np.log(mse[0] * sizes[0]), 1.0, np.sqrt(q * mse[-1])] for q in (1e-3, 0.1, 0.5)]
    best = min((least_squares(residuals, s) for s in starts), key=lambda r: r.cost)
    return {"a": float(np.exp(best.x[0])), "gamma": float(best.x[1]),
            "b": float(best.x[2] ** 2)}


def fit_saturation(sizes, mse, model="series"):
    """Fit one model of the error against population size to one curve.

    Args:
        sizes (array-like): (S,) numbers of neurons, S >= 3.
        mse (array-like): (S,) mean squared errors, deg^2.
        model (str): ``"series"`` (``a/N + c/N^2 + b``, a, c, b >= 0) or ``"power"``
            (``a N^-gamma + b``, b >= 0).

    Returns:
        dict: the parameters (``a``, ``c`` or ``gamma``, ``b``: deg^2 units, N in neurons).
    """
    sizes, mse = _check_curve(sizes, mse)
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    return _fit_series(sizes, mse) if model == "series" else _fit_power(sizes, mse)


def saturation_mse(sizes, params, model="series"):
    """The model's mean squared error at each size, deg^2."""
    sizes = np.asarray(sizes, dtype=np.float64)
    if model == "series":
        return params["a"] / sizes + params["c"] / sizes**2 + params["b"]
    return params["a"] * sizes ** -params["gamma"] + params["b"]


def _t_interval(values, level):
    """Mean and t interval of independent values (the lower end clipped at 0 for a floor)."""
    values = np.asarray(values, dtype=np.float64)
    half = stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    mean = float(values.mean())
    return mean, (float(max(mean - half, 0.0)), float(mean + half))


def saturation_fits(curves, max_error=SMALL_ERROR_DEG, level=0.95):
    """Each scheme's floor under both models, fitted repeat by repeat in the small-error regime.

    Args:
        curves (dict): scheme -> ``decoding_error_curves`` output (``sizes`` (S,), ``rmse``
            (S, R) degrees, R >= 2 repeats).
        max_error (float): the fit uses the sizes whose mean error is below this, degrees.
        level (float): coverage of the intervals over repeats.

    Returns:
        dict: scheme -> ``sizes`` (the fitted sizes), ``rule`` (which sizes, in words: the
        three largest when fewer than three have an error below ``max_error``), ``slope`` (of
        log mean error against log N over them), ``error_all`` and ``error_all_sd`` (mean and
        SD over repeats with all neurons, deg), ``models``: name -> ``params`` (the fit to the
        mean curve), ``b`` (mean over repeats' fits), ``b_ci`` (its interval, deg^2); and
        ``floor_range``, the two intervals together.
    """
    out = {}
    for scheme, curve in curves.items():
        rmse = np.asarray(curve["rmse"], dtype=np.float64)
        keep = rmse.mean(axis=1) < max_error
        rule = f"the sizes with a mean error below {max_error:g} deg"
        if keep.sum() < 3:  # a small file: the three largest sizes, and the fit says so
            keep = np.arange(rmse.shape[0]) >= rmse.shape[0] - 3
            rule = (f"the three largest sizes (fewer than three had a mean error below "
                    f"{max_error:g} deg)")
        sizes, errors = np.asarray(curve["sizes"], dtype=np.float64)[keep], rmse[keep]
        models = {}
        for model in MODELS:
            per_repeat = [fit_saturation(sizes, errors[:, r] ** 2, model)["b"]
                          for r in range(errors.shape[1])]
            b, b_ci = _t_interval(per_repeat, level)
            models[model] = {"params": fit_saturation(sizes, np.mean(errors**2, axis=1), model),
                             "b": b, "b_ci": b_ci}
        out[scheme] = {
            "sizes": sizes, "rule": rule, "models": models,
            "floor_range": (min(m["b_ci"][0] for m in models.values()),
                            max(m["b_ci"][1] for m in models.values())),
            "slope": float(np.polyfit(np.log(sizes), np.log(errors.mean(axis=1)), 1)[0]),
            "error_all": float(rmse[-1].mean()), "error_all_sd": float(rmse[-1].std(ddof=1)),
        }
    return out


def saturation_table(fits, level=0.95, title=""):
    """Per scheme: the fitted sizes, the slope, and each model's floor with its interval.

    Args:
        fits (dict): ``saturation_fits`` output.
        level (float): coverage of the intervals (for the notes).
        title (str): line above the table.

    Returns:
        ResultTable: one row per scheme and model; columns the smallest fitted size, the
        slope, b with its interval (deg^2) and sqrt(b) (deg).
    """
    rows, index = [], []
    for scheme, f in fits.items():
        for model, m in f["models"].items():
            index.append((scheme, MODELS[model]))
            rows.append({"smallest N fitted": int(f["sizes"][0]), "slope": f["slope"],
                         "b (deg^2)": m["b"], "b CI low": m["b_ci"][0], "b CI high": m["b_ci"][1],
                         "sqrt(b) (deg)": np.sqrt(m["b"])})
    frame = pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["split", "model"]))
    formats = {"slope": ".3f", "b (deg^2)": ".4f", "b CI low": ".4f", "b CI high": ".4f",
               "sqrt(b) (deg)": ".3f"}
    rules = sorted({f["rule"] for f in fits.values()})
    return ResultTable(frame, formats, title=title, notes=[
        f"Fitted on {' / '.join(rules)}; CI: {level:.0%} t interval over the repeats' own fits "
        "(lower end clipped at 0)."])


def saturation_verdict(fit, binning_floor):
    """Whether the error has a floor, and how it compares with the floor the binning sets.

    Args:
        fit (dict): one scheme of ``saturation_fits``.
        binning_floor (float): the floor the labels' binning alone sets, deg^2.

    Returns:
        tuple: the verdict (``"floor detected"`` when both models' intervals exclude 0, else
        ``"no floor detected"``) and its evidence: the range of floors the two models allow
        and where the binning floor lies relative to it.
    """
    low, high = fit["floor_range"]
    both = all(m["b_ci"][0] > 0 for m in fit["models"].values())
    where = ("inside it" if low <= binning_floor <= high else
             "below it" if binning_floor < low else "above it")
    evidence = (f"floor b between {low:.4f} and {high:.4f} deg^2 (both models' intervals); the "
                f"binning floor {binning_floor:.4f} deg^2 lies {where}")
    return ("floor detected" if both else "no floor detected"), evidence
