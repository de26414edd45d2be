"""Mutation testing of the stable analysis sections of ccn_helpers.py (``make mutate``).

mutmut (configured in pyproject.toml, [tool.mutmut]) plants one small change at a time in the
functions of the chosen sections (an operator, a constant, an argument, a return value) and runs
the fast tests that cover the function; a mutant the tests do not notice "survives". This script
chooses the functions, runs mutmut on them from a clean state, and prints the kill rate per
section and every surviving mutant with its diff, separating the survivors we have examined and
found equivalent (no input can tell them from the original; listed in EQUIVALENT, with why).

Sections run by default (see ccn_helpers' module docstring): 5b's circular decoders, 7 and 7b
(RDMs, RSA inference), 8 and 8b (tuning curves, decoding errors, embeddings, von Mises fits).
Plotting and text-layout functions (``plot_*``, ``format_*``) are left out: their output is
looked at, not computed on. The surrogate (2b), the data layer and the torch trainers are left
out too: they change often or are tested by slow calibration and training runs.

Usage: ``python tools/mutate.py [--sections 7 8b ...] [--keep]`` from the repository root.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "ccn_helpers.py"
MUTANTS = ROOT / "mutants"
MUTMUT = Path(sys.executable).with_name("mutmut")

DEFAULT_SECTIONS = ("5b", "7", "8", "8b")
# 5b also holds the MLP decoders and the model-selection machinery, trained in slow tests:
# only its circular decoders are run.
SECTION_5B_DECODERS = {"angles_to_circle", "circle_to_angles", "_check_angle_data", "_DualRidge",
                       "AngleRidge", "CircularRidge", "PopulationVectorDecoder"}
LAYOUT_PREFIXES = ("plot_", "format_")

# Survivors examined and found equivalent: (function, a tuple of them, or None for any; a regex
# searched in the mutated line; why no input can tell the mutant from the original). Matched on
# the diff's added line, so the entries survive renumbering of the mutants.
EQUIVALENT = [
    # numpy reads these spellings the same way
    (None, r"\.reshape\((len\(x\), )?-2\)", "numpy reads any negative size as 'the rest', "
     "like -1"),
    (None, r'kind="STABLE"', "numpy reads sort kinds case-insensitively"),
    (None, r'einsum\("[A-Z]+(,[A-Z]+)*->[A-Z]*"', "einsum subscripts are labels: upper-case "
     "letters label the same axes as lower-case ones"),
    ("RDM", r"astype\(None\)", "astype(None) is astype(float64)"),
    ("explained_variance", r"compute_uv=None", "None is falsy, as False"),
    ("_grid_fit", r"shift = n_phi / n_peaks", "np.roll takes the integral float shift as is"),
    # float32 input meets a float64 operand first, and numpy computes in float64
    ("AngleRidge", r"dtype=None\)|np\.asarray\(_as_numpy\(X\), \)",
     "X @ coef_ (float64) computes in float64 whatever X's dtype"),
    ("PopulationVectorDecoder", r"dtype=None\)|np\.asarray\(_as_numpy\(X\), \)",
     "X - x_mean_ (float64) computes in float64 whatever X's dtype"),
    ("_DualRidge", r"np\.asarray\(targets, (dtype=None)?\)", "targets arrive as float64 "
     "(from _check_angle_data or angles_to_circle)"),
    ("_DualRidge", r"np\.asarray\(alphas, (dtype=None)?\)", "the penalties become float64 in "
     "their first sum with the float64 eigenvalues"),
    ("_DualRidge", r"np\.clip\(eigval, None, None\)", "X X^T has eigenvalues >= 0; rounding "
     "leaves at most ~1e-16 of the largest below 0, invisible beside the penalties (>= 1e-3)"),
    ("fit_von_mises", r"np\.asarray\(kappas, (None)?\)", "a list of kappas becomes float in "
     "its first float arithmetic"),
    ("fit_von_mises", r"np\.take_along_axis\(params\[:, 1:(1|2) \+ n_peaks\], relabel, "
     r"(axis=1)?\)", "the relabelling indices are < n_peaks and the last axis is axis 1"),
    ("fit_von_mises", r"if \(?n_iter\)? (or True )?else [01], chunk", "with n_iter = 0 the "
     "refinement loop takes no step either way"),
    ("fit_von_mises", r"chunk=1025", "units are fitted independently; the block size bounds "
     "memory only"),
    ("orientation_difference", r"\(d - period / 2\) % period", "-period/2 and +period/2 are "
     "the same shift modulo the period"),
    ("binned_tuning", r"\] = 2\.0", "sums and counts double together; their ratio is the same"),
    ("predict", r"device = None|chunk\.to\(None\)", "equivalent on a CPU-only machine: "
     ".to(None) leaves the batch where the CPU network is (a CUDA run would kill it)"),
    # conversions done again, or made moot, where the value is used
    ("reliability_threshold", r"np\.asarray\(_as_numpy\((resp|stimuli)\), (dtype=None)?\)|"
     r"reshape\(None\)", "split_half_reliability converts its inputs again"),
    ("von_mises_cv_threshold", r"np\.asarray\(_as_numpy\(resp\), (dtype=None)?\)",
     "von_mises_cv_r2 converts its input again"),
    ("decoding_errors", r"np\.asarray\(_as_numpy\((predicted|true)\), (dtype=None)?\)",
     "the other operand of the difference is float64, so it is computed in float64"),
    ("binned_tuning", r"np\.asarray\(_as_numpy\((resp|stimuli)\), (dtype=None)?\)",
     "resp meets the float64 one-hot matrix, stimuli the float64 edges: float64 either way"),
    (("_columnwise_correlation", "binned_tuning", "preferred_orientation"),
     r'errstate\(invalid="ignore", (divide=None)?\)', "a zero denominator comes only "
     "with a zero numerator here: 0/0 is 'invalid', never 'divide'"),
    ("embed", r"seed=1, perplexity", "with init='pca' scikit-learn's t-SNE draws no random "
     "numbers: the seed changes nothing"),
    ("predict", r"batch_size=4097", "batches only bound memory (batch_size=3 is tested)"),
    # comparisons at a boundary that no real value sits on
    ("RDM", r"std\[:, 0\] < 1e-12", "a constant row's spread is 0 or rounding noise, never "
     "exactly at the tolerance"),
    ("RDM", r"1e-12 \* \(2 \+ np\.abs", "the rounding tolerance 1e-12 (1 + max|r|) against "
     "1e-12 (2 + max|r|): no row's spread lies between"),
    ("_r_squared", r"sst < 1e-20", "sst equals the threshold only for an all-zero unit, whose "
     "R^2 is 0/0 = NaN either way"),
    ("_grid_fit", r"better = score >= best", "equal scores at two grid points fit equally well "
     "(only a constant unit has them)"),
    ("_levenberg_marquardt", r"better = sse_t <= sse", "a step that leaves the error unchanged "
     "fits equally well"),
    ("_levenberg_marquardt", r"1e-12 [*/] \((1|2) [-+] diag\)", "a 1e-12 jitter beside the "
     "damping term (>= 1e-3 diag) only keeps the solve regular; it moves no step measurably"),
    # structure the code relies on
    ("upper_triangle", r"rdm\.shape\[1\]", "the matrix is square (S x S)"),
    ("_grid_fit", r"np\.roll\(basis, \+k", "evenly spaced peaks have a circulant Gram matrix, "
     "unchanged when their order is reversed"),
    ("_residual_and_normal_equations", r"params\[:, 1:2 \+ n_peaks\]", "the extra column "
     "(mu) is never read: only a[:, k] for k < n_peaks"),
    ("_residual_and_normal_equations", r"for q in range\(n_par\)", "J^T J is symmetric and "
     "both triangles are written"),
    ("_residual_and_normal_equations", r"for c in columns\], \+1\)",
     "stacking 1-D arrays: axis 1 is axis -1"),
    (None, r'argsort\((theta|stimuli|values), (kind=None)?\)', "only the order of equal "
     "stimuli changes, which the docstring leaves open"),
    ("RDMComparison", r"strict=(None|False)", "the zipped sequences always have equal lengths"),
    ("embed", r'^\s*random_state=seed\)$', "scikit-learn's t-SNE initialises by PCA by default"),
]

STATUS = {1: "killed", 3: "killed", 0: "survived", 33: "no tests", 34: "skipped",
          35: "suspicious", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          37: "type check", None: "not run"}


def sections_of(source):
    """Map each top-level function or class of the module to its section ('7', '8b', ...)."""
    marks = [(i + 1, m.group(1)) for i, line in enumerate(source.splitlines())
             if (m := re.match(r"# (\d+[a-z]?)\. ", line))]
    owners = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            before = [sec for line, sec in marks if line < node.lineno]
            owners[node.name] = (before[-1] if before else "0", isinstance(node, ast.ClassDef))
    return owners


def chosen_functions(sections):
    """Top-level names to mutate, with their section, and the mutmut name patterns for them."""
    chosen = {}
    for name, (section, _) in sections_of(SOURCE.read_text()).items():
        if section not in sections or name.startswith(LAYOUT_PREFIXES):
            continue
        if section == "5b" and name not in SECTION_5B_DECODERS:
            continue
        chosen[name] = section
    return chosen


def mutant_owner(key):
    """'ccn_helpers.x_f__mutmut_3' or 'ccn_helpers.xǁCǁm__mutmut_3' -> 'f' or 'C'."""
    body = key.split(".", 1)[1].rsplit("__mutmut_", 1)[0]
    return body.split("ǁ")[1] if body.startswith("xǁ") else body[2:]


def patterns(chosen, classes):
    """The mutmut name patterns of the chosen functions (a class: all its methods)."""
    return [f"ccn_helpers.xǁ{n}ǁ*" if classes[n] else f"ccn_helpers.x_{n}__mutmut_*"
            for n in sorted(chosen)]


def run_mutmut(names, log_path):
    """Run mutmut on the given patterns, echoing its progress every 30 s; return its exit code."""
    # one thread per BLAS/OpenMP pool: mutmut forks its workers, and a thread pool started before
    # the fork deadlocks the child (a hung mutant would be counted as a timeout, i.e. killed)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(MUTMUT), "run", "--max-children", "2", *names], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        start, last = time.time(), ""
        while proc.poll() is None:
            time.sleep(30)
            tail = Path(log_path).read_text(errors="replace")[-400:]
            found = re.findall(r"(\d+/\d+)\s+\S+ (\d+)", tail)
            if found and found[-1][0] != last:
                last = found[-1][0]
                print(f"  {time.time() - start:5.0f} s: {last} mutants tried", flush=True)
    return proc.returncode


def mutant_sources():
    """Source of every function in mutants/ccn_helpers.py, by name (mutants and originals)."""
    text = (MUTANTS / "ccn_helpers.py").read_text()
    lines = text.splitlines()
    return {node.name: lines[node.lineno - 1:node.end_lineno] for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef) and "__mutmut_" in node.name}


def diff_of(key, sources):
    """The lines a mutant changes: '-' original, '+' mutated (difflib, no context)."""
    name = key.split(".", 1)[1]
    orig_name = name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
    original = sources[orig_name]
    mutated = [line.replace(name + "(", orig_name + "(") for line in sources[name]]
    return [line for line in difflib.unified_diff(original, mutated, lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def equivalent_reason(owner, diff):
    """Why the mutant is equivalent, if its owner and added line match an EQUIVALENT entry."""
    added = [line[1:] for line in diff if line.startswith("+")]
    for function, pattern, why in EQUIVALENT:
        names = function if isinstance(function, tuple) else (function,)
        if (None in names or owner in names) and any(re.search(pattern, line) for line in added):
            return why
    return None


def last_survivors(chosen):
    """Names of the chosen functions' mutants that survived the last run."""
    meta = json.loads((MUTANTS / "ccn_helpers.py.meta").read_text())
    return [k for k, v in meta["exit_code_by_key"].items()
            if mutant_owner(k) in chosen and STATUS.get(v) == "survived"]


def report(chosen):
    """Print the kill rate per section, the equivalent mutants and the other survivors."""
    meta = json.loads((MUTANTS / "ccn_helpers.py.meta").read_text())
    results = {k: STATUS.get(v, f"exit {v}") for k, v in meta["exit_code_by_key"].items()
               if mutant_owner(k) in chosen}
    by_section = Counter()
    killed_by_section = Counter()
    survivors, equivalents = [], []
    sources = mutant_sources()
    for key, status in sorted(results.items()):
        section = chosen[mutant_owner(key)]
        by_section[section] += 1
        if status in ("killed", "timeout"):
            killed_by_section[section] += 1
            continue
        diff = diff_of(key, sources)
        why = equivalent_reason(mutant_owner(key), diff) if status == "survived" else None
        (equivalents if why else survivors).append((key, status, diff, why))
    print("\nsection  mutants  killed  rate")
    for section in sorted(by_section, key=lambda s: (int(re.match(r"\d+", s)[0]), s)):
        n, k = by_section[section], killed_by_section[section]
        print(f"{section:>7}  {n:7d}  {k:6d}  {100 * k / n:5.1f}%")
    total, killed = sum(by_section.values()), sum(killed_by_section.values())
    n_equiv = len(equivalents)
    print(f"{'all':>7}  {total:7d}  {killed:6d}  {100 * killed / total:5.1f}%")
    print(f"\nkill rate: {killed}/{total} = {100 * killed / total:.1f}% of all mutants; "
          f"{killed}/{total - n_equiv} = {100 * killed / (total - n_equiv):.1f}% of the "
          f"{total - n_equiv} that are not known equivalents")
    print(f"\nequivalent mutants ({n_equiv}, examined: no input tells them apart):")
    for key, _, _, why in equivalents:
        print(f"  {key}: {why}")
    print(f"\nsurviving mutants not known to be equivalent ({len(survivors)}):")
    for key, status, diff, _ in survivors:
        print(f"  {key} ({status})")
        for line in diff:
            print(f"      {line[0]} {line[1:].strip()[:110]}")
    return killed, total, n_equiv


def main():
    """Run mutmut on the chosen sections (from a clean mutants/) and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=DEFAULT_SECTIONS)
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="of the chosen sections, run only these functions or classes")
    parser.add_argument("--keep", action="store_true",
                        help="reuse mutants/ from the last run (default: start clean)")
    parser.add_argument("--report-only", action="store_true", help="only print the last results")
    parser.add_argument("--survivors", action="store_true",
                        help="rerun only the last run's surviving mutants (after adding tests)")
    args = parser.parse_args()
    chosen = chosen_functions(set(args.sections))
    if args.only:
        chosen = {name: section for name, section in chosen.items() if name in args.only}
    classes = {n: c for n, (_, c) in sections_of(SOURCE.read_text()).items()}
    print(f"sections {', '.join(args.sections)}: {len(chosen)} functions and classes")
    print("  " + ", ".join(sorted(chosen)))
    if not args.report_only:
        names = patterns(chosen, classes)
        if args.survivors:
            names = sorted(last_survivors(chosen))
        elif MUTANTS.exists() and not args.keep:
            shutil.rmtree(MUTANTS)  # stale test-to-function stats would hide new tests
        MUTANTS.mkdir(exist_ok=True)
        start = time.time()
        code = run_mutmut(names, MUTANTS / "mutmut.log") if names else 0
        print(f"mutmut finished in {time.time() - start:.0f} s (exit {code}); "
              f"log: {MUTANTS.relative_to(ROOT)}/mutmut.log")
        if code:
            print(Path(MUTANTS / "mutmut.log").read_text(errors="replace")[-3000:])
            return code
    report(chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
