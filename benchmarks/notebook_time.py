"""Time ``make run``: execute the notebook as it does and print where the time goes.

Runs ``tools/run_notebook.py`` (papermill, then the HTML report) into a temporary folder
``--repeats`` times, and prints the wall time of each run, the time of each part of the
assignment (summed over its code cells, from papermill's per-cell durations) and the slowest
cells. The target is at most 60 s on the 2-core development machine, on the surrogate, offline.

Usage: python benchmarks/notebook_time.py [--repeats 1] [-p NAME VALUE ...]
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "assignment_3.ipynb"
PART = re.compile(r"^#{1,4} *(?:\*\*)?(\d[a-e]?\.?|Bonus|Project|Summary|References)", re.M)


def part_of_each_cell(cells):
    """The heading (1a, 1b, Bonus, Project, ...) under which each cell lies; 'setup' first."""
    part, parts = "setup", []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            found = PART.findall("".join(cell["source"]))
            if found:
                part = {"Project": "2"}.get(found[0], found[0].rstrip("."))
        parts.append(part)
    return parts


def execute(parameters):
    """Execute the notebook as make run does; (wall seconds, the executed notebook)."""
    with tempfile.TemporaryDirectory() as out:
        argv = [sys.executable, str(ROOT / "tools" / "run_notebook.py"), str(NOTEBOOK), out]
        for name, value in parameters:
            argv += ["-p", name, value]
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        return seconds, json.loads((Path(out) / NOTEBOOK.name).read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("-p", "--parameters", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"))
    args = parser.parse_args()
    runs = [execute(args.parameters) for _ in range(args.repeats)]
    print("run  wall (s)  cells (s)")
    for k, (seconds, nb) in enumerate(runs, start=1):
        cells = sum(c["metadata"].get("papermill", {}).get("duration") or 0 for c in nb["cells"])
        print(f"{k:3d}  {seconds:8.1f}  {cells:9.1f}")
    seconds, nb = min(runs, key=lambda r: r[0])
    durations = [c["metadata"].get("papermill", {}).get("duration") or 0 for c in nb["cells"]]
    totals = {}
    for part, d in zip(part_of_each_cell(nb["cells"]), durations, strict=True):
        totals[part] = totals.get(part, 0.0) + d
    print(f"\nfastest run, by part of the assignment (wall {seconds:.1f} s, including the kernel's "
          "start and the HTML report)")
    print("part        seconds")
    for part, total in totals.items():
        print(f"{part:<10}  {total:7.1f}")
    code = [(d, c) for d, c in zip(durations, nb["cells"], strict=True) if c["cell_type"] == "code"]
    print("\nslowest cells")
    for d, c in sorted(code, key=lambda x: -x[0])[:5]:
        first = ("".join(c["source"]).strip().splitlines() or [""])[0][:70]
        print(f"{d:6.1f} s  {first}")


if __name__ == "__main__":
    main()
