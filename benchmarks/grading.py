"""Time ``make grade``: per submission, against the solution's own ``make run`` time.

Builds the release into a temporary folder, times one execution of the solution notebook as
``make run`` does (``tools/run_notebook.py``), then grades a folder of ``--copies`` copies of the
solution and as many of the blank student notebook with the default settings (2 jobs, the
default time limit), and prints the time per submission (the folder's wall time divided by the
number of submissions, and each submission's own time). The goal: at most the ``make run`` time
plus 15 s per submission, and a class of 50 within an hour on the 2-core machine.

Usage: python benchmarks/grading.py [--copies 2] [--jobs 2]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import grade

import release


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dist = release.release("http://127.0.0.1:9/course/", tmp / "dist")
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "tools" / "run_notebook.py"),
                        str(ROOT / "assignment_3.ipynb"), str(tmp / "run")], cwd=ROOT,
                       check=True, capture_output=True)
        run_seconds = time.perf_counter() - start
        print(f"make run (the solution, executed and reported): {run_seconds:.1f} s\n")
        print(f"{'submissions':<28} {'n':>3} {'wall (s)':>9} {'per submission (s)':>19} "
              f"{'each, median (s)':>17} {'goal (s)':>9}")
        for kind, source in (("copies of the solution", dist / "autograder" / NOTEBOOK),
                             ("blank student notebooks", dist / "student" / NOTEBOOK)):
            folder = tmp / kind.replace(" ", "_")
            folder.mkdir()
            for k in range(args.copies):
                shutil.copy2(source, folder / f"copy{k}.ipynb")
            start = time.perf_counter()
            rows = grade.grade_folder(folder, dist, tmp / f"grades_{folder.name}", args.jobs,
                                      data_source="surrogate")
            wall = time.perf_counter() - start
            each = sorted(r["seconds"] for r in rows)
            print(f"{kind:<28} {len(rows):>3} {wall:>9.1f} {wall / len(rows):>19.1f} "
                  f"{each[len(each) // 2]:>17.1f} {run_seconds + 15:>9.1f}")
            if kind.startswith("copies"):
                class_minutes = 50 * wall / len(rows) / 60
                print(f"  a class of 50 such submissions: about {class_minutes:.0f} minutes "
                      f"with {args.jobs} jobs (goal: 60)")


NOTEBOOK = "assignment_3.ipynb"

if __name__ == "__main__":
    main()
