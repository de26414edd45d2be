"""Two-peaked von Mises tuning-curve fits, vectorised over units, and their held-out R^2."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from v1_orientation._internal import _as_numpy, _single_threaded
from v1_orientation.solution.tables import ResultTable

__all__ = [
    "VonMisesFit", "fit_von_mises", "von_mises_cv_r2", "von_mises_cv_threshold",
    "units_at_quantiles", "v1_tuning_table", "model_tuning_table", "tuning_width_table",
]


@dataclass
class VonMisesFit:
    """Von Mises tuning curves fitted to many units at once (see ``fit_von_mises``).

    With ``x = 2 pi theta / period`` (theta in degrees) and K peaks spaced
    evenly over one period, unit n's curve is
    ``r(theta) = b + sum_k a_k exp(kappa (cos(x - mu - 2 pi k / K) - 1))``.

    Attributes:
        preferred (ndarray): (n_units,) stimulus at the main (largest) peak,
            degrees in [0, period).
        kappa (ndarray): (n_units,) concentration kappa (> 0); larger is narrower.
        baseline (ndarray): (n_units,) b, the response far from every peak.
        amplitudes (ndarray): (n_units, K) a_k, height of each peak above b,
            main peak first.
        r2 (ndarray): (n_units,) fraction of the variance across the fitted
            stimuli that the curve explains (NaN for a constant unit).
        period (float): period of the stimulus variable, degrees.
        n_peaks (int): K.
    """

    preferred: np.ndarray
    kappa: np.ndarray
    baseline: np.ndarray
    amplitudes: np.ndarray
    r2: np.ndarray
    period: float
    n_peaks: int

    def predict(self, stimuli, units=None):
        """Fitted responses at the given stimuli.

        Args:
            stimuli (array-like): S stimulus values, degrees.
            units (array-like): indices of the units to predict (default: all).

        Returns:
            ndarray: S x n_units (or S x len(units)) responses.
        """
        units = slice(None) if units is None else np.asarray(units)
        mu = np.deg2rad(self.preferred[units]) * 360.0 / self.period
        x = _stimulus_phase(stimuli, self.period)
        return _von_mises_curves(x, self.baseline[units], self.amplitudes[units], mu,
                                 self.kappa[units])

    @property
    def hwhm(self):
        """(n_units,) half-width at half-maximum of each peak, degrees of the stimulus.

        ``exp(kappa (cos w - 1)) = 1/2`` gives ``w = arccos(1 - ln 2 / kappa)``
        in units of x, times ``period / (2 pi)`` in degrees. NaN where
        ``kappa < ln(2) / 2``: such a curve never falls to half its height.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.arccos(1 - np.log(2) / self.kappa)
        return np.rad2deg(w) * self.period / 360.0

    @property
    def peak_ratio(self):
        """(n_units,) height of the second peak relative to the main one, ``a_2 / a_1``."""
        if self.n_peaks < 2:
            raise ValueError("a single-peaked fit has no second peak")
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.amplitudes[:, 1] / self.amplitudes[:, 0]


def _stimulus_phase(stimuli, period):
    """Stimuli in degrees -> phase x = 2 pi theta / period, shape (S,)."""
    theta = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    return 2 * np.pi * theta / period


def _cos_sin_difference(x, mu):
    """cos(x_s - mu_n) and sin(x_s - mu_n) as (S, n) arrays.

    By the angle-difference identities, from the cosines and sines of the S
    stimuli and the n phases: no transcendental function of an S x n array.
    """
    cx, sx, cm, sm = np.cos(x)[:, None], np.sin(x)[:, None], np.cos(mu), np.sin(mu)
    return cx * cm + sx * sm, sx * cm - cx * sm


def _von_mises_curves(x, baseline, amplitudes, mu, kappa):
    """``b + sum_k a_k exp(kappa (cos(x - mu - 2 pi k / K) - 1))`` -> (S, n_units)."""
    n_peaks = amplitudes.shape[1]
    out = np.broadcast_to(baseline, (x.size, baseline.size)).copy()
    for k in range(n_peaks):
        cos_u = _cos_sin_difference(x, mu + 2 * np.pi * k / n_peaks)[0]
        out += amplitudes[:, k] * np.exp(kappa * (cos_u - 1))
    return out


def _grid_fit(x, resp, n_peaks, n_phi, kappas):
    """Best (mu, kappa) on a grid, with (b, a_k) by least squares at every grid point.

    For a fixed (mu, kappa) the curve is linear in (b, a_1..a_K): with the design
    D = [1, e_1, .., e_K] the least-squares coefficients are ``G^-1 v`` and the
    residual sum of squares is ``|r|^2 - v^T G^-1 v``, with ``v = D^T r`` and
    ``G = D^T D``. ``D^T r`` for every grid mu is one matrix product; the K peaks
    are the same basis shifted by n_phi / K grid steps.

    Returns:
        ndarray: (N, 3 + K) parameters ``(b, a_1..a_K, mu, log kappa)`` at each
        unit's best grid point.
    """
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    shift = n_phi // n_peaks
    n_units = resp.shape[1]
    units = np.arange(n_units)
    total = resp.sum(axis=0)
    best = np.full(n_units, -np.inf)
    params = np.zeros((n_units, n_peaks + 3))
    for kappa in kappas:
        basis = np.exp(kappa * (np.cos(x[:, None] - phi[None, :]) - 1))  # (S, n_phi)
        peaks = [np.roll(basis, -k * shift, axis=1) for k in range(n_peaks)]
        design = np.stack([np.ones_like(basis)] + peaks, axis=1)  # (S, 1 + K, n_phi)
        gram_inv = np.linalg.inv(np.einsum("spj,sqj->jpq", design, design))  # (n_phi, 1+K, 1+K)
        proj = basis.T @ resp  # (n_phi, N): D^T r of the first peak at every grid phase
        v = [total[None, :]] + [np.roll(proj, -k * shift, axis=0) for k in range(n_peaks)]
        coef = [sum(gram_inv[:, p, q, None] * v[q] for q in range(n_peaks + 1))
                for p in range(n_peaks + 1)]
        explained = sum(v[p] * coef[p] for p in range(n_peaks + 1))  # (n_phi, N)
        j = np.argmax(explained, axis=0)
        score = explained[j, units]
        better = score > best
        best[better] = score[better]
        for p in range(n_peaks + 1):
            params[better, p] = coef[p][j[better], units[better]]
        params[better, -2] = phi[j[better]]
        params[better, -1] = np.log(kappa)
    return params


def _residual_and_normal_equations(x, resp, params, n_peaks):
    """Residual sum of squares, J^T J and J^T r at params (b, a_1..a_K, mu, log kappa).

    Shapes: x (S,), resp (S, n), params (n, 3 + K) -> (n,), (n, 3 + K, 3 + K), (n, 3 + K).
    """
    b, a, mu, kappa = params[:, 0], params[:, 1:1 + n_peaks], params[:, -2], np.exp(params[:, -1])
    model = np.broadcast_to(b, resp.shape).copy()
    d_mu = np.zeros_like(resp)
    d_logk = np.zeros_like(resp)
    columns = [np.ones_like(resp)]
    for k in range(n_peaks):
        cos_k, sin_k = _cos_sin_difference(x, mu + 2 * np.pi * k / n_peaks)
        e = np.exp(kappa * (cos_k - 1))
        scaled = (a[:, k] * kappa) * e
        model += a[:, k] * e
        d_mu += scaled * sin_k
        d_logk += scaled * (cos_k - 1)
        columns.append(e)
    columns += [d_mu, d_logk]
    residual = resp - model
    n_par = len(columns)
    jtj = np.empty((resp.shape[1], n_par, n_par))
    for p in range(n_par):
        for q in range(p, n_par):
            jtj[:, p, q] = jtj[:, q, p] = np.einsum("sn,sn->n", columns[p], columns[q])
    jtr = np.stack([np.einsum("sn,sn->n", c, residual) for c in columns], -1)
    return np.einsum("sn,sn->n", residual, residual), jtj, jtr


def _levenberg_marquardt(x, resp, params, n_peaks, n_iter, log_kappa_range):
    """Damped Gauss-Newton steps on every unit at once; a step is kept only if it helps.

    Returns:
        ndarray: the improved (n, 3 + K) parameters.
    """
    sse, jtj, jtr = _residual_and_normal_equations(x, resp, params, n_peaks)
    damping = np.full(resp.shape[1], 1e-3)
    eye = np.eye(params.shape[1])
    for _ in range(n_iter):
        diag = np.einsum("npp->np", jtj)
        scaled = jtj + (damping[:, None] * diag + 1e-12 * (1 + diag))[:, :, None] * eye
        trial = params + np.linalg.solve(scaled, jtr[..., None])[..., 0]
        trial[:, -1] = np.clip(trial[:, -1], *log_kappa_range)
        sse_t, jtj_t, jtr_t = _residual_and_normal_equations(x, resp, trial, n_peaks)
        better = sse_t < sse
        params[better], sse[better], jtj[better], jtr[better] = (
            trial[better], sse_t[better], jtj_t[better], jtr_t[better])
        damping = np.where(better, damping / 3, damping * 5)
    return params


def fit_von_mises(resp, stimuli, period=360.0, n_peaks=2, n_phi=72, kappas=None, n_iter=3,
                  chunk=1024, n_jobs=1):
    """Fit von Mises tuning curves with K peaks per period to every unit, vectorised.

    The model is ``r(theta) = b + sum_k a_k exp(kappa (cos(x - mu - 2 pi k/K) - 1))``
    with ``x = 2 pi theta / period``: for the full 0..359 deg recording
    (period 360, K = 2) two peaks 180 deg apart with their own heights and a
    shared width; for 180-deg-periodic responses (period 180, K = 1) one
    peak per orientation cycle. Least squares in two stages:

    1. grid: mu on ``n_phi`` equally spaced phases and kappa on ``kappas``;
       at every grid point (b, a_k) have a closed form, for all units at once;
    2. ``n_iter`` Levenberg-Marquardt steps on all parameters (kappa as
       log kappa), each unit's step kept only if it lowers its residual.

    The peaks are then relabelled so that the highest comes first:
    ``preferred`` is always the main peak. Amplitudes are not constrained to
    be positive (an inhibited unit gets a negative a).

    Args:
        resp (array-like): S x N responses.
        stimuli (array-like): S stimulus values, degrees.
        period (float): period of the model in degrees.
        n_peaks (int): K, peaks per period (1 or more; ``n_phi`` must be a multiple).
        n_phi (int): grid phases per period.
        kappas (array-like): grid of kappa values (default: 12 from 0.5 to 200,
            log-spaced, i.e. half-widths from about 100% to 5% of a half period).
        n_iter (int): Levenberg-Marquardt steps (0: grid only).
        chunk (int): units per block (bounds memory; the result does not depend on it).
        n_jobs (int): blocks fitted at once, in threads (the same result for any value).

    Returns:
        VonMisesFit: the fitted parameters and R^2 of every unit.
    """
    if n_peaks < 1 or n_phi % n_peaks:
        raise ValueError(f"n_phi ({n_phi}) must be a multiple of n_peaks ({n_peaks}) >= 1")
    resp = np.asarray(_as_numpy(resp), dtype=np.float64)
    x = _stimulus_phase(stimuli, period)
    if resp.ndim != 2 or resp.shape[0] != x.size:
        raise ValueError(f"resp must be (n_stimuli={x.size}, n_units), got {resp.shape}")
    kappas = np.geomspace(0.5, 200.0, 12) if kappas is None else np.asarray(kappas, float)
    log_kappa_range = (np.log(kappas.min()) - np.log(10), np.log(kappas.max()) + np.log(10))

    def fit_block(start):  # every stage, block by block, so that the work arrays stay in cache
        block = np.ascontiguousarray(resp[:, start:start + chunk])
        params = _grid_fit(x, block, n_peaks, n_phi, kappas)
        if n_iter:
            params = _levenberg_marquardt(x, block, params, n_peaks, n_iter, log_kappa_range)
        # relabel the peaks so that the largest comes first and mu is its phase
        main = np.argmax(params[:, 1:1 + n_peaks], axis=1)
        relabel = (main[:, None] + np.arange(n_peaks)) % n_peaks
        amplitudes = np.take_along_axis(params[:, 1:1 + n_peaks], relabel, axis=1)
        mu = params[:, -2] + 2 * np.pi * main / n_peaks
        baseline, kappa = params[:, 0], np.exp(params[:, -1])
        r2 = _r_squared(block, _von_mises_curves(x, baseline, amplitudes, mu, kappa))
        return mu, kappa, baseline, amplitudes, r2

    # Blocks are independent: n_jobs threads (NumPy releases the GIL), one BLAS thread each.
    with _single_threaded(), ThreadPoolExecutor(max(1, int(n_jobs))) as pool:
        blocks = list(pool.map(fit_block, range(0, resp.shape[1], chunk)))
    mu, kappa, baseline, amplitudes, r2 = (np.concatenate(part) for part in zip(*blocks,
                                                                               strict=True))
    return VonMisesFit(np.mod(np.rad2deg(mu) * period / 360.0, period), kappa, baseline,
                       amplitudes, r2, float(period), n_peaks)


def _r_squared(resp, predicted):
    """``1 - sum (r - rhat)^2 / sum (r - mean r)^2`` per column; NaN for a constant column."""
    sse = np.sum((resp - predicted) ** 2, axis=0)
    sst = np.sum((resp - resp.mean(axis=0)) ** 2, axis=0)
    # relative to the column's size: the mean of a constant column can be off by rounding
    constant = sst <= 1e-20 * np.sum(resp**2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(constant, np.nan, 1 - sse / sst)


def von_mises_cv_r2(resp, stimuli, period=360.0, n_peaks=2, n_iter=0, **fit_kwargs):
    """Cross-validated R^2 of the von Mises fit: fit on even stimuli, test on odd ones.

    Stimuli are sorted and dealt alternately into two halves (as in
    ``split_half_reliability``); the curve fitted on one half predicts the
    other, and ``R^2 = 1 - sum (r - rhat)^2 / sum (r - mean r)^2`` over the
    held-out half. Noise that the fit absorbed does not help it here, so an
    untuned unit scores about 0 or below.

    Args:
        resp (array-like): S x N responses.
        stimuli (array-like): S stimulus values, degrees.
        period (float): period of the model, degrees.
        n_peaks (int): peaks per period.
        n_iter (int): Levenberg-Marquardt steps of the fit (0: grid only, fast).
        **fit_kwargs: passed to ``fit_von_mises`` (``n_phi``, ``kappas``).

    Returns:
        ndarray: (N,) held-out R^2.
    """
    resp = np.asarray(_as_numpy(resp), dtype=np.float64)
    theta = np.asarray(_as_numpy(stimuli), dtype=np.float64).reshape(-1)
    order = np.argsort(theta, kind="stable")
    train, test = order[0::2], order[1::2]
    fit = fit_von_mises(resp[train], theta[train], period, n_peaks, n_iter=n_iter, **fit_kwargs)
    return _r_squared(resp[test], fit.predict(theta[test]))


def von_mises_cv_threshold(resp, stimuli, period=360.0, n_peaks=2, n_shuffles=1,
                           quantile=0.99, seed=0, **fit_kwargs):
    """Chance level of ``von_mises_cv_r2``, from stimulus-shuffled responses.

    As in ``reliability_threshold``: shuffling which stimulus each response
    belongs to removes tuning and keeps each unit's response distribution;
    the ``quantile`` of the shuffled units' held-out R^2 is the threshold
    above which a unit counts as reliably tuned (false-positive rate
    ``1 - quantile``).

    Args:
        resp (array-like): S x N responses.
        stimuli (array-like): S stimulus values, degrees.
        period (float): period of the model, degrees.
        n_peaks (int): peaks per period.
        n_shuffles (int): shuffles pooled into the null distribution.
        quantile (float): quantile used as the threshold.
        seed (int): seed of the shuffles.
        **fit_kwargs: passed to ``von_mises_cv_r2``.

    Returns:
        float: the threshold R^2.
    """
    rng = np.random.default_rng(seed)
    resp = np.asarray(_as_numpy(resp), dtype=np.float64)
    null = [von_mises_cv_r2(resp[rng.permutation(resp.shape[0])], stimuli, period, n_peaks,
                            **fit_kwargs) for _ in range(n_shuffles)]
    return float(np.nanquantile(np.concatenate(null), quantile))


def units_at_quantiles(units, key, quantiles, n=None):
    """Example units chosen by a stated rule: those at given quantiles of a score.

    Args:
        units (array-like of int): the candidate units.
        key (ndarray): a score per unit (indexed by unit).
        quantiles (sequence of float): quantiles in [0, 1].
        n (int or None): keep only the first n picks.

    Returns:
        ndarray: for each quantile q, the unit at position ``floor(q (m - 1))`` of the m
        candidates sorted by ascending score.
    """
    units = np.asarray(units)
    units = units[np.argsort(key[units])]
    return units[(np.asarray(quantiles) * (len(units) - 1)).astype(int)][:n]


def v1_tuning_table(fit, fit_binned, cv_r2, cv_chance, tuned, split_half_tuned,
                    two_peak_ratio, title=""):
    """What the von Mises fits say about the recorded neurons, as a table of quantities.

    Args:
        fit (VonMisesFit): fit to every neuron on the file's bins.
        fit_binned (VonMisesFit): fit to the curves averaged in 10-deg bins.
        cv_r2 (ndarray): (N,) held-out R^2 (``von_mises_cv_r2``).
        cv_chance (float): its chance level (``von_mises_cv_threshold``).
        tuned (ndarray): (N,) bool, reliably tuned by the fit criterion.
        split_half_tuned (ndarray): (N,) bool, reliably tuned by split-half reliability.
        two_peak_ratio (float): a2 / a1 above which a neuron has two peaks.
        title (str): line above the table.

    Returns:
        ResultTable: one quantity per row, with its value.
    """
    rows = {
        "held-out R^2 (fit on even bins, tested on odd), median": np.median(cv_r2),
        "chance level of held-out R^2 (99th pct of shuffles)": cv_chance,
        "reliably tuned by the fit criterion (neurons)": int(tuned.sum()),
        "reliably tuned by the fit criterion (fraction)": tuned.mean(),
        "reliably tuned by 1a's split-half reliability (fraction)": split_half_tuned.mean(),
        "neurons on which both criteria agree (fraction)": np.mean(tuned == split_half_tuned),
        f"two peaks, a2/a1 > {two_peak_ratio:g} (fraction of the tuned)":
            np.mean(fit.peak_ratio[tuned] > two_peak_ratio),
        "a2/a1 of the tuned, median": np.median(fit.peak_ratio[tuned]),
        "in-sample R^2 of the tuned on the file's bins, median": np.median(fit.r2[tuned]),
        "in-sample R^2 of the tuned on 10-deg bins (noise averaged down), median":
            np.median(fit_binned.r2[tuned]),
    }
    frame = pd.DataFrame({"value": list(rows.values())},
                         index=pd.Index(list(rows), name="quantity"))
    formats = {label: ".1%" for label in rows if label.endswith("(fraction)")
               or "fraction of" in label}
    formats |= {label: ".3f" for label in rows if "R^2" in label} | {
        list(rows)[2]: ".0f", list(rows)[7]: ".2f"}
    return ResultTable(frame, title=title, row_formats=formats)


def model_tuning_table(fits, varies, title=""):
    """How well a single 180-deg-periodic von Mises describes each model layer's units.

    Args:
        fits (dict): layer -> ``VonMisesFit`` of its units.
        varies (dict): layer -> (units,) bool, the units whose response varies at all.
        title (str): line above the table.

    Returns:
        ResultTable: per layer the number of units, how many vary with orientation, and
        over those the median R^2, the fraction with R^2 > 0.8 and the fraction whose
        main peak is positive (a bump, not a dip).
    """
    rows = {name: {"units": int(ok.size), "varying": int(ok.sum()),
                   "R^2 median": np.median(fits[name].r2[ok]),
                   "R^2 > 0.8": np.mean(fits[name].r2[ok] > 0.8),
                   "main peak positive": np.mean(fits[name].amplitudes[ok, 0] > 0)}
            for name, ok in varies.items()}
    frame = pd.DataFrame(list(rows.values()), index=pd.Index(list(rows), name="layer"))
    return ResultTable(frame, {"R^2 median": ".3f", "R^2 > 0.8": ".0%",
                               "main peak positive": ".0%"}, title)


def tuning_width_table(widths, totals, title=""):
    """Tuning widths (HWHM) of groups of units: median, quartiles, and how many have none.

    Args:
        widths (dict): group -> HWHM of the units shown (degrees; NaN or inf: too broad
            to fall to half height).
        totals (dict): group -> number of units in the group before selection.
        title (str): line above the table.

    Returns:
        ResultTable: per group the units, those shown, the median HWHM and its quartiles
        over the units that have one (deg), and the count without one.
    """
    rows = []
    for name, width in widths.items():
        width = np.asarray(width, dtype=np.float64)
        finite = width[np.isfinite(width)]
        q1, q2, q3 = np.percentile(finite, [25, 50, 75]) if finite.size else (np.nan,) * 3
        rows.append({"units": int(totals[name]), "shown": int(width.size),
                     "HWHM median (deg)": q2, "25th pct": q1, "75th pct": q3,
                     "no HWHM (too broad)": int(np.sum(~np.isfinite(width)))})
    frame = pd.DataFrame(rows, index=pd.Index(list(widths), name="group"))
    return ResultTable(frame, {"HWHM median (deg)": ".1f", "25th pct": ".1f",
                               "75th pct": ".1f"}, title)
