"""Decoders of orientation for the 1b bonus: one table, same splits, same run.

Rows: the class recipe (``DeepNetReLU(23589, 10)``, seed 1, full-batch SGD lr 1e-4,
50 iterations), a student's typical improvement (150 hidden units, Adam lr 1e-3,
weight decay 0.005, 300 full-batch epochs, StepLR(100, 0.5), gradient clipping at 1.0),
ridge on the raw angle, circular ridge, the best decoder (``make_best_decoder``: model
selection by 5-fold cross-validation inside the training data), and extra rows
(population vector, circular ridge with the boundary hedge, an MLP on the circle).

Columns: the class split (``split_train_test``, 108 / 73), the mean ± standard error over
random 60/40 splits, and over blocked 60/40 splits that hold out whole blocks of
orientation. A second table sweeps the block width for circular ridge and the best
decoder. Then the targets: the best decoder's class-split test MSE at most 1% of the
class recipe's and 5% of the student recipe's, and its fit under 60 s.

Every number is computed on the data that ``fetch_data`` returns (the offline surrogate
here): on the surrogate it describes the simulation, not mouse V1.

Usage: python benchmarks/decoders.py [--source surrogate] [--n-splits 20] [--n-blocked 20]
       [--block-width 10] [--sweep-splits 10] [--device auto]
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from v1_orientation.course.download import fetch_data
from v1_orientation.course.recording import load_data
from v1_orientation.course.runtime import get_device
from v1_orientation.solution.comparison import (
    block_width_sweep,
    compare_decoders,
    format_block_width_sweeps,
    format_decoder_comparison,
)
from v1_orientation.solution.ridge import PopulationVectorDecoder
from v1_orientation.solution.selection import best_decoder_candidates, standard_decoders

BEST, CLASS, STUDENT = "best (nested CV)", "class recipe", "student recipe"
TARGETS = {CLASS: 0.01, STUDENT: 0.05}  # best's MSE at most this fraction of each recipe's
MAX_FIT_SECONDS = 60.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="surrogate", help="fetch_data source")
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    parser.add_argument("--n-splits", type=int, default=20, help="random 60/40 splits")
    parser.add_argument("--n-blocked", type=int, default=20, help="blocked 60/40 splits")
    parser.add_argument("--block-width", type=float, default=10.0, help="degrees")
    parser.add_argument("--sweep-splits", type=int, default=10, help="splits per block width")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    fname = fetch_data(args.source, data_dir=args.data_dir)
    resp, ori = load_data(fname)
    device = get_device(args.device)
    print(f"data: {fname.description}\n{resp.shape[0]} stimuli x {resp.shape[1]} neurons; "
          f"torch {torch.__version__} on {device}, {torch.get_num_threads()} threads\n")

    decoders = standard_decoders(seed=args.seed, device=str(device))
    candidates = dict(best_decoder_candidates(seed=args.seed, device=str(device)))
    decoders["population vector"] = PopulationVectorDecoder()
    decoders["circular ridge + boundary hedge"] = candidates["circular ridge + boundary hedge"]
    decoders["MLP on the circle (row space)"] = candidates["MLP on the circle (128 units, dropout)"]

    start = time.perf_counter()
    result = compare_decoders(decoders, resp, ori, n_random=args.n_splits,
                                 n_blocked=args.n_blocked, block_width=args.block_width,
                                 seed=args.seed)
    print(f"\n{fname.title_suffix.strip() or 'real recording'}: test errors "
          f"({time.perf_counter() - start:.0f} s)\n")
    print(format_decoder_comparison(result, BEST, (CLASS, STUDENT)))

    print(f"\nError against the width of the held-out blocks ({args.sweep_splits} splits each; "
          "width 1 = random split)")
    sweeps = {name: block_width_sweep(decoders[name], resp, ori, n_splits=args.sweep_splits,
                                         seed=args.seed, progress=True)
              for name in ("circular ridge", BEST)}
    print(format_block_width_sweeps(sweeps))

    cls = result["class"]
    best_mse = cls["errors"][BEST][0]["mse"]
    fit_seconds = cls["fit_seconds"][BEST][0]
    print("\nTargets (class split):")
    for ref, fraction in TARGETS.items():
        ratio = best_mse / cls["errors"][ref][0]["mse"]
        print(f"  best MSE / {ref} MSE = {ratio:.2%} (target <= {fraction:.0%}): "
              f"{'met' if ratio <= fraction else 'NOT met'}")
    print(f"  best decoder's fit: {fit_seconds:.1f} s (target < {MAX_FIT_SECONDS:.0f} s): "
          f"{'met' if fit_seconds < MAX_FIT_SECONDS else 'NOT met'}")


if __name__ == "__main__":
    main()
