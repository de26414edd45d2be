"""Calibrate the offline surrogate (``simulate_stringer``) against the real recording.

Prints, side by side, each calibration target as measured on the real recording
(the class's published numbers, ``shared/reference.md``) and on the surrogate, with
the tolerance that ``tests/test_surrogate.py`` checks and whether it is met, and the
time it takes to simulate the full-size surrogate. With ``--seeds N`` it also shows
how the class decoder's log varies over surrogate seeds 0..N-1 (its training is
sensitive to the exact data, so one seed is one sample).

The surrogate is a SIMULATION: the numbers measure the model, not mouse V1.

The measurements are defined here, once, and the tests import them.

Usage: python benchmarks/calibration.py [--seed 0] [--seeds 0]
"""

import argparse
import contextlib
import io
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import RidgeCV

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import template_cells  # noqa: E402

import ccn_helpers as ch  # noqa: E402

# Real-recording numbers (shared/reference.md) and the tolerances the tests use.
PUBLISHED_DECODER_LOG = {10: 12219.761, 20: 1672.732, 30: 548.096, 40: 235.619, 50: 144.001}
DECODER_LOG_FACTOR = 1.5  # surrogate loss within [published / 1.5, published * 1.5]
REAL_RDM_CORRELATIONS = {"pool": 0.717, "fc": 0.565}
RDM_TOLERANCE = 0.05  # absolute
RIDGE_ERROR_RANGE = (1.0, 4.0)  # degrees; the class says "within 2-3 degrees"
RIDGE_ALPHAS = np.logspace(0, 5, 11)  # chosen by leave-one-out (GCV) inside the training set

# Definitions of the tuning-curve check (see two_peak_fractions).
SMOOTHING_SD_DEG = 4.0
WELL_TUNED_RELIABILITY = 0.8
PEAK_WINDOW_DEG = 30
SECOND_PEAK_MIN_HEIGHT = 0.25
TWO_PEAK_MIN_FRACTION = 0.8
ORTHOGONAL_PEAK_MAX_FRACTION = 0.05

_LOG_LINE = re.compile(r"iteration (\d+)/\d+ \| loss: ([0-9.eE+-]+)")


def class_decoder_log(resp, stimuli):
    """Train the class decoder as in class and return its printed log.

    The class recipe on all 360 bins (labels 0..359, no <= 180 cut): the
    class split (``split_train_test``, 216 training stimuli), ``set_seed(1)``,
    ``DeepNetReLU(n_neurons, 10)``, ``nn.MSELoss()`` and ``train_decoder``
    (full-batch SGD, lr 1e-4, 50 iterations).

    Args:
        resp (ndarray): 360 x n_neurons binned responses.
        stimuli (ndarray): (360,) orientations, degrees.

    Returns:
        dict: ``{iteration: loss}`` parsed from the printed lines.
    """
    resp_t = torch.as_tensor(np.asarray(resp), dtype=torch.float32)
    stimuli_t = torch.as_tensor(np.asarray(stimuli), dtype=torch.float32).reshape(-1, 1)
    resp_train, stimuli_train, _, _ = ch.split_train_test(resp_t, stimuli_t)
    ch.set_seed(1)
    net = ch.DeepNetReLU(resp_t.shape[1], 10)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        ch.train_decoder(net, torch.nn.MSELoss(), resp_train, stimuli_train,
                         n_epochs=50, learning_rate=1e-4)
    return {int(i): float(loss) for i, loss in _LOG_LINE.findall(printed.getvalue())}


def template_rdm_correlations(fname):
    """Run the template's cells C1 and C2 on ``fname`` and correlate the RDMs.

    Args:
        fname (str): recording-format ``.npz`` file.

    Returns:
        dict: Pearson correlation of the upper triangles (k=1) of ``RDM(resp)``,
        V1 vs each CNN layer: ``{"pool": r, "fc": r}``.
    """
    namespace = {"fname": str(fname)}
    exec("from ccn_helpers import *", namespace)
    with contextlib.redirect_stdout(io.StringIO()):  # C1 prints its training log
        exec(template_cells.C1, namespace)
    exec(template_cells.C2, namespace)
    v1 = ch.RDM(namespace["resp_v1"])
    upper = np.triu_indices(v1.shape[0], k=1)
    return {layer: float(np.corrcoef(v1[upper], ch.RDM(resp)[upper])[0, 1])
            for layer, resp in namespace["resp_model"].items()}


def ridge_median_error(resp, stimuli):
    """Median absolute test error of a ridge decoder of orientation on the class split.

    Ridge regression of the orientation in degrees (not circular) on all
    neurons, its penalty chosen among ``RIDGE_ALPHAS`` by efficient
    leave-one-out inside the training set; trained and tested on the class
    split (``split_train_test``: 60% train).

    Args:
        resp (ndarray or torch.Tensor): n_stimuli x n_neurons responses.
        stimuli (ndarray or torch.Tensor): n_stimuli (x 1) orientations, degrees.

    Returns:
        float: median of ``|predicted - true|`` over the test stimuli, degrees.
    """
    resp = np.asarray(resp, dtype=np.float64)
    stimuli = np.asarray(stimuli, dtype=np.float64).reshape(-1)
    resp_train, stimuli_train, resp_test, stimuli_test = ch.split_train_test(resp, stimuli)
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(resp_train, stimuli_train)
    return float(np.median(np.abs(ridge.predict(resp_test) - stimuli_test)))


def smooth_circular(curves, sd_samples):
    """Smooth curves on a circle with a Gaussian kernel (in Fourier space).

    Args:
        curves (ndarray): n_points x n_curves, equally spaced around the circle.
        sd_samples (float): kernel SD, in samples.

    Returns:
        ndarray: float64, same shape.
    """
    n = curves.shape[0]
    harmonic = np.arange(n // 2 + 1)
    gain = np.exp(-0.5 * (2 * np.pi * harmonic * sd_samples / n) ** 2)
    spectrum = np.fft.rfft(np.asarray(curves, dtype=np.float64), axis=0)
    return np.fft.irfft(spectrum * gain[:, None], n=n, axis=0)


def even_odd_reliability(resp):
    """Split-half reliability of each neuron's tuning curve over 360 1-degree bins.

    The Pearson correlation between the tuning curve from the even-degree bins
    and the one from the odd-degree bins (independent trials), each smoothed
    with a Gaussian of ``SMOOTHING_SD_DEG``.

    Args:
        resp (ndarray): 360 x n_neurons responses, one row per degree.

    Returns:
        ndarray: (n_neurons,) correlations.
    """
    sd_samples = SMOOTHING_SD_DEG / 2  # each half has one bin every 2 degrees
    even = smooth_circular(resp[0::2], sd_samples)
    odd = smooth_circular(resp[1::2], sd_samples)
    even -= even.mean(axis=0)
    odd -= odd.mean(axis=0)
    return (even * odd).sum(0) / np.sqrt((even**2).sum(0) * (odd**2).sum(0))


def relative_peak_heights(resp):
    """Height of the tuning curve 180 and 90 degrees away from its main peak.

    On each curve smoothed with ``SMOOTHING_SD_DEG``, heights are measured
    above the curve's median (its baseline) and divided by the main peak's.
    The height "at" an offset is the curve's maximum within
    ``PEAK_WINDOW_DEG`` of the main peak plus that offset.

    Args:
        resp (ndarray): 360 x n_neurons responses, one row per degree.

    Returns:
        tuple: ``(opposite, orthogonal)``, each (n_neurons,): the relative
        height at 180 deg, and the larger of those at +90 and -90 deg.
    """
    curves = smooth_circular(resp, SMOOTHING_SD_DEG)
    columns = np.arange(curves.shape[1])
    main = curves.argmax(axis=0)
    baseline = np.median(curves, axis=0)
    height = curves[main, columns] - baseline
    window = np.arange(-PEAK_WINDOW_DEG, PEAK_WINDOW_DEG + 1)[:, None]

    def relative_height(offset):
        rows = (main[None, :] + offset + window) % curves.shape[0]
        return (curves[rows, columns].max(axis=0) - baseline) / height

    return relative_height(180), np.maximum(relative_height(90), relative_height(-90))


def two_peak_fractions(resp):
    """How many neurons are well tuned, and how many of them have two peaks 180 deg apart.

    Well tuned: even/odd split-half reliability (``even_odd_reliability``) at
    least ``WELL_TUNED_RELIABILITY``. Two peaks: the smoothed curve rises, within
    ``PEAK_WINDOW_DEG`` of 180 deg from its main peak, above its median by at
    least ``SECOND_PEAK_MIN_HEIGHT`` of the main peak's height. As a control,
    the same criterion 90 deg away (where a two-peaked curve has no peak).

    Args:
        resp (ndarray): 360 x n_neurons responses, one row per degree.

    Returns:
        dict: ``n_well_tuned``, ``two_peaks`` (fraction of the well-tuned with a
        second peak at 180 deg) and ``orthogonal_peak`` (fraction with one at 90 deg).
    """
    resp = np.asarray(resp, dtype=np.float64)
    well_tuned = even_odd_reliability(resp) >= WELL_TUNED_RELIABILITY
    opposite, orthogonal = relative_peak_heights(resp[:, well_tuned])
    return {"n_well_tuned": int(well_tuned.sum()),
            "two_peaks": float(np.mean(opposite >= SECOND_PEAK_MIN_HEIGHT)),
            "orthogonal_peak": float(np.mean(orthogonal >= SECOND_PEAK_MIN_HEIGHT))}


def generation_seconds(seed=0, repeats=3):
    """Wall time of ``simulate_stringer(seed)`` at full size: first call and best of repeats."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ch.simulate_stringer(seed=seed)
        times.append(time.perf_counter() - start)
    return times[0], min(times)


def decoder_log_ratios(seeds):
    """Surrogate / published class-decoder loss at iterations 10..50, one row per seed."""
    rows = []
    for seed in seeds:
        log = class_decoder_log(*ch.simulate_stringer(seed=seed))
        rows.append([log[i] / PUBLISHED_DECODER_LOG[i] for i in PUBLISHED_DECODER_LOG])
    return np.array(rows)


def _row(target, real, surrogate, tolerance, verdict):
    print(f"{target:<44} {real:>9} {surrogate:>10} {tolerance:>15} {verdict:>7}")


def _verdict(ok):
    return "pass" if ok else "FAIL"


def calibration_rows(resp, stimuli):
    """Measure every calibration target on a surrogate.

    Args:
        resp (ndarray): 360 x n_neurons binned responses.
        stimuli (ndarray): (360,) orientations, degrees.

    Returns:
        list of tuple: ``(target, real, surrogate, tolerance, verdict)`` strings.
    """
    rows = []
    log = class_decoder_log(resp, stimuli)
    for i, published in PUBLISHED_DECODER_LOG.items():
        ratio = log[i] / published
        rows.append((f"class decoder loss, iteration {i}", f"{published:.1f}", f"{log[i]:.1f}",
                     f"x/ {DECODER_LOG_FACTOR} (x{ratio:.2f})",
                     _verdict(1 / DECODER_LOG_FACTOR <= ratio <= DECODER_LOG_FACTOR)))
    with tempfile.TemporaryDirectory() as tmp:
        fname = str(Path(tmp) / "surrogate.npz")
        np.savez(fname, resp=resp, stimuli=stimuli)
        correlations = template_rdm_correlations(fname)
        resp_181, stimuli_181 = ch.load_data(fname)
    for layer, real in REAL_RDM_CORRELATIONS.items():
        rows.append((f"RDM correlation, V1 vs '{layer}'", f"{real:.3f}",
                     f"{correlations[layer]:.3f}", f"+/- {RDM_TOLERANCE}",
                     _verdict(abs(correlations[layer] - real) <= RDM_TOLERANCE)))
    low, high = RIDGE_ERROR_RANGE
    error = ridge_median_error(resp_181, stimuli_181)
    rows.append(("ridge median test error, 181 stimuli (deg)", "2-3", f"{error:.2f}",
                 f"{low:g} to {high:g}", _verdict(low <= error <= high)))
    rows.append(("ridge median test error, 360 bins (deg)", "-",
                 f"{ridge_median_error(resp, stimuli):.2f}", "-", "report"))
    peaks = two_peak_fractions(resp)
    rows.append((f"well-tuned neurons (of {resp.shape[1]})", "-", f"{peaks['n_well_tuned']}",
                 "-", "report"))
    rows.append(("  with two peaks 180 deg apart (fraction)", "most", f"{peaks['two_peaks']:.3f}",
                 f">= {TWO_PEAK_MIN_FRACTION}",
                 _verdict(peaks["two_peaks"] >= TWO_PEAK_MIN_FRACTION)))
    rows.append(("  with a peak 90 deg away (control)", "-", f"{peaks['orthogonal_peak']:.3f}",
                 f"<= {ORTHOGONAL_PEAK_MAX_FRACTION}",
                 _verdict(peaks["orthogonal_peak"] <= ORTHOGONAL_PEAK_MAX_FRACTION)))
    return rows


def print_calibration(seed):
    """Time the surrogate of ``seed``, measure every target on it and print the table."""
    first, best = generation_seconds(seed)
    print(f"simulate_stringer(seed={seed}) at full size (360 x 23589): "
          f"{first:.2f} s first call, {best:.2f} s best of 3\n")
    print("SURROGATE (a simulation) vs the real recording's published numbers\n")
    _row("target", "real", "surrogate", "tolerance", "")
    for row in calibration_rows(*ch.simulate_stringer(seed=seed)):
        _row(*row)


def print_seed_spread(n_seeds):
    """Print the class decoder's loss ratios over surrogate seeds 0..n_seeds-1."""
    ratios = decoder_log_ratios(range(n_seeds))
    inside = (ratios >= 1 / DECODER_LOG_FACTOR) & (ratios <= DECODER_LOG_FACTOR)
    print(f"\nclass decoder loss / published over seeds 0..{n_seeds - 1}")
    print(f"{'iteration':>10} {'25%':>6} {'median':>7} {'75%':>6} {'within x/1.5':>13}")
    for column, i in enumerate(PUBLISHED_DECODER_LOG):
        q25, median, q75 = np.quantile(ratios[:, column], [0.25, 0.5, 0.75])
        print(f"{i:>10} {q25:>6.2f} {median:>7.2f} {q75:>6.2f} "
              f"{inside[:, column].sum():>8}/{n_seeds}")
    print(f"seeds within x/1.5 at all five iterations: {inside.all(axis=1).sum()}/{n_seeds}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="surrogate seed of the table")
    parser.add_argument("--seeds", type=int, default=0,
                        help="also show the decoder log's spread over seeds 0..SEEDS-1")
    args = parser.parse_args()
    print_calibration(args.seed)
    if args.seeds:
        print_seed_spread(args.seeds)


if __name__ == "__main__":
    main()
