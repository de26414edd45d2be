"""Time `gratings` (one vectorised call) against stacking `grating` in a loop.

Prints a table: number of angles, loop time, batched time, speed-up, and the
fraction of pixels that differ (allowed: at most 0.1%, at exact 0/1 boundaries).

Usage: python benchmarks/gratings.py
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from v1_orientation.course.stimuli import grating, gratings


def best_time(fn, repeats=7):
    """Best wall time of ``repeats`` calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    rng = np.random.default_rng(0)
    print(f"{'n angles':>9} {'patch':>6} {'loop (ms)':>10} {'batched (ms)':>13} "
          f"{'speed-up':>9} {'pixels differing':>17}")
    for n in (10, 100, 1000, 4000):
        for patch in (False, True):
            angles = rng.uniform(-90, 90, n)
            t_loop = best_time(
                lambda a=angles, p=patch: torch.stack([grating(x, patch=p) for x in a]), repeats=3)
            t_batch = best_time(lambda a=angles, p=patch: gratings(a, patch=p))
            stacked = torch.stack([grating(a, patch=patch) for a in angles])
            differ = (gratings(angles, patch=patch) != stacked).float().mean().item()
            print(f"{n:>9} {patch!s:>6} {1e3 * t_loop:>10.1f} {1e3 * t_batch:>13.2f} "
                  f"{t_loop / t_batch:>8.1f}x {differ:>16.4%}")


if __name__ == "__main__":
    main()
