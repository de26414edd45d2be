"""Compare the printed numbers of two executions of the notebook, cell by cell.

A refactoring must not change what the notebook finds. This compares, code cell by code cell
(setup, parameter and import cells aside), the numbers in what each cell printed (stdout and
the plain-text form of its results) and the values of its result tables, and lists every cell
where they differ. Text around the numbers may change (a table's layout, say); the numbers,
in order, may not. Figures are compared by count only.

Usage:
    python tools/compare_outputs.py OLD.ipynb NEW.ipynb
    python tools/compare_outputs.py --rev REV NEW.ipynb   # OLD: the notebook committed at REV

Exit status 0 when every compared cell prints the same numbers, 1 otherwise.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

# A number as printed: sign, digits, decimals, exponent, thousands separators, percent.
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?%?")
TABLE_MIMETYPE = "application/vnd.dataresource+json"
IMAGE_PREFIX = "image/"


def is_setup_cell(cell):
    """Whether a code cell sets up the run (Colab setup, parameters, imports): not compared."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    source = "".join(cell.get("source", ""))
    return bool(tags & {"parameters", "injected-parameters"}) or "IN_COLAB" in source \
        or "from ccn_helpers import" in source


def printed(cell):
    """What a code cell showed: (numbers in its text, its table values, its figure count)."""
    text, tables, figures = [], [], 0
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            if output.get("name") == "stdout":  # stderr holds progress bars and timings
                text.append("".join(output.get("text", "")))
            continue
        data = output.get("data", {})
        if TABLE_MIMETYPE in data:
            tables.append(data[TABLE_MIMETYPE])
        elif "text/plain" in data and not any(k.startswith(IMAGE_PREFIX) for k in data):
            text.append("".join(data["text/plain"]))
        figures += any(k.startswith(IMAGE_PREFIX) for k in data)
    return NUMBER.findall("\n".join(text)), tables, figures


def analysis_cells(notebook):
    """The notebook's analysis code cells, in order."""
    return [c for c in notebook["cells"] if c["cell_type"] == "code" and not is_setup_cell(c)]


def first_line(cell):
    """The cell's first line of source, to name it in the report."""
    return ("".join(cell.get("source", "")).strip().splitlines() or [""])[0][:70]


def differences(old, new):
    """One line per analysis cell whose printed numbers, tables or figure count differ."""
    old_cells, new_cells = analysis_cells(old), analysis_cells(new)
    if len(old_cells) != len(new_cells):
        return [f"{len(old_cells)} analysis cells before, {len(new_cells)} after: the cells "
                "no longer correspond one to one"]
    lines = []
    for k, (a, b) in enumerate(zip(old_cells, new_cells, strict=True), start=1):
        (na, ta, fa), (nb, tb, fb) = printed(a), printed(b)
        what = []
        if na != nb:
            first = next((i for i, (x, y) in enumerate(zip(na, nb, strict=False)) if x != y),
                         min(len(na), len(nb)))
            what.append(f"numbers differ from the {first + 1}th on ({na[first:first + 3]} vs "
                        f"{nb[first:first + 3]}; {len(na)} vs {len(nb)} numbers)")
        if ta != tb:
            what.append(f"table values differ ({len(ta)} vs {len(tb)} tables)")
        if fa != fb:
            what.append(f"{fa} vs {fb} figures")
        if what:
            lines.append(f"analysis cell {k} ({first_line(b)!r}): " + "; ".join(what))
    return lines


def load(path=None, rev=None, name="assignment_3.ipynb"):
    """A notebook from a file, or as committed at a git revision."""
    if rev is not None:
        text = subprocess.run(["git", "show", f"{rev}:{name}"], check=True, capture_output=True,
                              text=True).stdout
        return json.loads(text)
    return json.loads(Path(path).read_text(encoding="utf-8"))


def main(argv=None):
    """Compare two notebooks; print the differences; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", help="OLD NEW, or NEW with --rev")
    parser.add_argument("--rev", help="take OLD as committed at this git revision")
    args = parser.parse_args(argv)
    if len(args.notebooks) != (1 if args.rev else 2):
        parser.error("give OLD and NEW, or --rev REV and NEW")
    old = load(rev=args.rev) if args.rev else load(args.notebooks[0])
    new = load(args.notebooks[-1])
    lines = differences(old, new)
    n = len(analysis_cells(new))
    for line in lines:
        print(line)
    print(f"{n - len(lines)} of {n} analysis cells print the same numbers"
          + ("" if lines else ": no difference"))
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
