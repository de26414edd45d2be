"""How each parameter of the offline surrogate moves the calibration targets.

The reasons given for the parameter values of ``simulate_stringer`` (its docstring and
the README's model section) quote this table: each row changes ONE parameter from its
default and prints the medians over surrogate seeds 0..N-1 of

- the class decoder's loss / published loss at iterations 10, 20, 30, 40, 50;
- the ridge decoder's test MSE on the class split of the assignment's 181 stimuli
  (deg^2): a cheap stand-in for the Adam table, which tracks it (the twelve Adam recipes
  score about 0.7-1.0 times this ridge MSE on the models tried; run calibration.py for
  the recipes themselves), and the share of it from test stimuli within 5 deg of the seam;
- the ridge median test error (deg) and the template's RDM correlations (pool, fc);
- the share of well-tuned neurons with two peaks 180 deg apart (seed 0).

The surrogate is a SIMULATION: the numbers describe the model, not mouse V1.

Usage: python benchmarks/surrogate_sensitivity.py [--seeds 8] [--only NAME ...]
(about 1-2 minutes a row with 8 seeds on 2 cores).
"""

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import RidgeCV

sys.path.insert(0, str(Path(__file__).resolve().parent))
import calibration as cal

from v1_orientation.course.rdm import RDM
from v1_orientation.course.recording import load_data, split_train_test
from v1_orientation.course.surrogate import simulate_stringer

# One-at-a-time variations around the defaults (name, keyword arguments).
VARIATIONS = [
    ("defaults", {}),
    ("independent noise (shared_fraction=0)", {"shared_fraction": 0.0}),
    ("shared_fraction=0.3", {"shared_fraction": 0.3}),
    ("shared_fraction=0.5", {"shared_fraction": 0.5}),
    ("shared_dims=10", {"shared_dims": 10}),
    ("shared_dims=100", {"shared_dims": 100}),
    ("shared_decay=0", {"shared_decay": 0.0}),
    ("shared_decay=1", {"shared_decay": 1.0}),
    ("second peak Beta(3.25, 1.75) (v1)", {"second_peak_mean": 0.65,
                                           "second_peak_concentration": 5.0}),
    ("second peak Beta(1.1, 0.9)", {"second_peak_mean": 0.55, "second_peak_concentration": 2.0}),
    ("second peak Beta(0.45, 0.55)", {"second_peak_mean": 0.45, "second_peak_concentration": 1.0}),
    ("signal_median=0.04", {"signal_median": 0.04}),
    ("signal_median=0.06", {"signal_median": 0.06}),
    ("signal_spread=0.5", {"signal_spread": 0.5}),
    ("width_median=12", {"width_median": 12.0}),
    ("width_median=17", {"width_median": 17.0}),
]


def ridge_test_mse(resp_181, stimuli_181):
    """Ridge (penalty by leave-one-out) test MSE and seam share on the class split."""
    x = np.asarray(resp_181, dtype=np.float64)
    y = np.asarray(stimuli_181, dtype=np.float64).reshape(-1)
    x_train, y_train, x_test, y_test = split_train_test(x, y)
    squared = (RidgeCV(alphas=cal.RIDGE_ALPHAS).fit(x_train, y_train).predict(x_test)
               - y_test) ** 2
    seam = np.abs(y_test) >= 90 - cal.SEAM_DEG
    return float(squared.mean()), float(squared[seam].sum() / squared.sum())


_MODEL_RDMS = {}


def template_model_rdms(fname):
    """RDMs of the CNN's 'pool' and 'fc' layers from template cells C1/C2, computed once.

    C1 trains with its own seed and C2 builds gratings at the file's orientations, the
    integer degrees -90..90 for every surrogate, so the model RDMs are the same for
    every surrogate file and are cached.
    """
    if not _MODEL_RDMS:
        namespace = {"fname": str(fname)}
        exec("from ccn_helpers import *", namespace)
        with contextlib.redirect_stdout(io.StringIO()):  # C1 prints its training log
            exec(cal.template_cells.C1, namespace)
        exec(cal.template_cells.C2, namespace)
        _MODEL_RDMS.update({k: RDM(v) for k, v in namespace["resp_model"].items()})
    return _MODEL_RDMS


def measure(seed, **kwargs):
    """Every cheap target on one surrogate: a dict of numbers."""
    resp, stimuli = simulate_stringer(seed=seed, **kwargs)
    log = cal.class_decoder_log(resp, stimuli)
    out = {f"log{i}": log[i] / p for i, p in cal.PUBLISHED_DECODER_LOG.items()}
    with tempfile.TemporaryDirectory() as tmp:
        fname = str(Path(tmp) / "surrogate.npz")
        np.savez(fname, resp=resp, stimuli=stimuli)
        resp_181, stimuli_181 = load_data(fname)
        v1 = RDM(resp_181)
        upper = np.triu_indices(v1.shape[0], k=1)
        correlations = {layer: float(np.corrcoef(v1[upper], rdm[upper])[0, 1])
                        for layer, rdm in template_model_rdms(fname).items()}
    out["ridge_mse"], out["seam"] = ridge_test_mse(resp_181, stimuli_181)
    out["ridge_median"] = cal.ridge_median_error(resp_181, stimuli_181)
    out["pool"], out["fc"] = correlations["pool"], correlations["fc"]
    if seed == 0:
        out["two_peaks"] = cal.two_peak_fractions(resp)["two_peaks"]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--only", nargs="*", help="names (prefixes) of the rows to run")
    args = parser.parse_args()
    print(f"Medians over surrogate seeds 0..{args.seeds - 1} (SURROGATE: a simulation)\n")
    print(f"{'variation':<38} {'class log / published (it 10..50)':<33} {'log ok':>6} "
          f"{'ridge MSE':>9} {'seam':>5} {'ridge med':>9} {'pool':>6} {'fc':>6} {'2 peaks':>7}")
    for name, kwargs in VARIATIONS:
        if args.only and not any(name.startswith(prefix) for prefix in args.only):
            continue
        start = time.perf_counter()
        rows = [measure(seed, **kwargs) for seed in range(args.seeds)]
        median = {k: np.median([r[k] for r in rows]) for k in rows[0] if k != "two_peaks"}
        logs = np.array([[r[f"log{i}"] for i in cal.PUBLISHED_DECODER_LOG] for r in rows])
        ok = np.all((logs >= 1 / cal.DECODER_LOG_FACTOR) & (logs <= cal.DECODER_LOG_FACTOR), 1)
        log_text = " ".join(f"{median[f'log{i}']:.2f}" for i in cal.PUBLISHED_DECODER_LOG)
        print(f"{name:<38} {log_text:<33} {ok.sum():>3}/{args.seeds:<2} "
              f"{median['ridge_mse']:>9.1f} {median['seam']:>5.0%} {median['ridge_median']:>9.2f} "
              f"{median['pool']:>6.3f} {median['fc']:>6.3f} {rows[0]['two_peaks']:>7.2f}"
              f"   [{time.perf_counter() - start:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
