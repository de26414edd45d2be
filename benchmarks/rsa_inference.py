"""Speed of the RSA inference (7b) at the notebook's sizes, and agreement with rsatoolbox.

Prints two tables for 181 stimuli (the assignment's orientations) and 7 model RDMs:

1. time of the stimulus bootstrap, the permutation null and the split-half noise ceiling
   (23,589 units), per method;
2. the same bootstrap resamples through rsatoolbox (``subsample_pattern`` + ``compare``),
   one resample at a time: its time and the largest difference from ours.

Usage: python benchmarks/rsa_inference.py
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from v1_orientation.course.rdm import RDM
from v1_orientation.solution.rsa_inference import (
    rdm_permutation_null,
    resampled_rdm_similarity,
    split_half_noise_ceiling,
)
from v1_orientation.solution.stats import bootstrap_counts


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def tuned_population(rng, n_units, noise, theta):
    pref = rng.uniform(0, 180, n_units)
    signal = np.exp(2 * (np.cos(np.deg2rad(2 * (theta[:, None] - pref))) - 1))
    return signal + noise * rng.standard_normal(signal.shape)


def main():
    from rsatoolbox.rdm import RDMs, compare

    rng = np.random.default_rng(0)
    theta = np.arange(-90.0, 91.0)
    reference = tuned_population(rng, 23589, 1.0, theta)
    rdm_ref = RDM(reference)
    models = [RDM(tuned_population(rng, 300, noise, theta)) for noise in
              (0.1, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0)]

    print(f"{len(theta)} stimuli, {len(models)} model RDMs, reference from {reference.shape[1]} "
          "units")
    print(f"{'step':<40} {'pearson (s)':>12} {'spearman (s)':>13}")
    for label, fn in [
        ("bootstrap, 1000 resamples", lambda m: resampled_rdm_similarity(
            rdm_ref, models, bootstrap_counts(len(theta), 1000), m)),
        ("permutation null, 1000 permutations", lambda m: rdm_permutation_null(
            rdm_ref, models, m, 1000)),
        ("noise ceiling, 10 split halves", lambda m: split_half_noise_ceiling(
            reference, 10, methods=(m,))),
    ]:
        times = [timed(lambda m=m, f=fn: f(m))[1] for m in ("pearson", "spearman")]
        print(f"{label:<40} {times[0]:>12.2f} {times[1]:>13.2f}")

    n_boot = 100
    counts = bootstrap_counts(len(theta), n_boot, seed=1)
    print(f"\nThe same {n_boot} resamples through rsatoolbox (duplicated stimuli's pairs "
          "dropped as NaN)")
    print(f"{'method':<10} {'ours (s)':>9} {'rsatoolbox (s)':>15} {'max |difference|':>17}")
    rdms_ref = RDMs(rdm_ref[None])
    rdms_models = RDMs(np.stack(models))
    for ours_name, theirs_name in (("pearson", "corr"), ("spearman", "spearman")):
        ours, t_ours = timed(lambda o=ours_name: resampled_rdm_similarity(
            rdm_ref, models, counts, o))

        def with_rsatoolbox(method=theirs_name):
            out = np.empty((n_boot, len(models)))
            for b, row in enumerate(counts):
                index = np.repeat(np.arange(len(theta)), row)
                out[b] = compare(rdms_ref.subsample_pattern("index", index),
                                 rdms_models.subsample_pattern("index", index), method)[0]
            return out

        theirs, t_theirs = timed(with_rsatoolbox)
        print(f"{ours_name:<10} {t_ours:>9.3f} {t_theirs:>15.3f} "
              f"{np.max(np.abs(ours - theirs)):>17.2e}")


if __name__ == "__main__":
    main()
