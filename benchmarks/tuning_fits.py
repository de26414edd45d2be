"""Speed and accuracy of `fit_von_mises`: all V1 neurons, and synthetic neurons with a known answer.

Prints two tables:

1. time to fit every neuron of the recording (0..359 deg, two peaks) and the held-out
   criterion, by number of Levenberg-Marquardt steps (target: all 23,589 neurons in <= 10 s);
2. on synthetic neurons with planted parameters and noise: median and 95th percentile of the
   errors in preferred angle, half-width and peak ratio, and the residual sum of squares
   relative to `scipy.optimize.curve_fit` started at the true parameters.

Usage: python benchmarks/tuning_fits.py [--data DATA_FILE]   (default: the offline surrogate)
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from scipy.optimize import curve_fit

from v1_orientation.course.download import fetch_data
from v1_orientation.course.provenance import data_provenance
from v1_orientation.course.recording import load_recording
from v1_orientation.solution.circular import orientation_difference
from v1_orientation.solution.von_mises import fit_von_mises, von_mises_cv_r2, von_mises_cv_threshold


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def recording_table(path):
    resp, stimuli = load_recording(path)
    print(f"Fitting {resp.shape[1]} neurons x {resp.shape[0]} bins: "
          f"{data_provenance(path).description}")
    print(f"{'stage':<38} {'time (s)':>9} {'median R2':>10}")
    for n_iter in (0, 1, 3, 6):
        fit, seconds = timed(lambda n=n_iter: fit_von_mises(resp, stimuli, n_iter=n))
        print(f"{f'fit, {n_iter} Levenberg-Marquardt steps':<38} {seconds:>9.2f} "
              f"{np.nanmedian(fit.r2):>10.3f}")
    cv, seconds = timed(lambda: von_mises_cv_r2(resp, stimuli))
    print(f"{'held-out R2 (even -> odd bins)':<38} {seconds:>9.2f} {np.nanmedian(cv):>10.3f}")
    threshold, seconds = timed(lambda: von_mises_cv_threshold(resp, stimuli))
    print(f"{'chance level (1 shuffle)':<38} {seconds:>9.2f} {threshold:>10.3f}")


def synthetic(n_units, noise, seed):
    rng = np.random.default_rng(seed)
    theta = np.arange(360.0)
    mu = rng.uniform(0, 360, n_units)
    hwhm = rng.uniform(6, 40, n_units)
    kappa = np.log(2) / (1 - np.cos(np.deg2rad(hwhm)))
    a1, ratio = rng.uniform(0.5, 1.5, n_units), rng.uniform(0, 0.8, n_units)
    b = rng.normal(0, 0.2, n_units)
    x = np.deg2rad(theta[:, None] - mu)
    clean = b + a1 * (np.exp(kappa * (np.cos(x) - 1)) + ratio * np.exp(kappa * (-np.cos(x) - 1)))
    return theta, clean + noise * rng.standard_normal(clean.shape), mu, hwhm, ratio, kappa, a1, b


def model(t, b, a1, a2, mu, kappa):
    x = np.deg2rad(t - mu)
    return b + a1 * np.exp(kappa * (np.cos(x) - 1)) + a2 * np.exp(kappa * (np.cos(x - np.pi) - 1))


def synthetic_table():
    print("\nSynthetic neurons (HWHM 6-40 deg, peak ratio 0-0.8, amplitude 0.5-1.5, 360 bins)")
    print(f"{'noise sd':>8} {'n_iter':>6} {'pref err (deg)':>16} {'HWHM rel err':>14} "
          f"{'ratio err':>12} {'SSE / curve_fit':>16}")
    for noise in (0.1, 0.3, 1.0):
        theta, resp, mu, hwhm, ratio, kappa, a1, b = synthetic(2000, noise, seed=0)
        for n_iter in (0, 3):
            fit = fit_von_mises(resp, theta, n_iter=n_iter)
            pref = np.abs(orientation_difference(fit.preferred, mu, 360))
            width = np.abs(fit.hwhm / hwhm - 1)
            peak = np.abs(fit.peak_ratio - ratio)
            excess = []
            for n in range(30):
                p0 = [b[n], a1[n], a1[n] * ratio[n], mu[n], kappa[n]]
                try:
                    best, _ = curve_fit(model, theta, resp[:, n], p0=p0, maxfev=5000)
                except RuntimeError:
                    continue
                sse_ref = np.sum((resp[:, n] - model(theta, *best)) ** 2)
                sse = np.sum((resp[:, n] - fit.predict(theta, [n])[:, 0]) ** 2)
                excess.append(sse / sse_ref)

            def q(v):
                return f"{np.nanmedian(v):.3f} / {np.nanpercentile(v, 95):.3f}"

            print(f"{noise:>8} {n_iter:>6} {q(pref):>16} {q(width):>14} {q(peak):>12} "
                  f"{np.median(excess):>9.6f} max {np.max(excess):.4f}")
    print("(errors: median / 95th percentile; the SSE ratio over 30 neurons: <= 1 means "
          "at least as good a least-squares fit as curve_fit)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="recording file (default: the surrogate)")
    args = parser.parse_args()
    path = args.data or fetch_data("surrogate", data_dir=Path(__file__).resolve().parents[1]
                                      / "data")
    recording_table(path)
    synthetic_table()


if __name__ == "__main__":
    main()
