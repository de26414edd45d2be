"""Time Part 2's decoding curve, and check the Gram-matrix shortcut against the neurons themselves.

Prints two tables, on the offline surrogate (a simulation, not mouse V1 data):

1. One 10-fold cross-validation of ``CircularRidge`` with N neurons, fitted on the
   neurons themselves and on ``_gram_embedding`` of their Gram matrix (what
   ``decoding_error_curve`` does above 360 neurons): wall time of each and the largest
   difference between their decoded orientations (should be ~1e-10 deg).
2. Wall time of ``decoding_error_curve`` with the notebook's default sizes
   (10 sizes from 10 to all neurons, 10 folds) per repeat, for each split and selection.

Usage: python benchmarks/population_precision.py
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from v1_orientation.course.surrogate import simulate_stringer
from v1_orientation.solution.circular import orientation_difference
from v1_orientation.solution.crossval import cv_folds
from v1_orientation.solution.population import (
    _gram_embedding,
    cross_validated_angles,
    decoding_error_curve,
)
from v1_orientation.solution.tuning import split_half_reliability


def timed(fn):
    """Run ``fn()`` once; return (result, wall seconds)."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main():
    resp, stimuli = simulate_stringer(seed=0)
    print("data: offline surrogate (simulate_stringer, seed 0), not mouse V1\n")
    x = resp.astype(np.float64)
    folds = cv_folds(stimuli, 10, seed=0)
    print(f"{'N':>6} {'neurons (s)':>12} {'Gram (s)':>9} {'max |difference| (deg)':>23}")
    rng = np.random.default_rng(0)
    for n in (1000, 5000, 23589):
        sub = x[:, rng.permutation(x.shape[1])[:n]]
        direct, t_direct = timed(lambda s=sub: cross_validated_angles(s, stimuli, folds))
        embedded, t_gram = timed(lambda s=sub: cross_validated_angles(
            _gram_embedding(s @ s.T), stimuli, folds))
        diff = np.abs(orientation_difference(direct, embedded)).max()
        print(f"{n:>6} {t_direct:>12.2f} {t_gram:>9.2f} {diff:>23.1e}")

    sizes = np.unique(np.geomspace(10, resp.shape[1], 10).round().astype(int))
    print(f"\nsizes {sizes.tolist()}, 10 folds")
    print(f"{'split':<12} {'selection':<14} {'s per repeat':>13} {'RMS error, all neurons':>23}")
    for scheme, rank_by in [("interleaved", None), ("blocked", None),
                            ("interleaved", split_half_reliability)]:
        curve, t = timed(lambda s=scheme, r=rank_by: decoding_error_curve(
            resp, stimuli, sizes, n_repeats=1, scheme=s, rank_by=r, seed=0))
        name = "random" if rank_by is None else "most reliable"
        print(f"{scheme:<12} {name:<14} {t:>13.2f} {curve['rmse'][-1, 0]:>20.3f} deg")


if __name__ == "__main__":
    main()
