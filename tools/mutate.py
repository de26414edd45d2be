"""Mutation testing of the package's stable analysis modules (``make mutate``).

mutmut (configured in pyproject.toml, [tool.mutmut]) plants one small change at a time in the
functions of the chosen modules (an operator, a constant, an argument, a return value) and runs
the fast tests that cover the function; a mutant the tests do not notice "survives". This script
chooses the functions, runs mutmut on them from a clean state, and prints the kill rate per
module and every surviving mutant with its diff, separating the survivors we have examined and
found equivalent (no input can tell them from the original; listed in EQUIVALENT, with why).

Modules run by default (MODULES): the circular helpers and linear decoders (``circular``,
``ridge``), the RDM (``course.rdm``), tuning curves and von Mises fits (``tuning``,
``von_mises``), embeddings (``embeddings``) and ``course.training.predict``. Plotting and
text-layout functions (``plot_*``, ``format_*``) are left out: their output is looked at, not
computed on. The surrogate, the data layer, the torch trainers and decoders, RSA inference and
Part 2 are left out too, to keep the run near an hour on two cores: they change often or are
tested by slow calibration and training runs.

Usage: ``python tools/mutate.py [--modules ridge rdm ...] [--keep]`` from the repository root.
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
MUTANTS = ROOT / "mutants"
MUTMUT = Path(sys.executable).with_name("mutmut")

# module -> the names in it to mutate (None: every top-level function and class)
MODULES = {
    "v1_orientation.solution.circular": None,
    "v1_orientation.solution.ridge": None,
    "v1_orientation.course.rdm": None,
    "v1_orientation.solution.tuning": None,
    "v1_orientation.solution.von_mises": None,
    "v1_orientation.solution.embeddings": None,
    "v1_orientation.course.training": {"predict"},  # the trainers run in slow tests
}
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


def source_of(module):
    """The path of a module of the package."""
    return ROOT / (module.replace(".", "/") + ".py")


def top_level(module):
    """Each top-level function or class of a module: name -> is it a class."""
    return {node.name: isinstance(node, ast.ClassDef)
            for node in ast.parse(source_of(module).read_text()).body
            if isinstance(node, ast.FunctionDef | ast.ClassDef)}


def chosen_functions(modules):
    """(module, name) -> is it a class, for the top-level names to mutate."""
    chosen = {}
    for module in modules:
        names = MODULES.get(module)
        for name, is_class in top_level(module).items():
            if name.startswith(LAYOUT_PREFIXES) or (names is not None and name not in names):
                continue
            chosen[module, name] = is_class
    return chosen


def mutant_owner(key):
    """'pkg.mod.x_f__mutmut_3' or 'pkg.mod.xǁCǁm__mutmut_3' -> ('pkg.mod', 'f' or 'C')."""
    module, body = re.match(r"(.*?)\.(xǁ.*|x_.*)$", key).groups()
    body = body.rsplit("__mutmut_", 1)[0]
    return module, body.split("ǁ")[1] if body.startswith("xǁ") else body[2:]


def patterns(chosen):
    """The mutmut name patterns of the chosen functions (a class: all its methods)."""
    return [f"{m}.xǁ{n}ǁ*" if is_class else f"{m}.x_{n}__mutmut_*"
            for (m, n), is_class in sorted(chosen.items())]


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


def mutant_sources(modules):
    """Source of every function in the mutated copies of the modules, by qualified name."""
    sources = {}
    for module in modules:
        lines = (MUTANTS / source_of(module).relative_to(ROOT)).read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.FunctionDef) and "__mutmut_" in node.name:
                sources[f"{module}.{node.name}"] = lines[node.lineno - 1:node.end_lineno]
    return sources


def exit_codes(modules):
    """Mutmut's exit code of every mutant of the modules (from its .meta files)."""
    codes = {}
    for module in modules:
        meta = MUTANTS / (str(source_of(module).relative_to(ROOT)) + ".meta")
        if meta.exists():
            codes |= json.loads(meta.read_text())["exit_code_by_key"]
    return codes


def diff_of(key, sources):
    """The lines a mutant changes: '-' original, '+' mutated (difflib, no context)."""
    module, _ = mutant_owner(key)
    name = key[len(module) + 1:]
    orig_name = name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
    original = sources[f"{module}.{orig_name}"]
    mutated = [line.replace(name + "(", orig_name + "(") for line in sources[key]]
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
    modules = {m for m, _ in chosen}
    return [k for k, v in exit_codes(modules).items()
            if mutant_owner(k) in chosen and STATUS.get(v) == "survived"]


def report(chosen):
    """Print the kill rate per module, the equivalent mutants and the other survivors."""
    modules = sorted({m for m, _ in chosen})
    results = {k: STATUS.get(v, f"exit {v}") for k, v in exit_codes(modules).items()
               if mutant_owner(k) in chosen}
    by_module = Counter()
    killed_by_module = Counter()
    survivors, equivalents = [], []
    sources = mutant_sources(modules)
    for key, status in sorted(results.items()):
        module, owner = mutant_owner(key)
        by_module[module] += 1
        if status in ("killed", "timeout"):
            killed_by_module[module] += 1
            continue
        diff = diff_of(key, sources)
        why = equivalent_reason(owner, diff) if status == "survived" else None
        (equivalents if why else survivors).append((key, status, diff, why))
    width = max(len(m) for m in modules)
    print(f"\n{'module':<{width}}  mutants  killed   rate")
    for module in modules:
        n, k = by_module[module], killed_by_module[module]
        print(f"{module:<{width}}  {n:7d}  {k:6d}  {100 * k / max(n, 1):5.1f}%")
    total, killed = sum(by_module.values()), sum(killed_by_module.values())
    n_equiv = len(equivalents)
    print(f"{'all':<{width}}  {total:7d}  {killed:6d}  {100 * killed / total:5.1f}%")
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
    """Run mutmut on the chosen modules (from a clean mutants/) and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", default=list(MODULES), metavar="MODULE",
                        help="modules to mutate, by dotted name or last part (default: MODULES)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="of the chosen modules, run only these functions or classes")
    parser.add_argument("--keep", action="store_true",
                        help="reuse mutants/ from the last run (default: start clean)")
    parser.add_argument("--report-only", action="store_true", help="only print the last results")
    parser.add_argument("--survivors", action="store_true",
                        help="rerun only the last run's surviving mutants (after adding tests)")
    args = parser.parse_args()
    known = [m for m in MODULES] + [f"v1_orientation.{layer}.{p.stem}"
                                    for layer in ("course", "solution")
                                    for p in (ROOT / "v1_orientation" / layer).glob("[!_]*.py")]
    modules = [next((k for k in known if k == m or k.endswith("." + m)), m) for m in args.modules]
    chosen = chosen_functions(dict.fromkeys(modules))
    if args.only:
        chosen = {key: c for key, c in chosen.items() if key[1] in args.only}
    print(f"{len(modules)} modules: {len(chosen)} functions and classes")
    print("  " + ", ".join(f"{m.rsplit('.', 1)[1]}.{n}" for m, n in sorted(chosen)))
    if not args.report_only:
        names = patterns(chosen)
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
