"""Grade a folder of submissions against the last release's autograder (``make grade``).

For every ``*.ipynb`` in SUBMISSIONS, in separate processes (``--jobs`` at a time), each in a
temporary folder of its own and with a time limit (``--timeout``), otter re-executes the notebook
and runs every check, hidden ones included (``otter.api.grade_submission``: no Docker). The data
file is fetched once, before any submission runs, into a folder the submissions read. Under
``build/grades/`` it writes:

    grades.csv          a row per submission: each checked question's points, the total, the
                        percentage, the status and, when something went wrong, the reason
    leaderboard.md/.csv the 1b bonus: submissions ranked by the test MSE the hidden check
                        recomputed from their predictions
    marking/<name>.html the answers a person grades (written interpretations, figures), question
                        by question, with their points
    <name>/             the executed notebook and otter's results of each submission

A submission that is not a notebook, is another assignment's, raises, or runs past its limit
gets a row that says so; the others are graded all the same. Each finished submission's row is
written last, so a re-run after an interruption grades only what has no row yet (or changed).
Submissions run as the grader's user: see docs/grading.md on what that does not isolate.

Usage: python tools/grade.py SUBMISSIONS [--release dist] [--out build/grades] [--jobs 2]
       [--timeout 600] [--data-source auto]
"""

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]
NOTEBOOK_SUFFIX = ".ipynb"
ROW_FILE = "row.json"
BEGIN, END = "<!-- BEGIN QUESTION -->", "<!-- END QUESTION -->"


class GradingError(RuntimeError):
    """The grading cannot start (no release, no submissions folder)."""


def digest(path):
    """md5 of a file: a changed submission is graded again."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def admission(path, assignment):
    """Why a submission cannot be graded, or None: unreadable, not a notebook, another's."""
    raw = Path(path).read_bytes()
    if not raw.strip():
        return "invalid", "the file is empty"
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as err:  # nbformat raises JSON, validation and decoding errors alike
        return "invalid", f"not a Jupyter notebook ({type(err).__name__}: {str(err)[:120]})"
    name = nb.metadata.get("otter", {}).get("assignment_name")
    if name != assignment:
        return "wrong assignment", (f"the notebook is for {name!r}, not {assignment!r}" if name
                                    else "the notebook has no otter assignment name: it was "
                                    "not made from this assignment's student notebook")
    return None


def fetch_shared_data(data_dir, source):
    """Fetch (or simulate) the data once, for every submission; return its source."""
    from v1_orientation.course.download import fetch_data

    with contextlib.redirect_stdout(io.StringIO()):  # its banner: one line is enough here
        data = fetch_data(source, data_dir=data_dir)
    print(f"data for every submission: {data.description}")
    return data.source


def run_one(submission, autograder, out_dir, timeout, data_dir, data_source):
    """Grade one submission in a fresh process in its own folder; the outcome as a dict."""
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="grade-"))
    try:
        shutil.copy2(submission, work / submission.name)
        env = {**os.environ, "TMPDIR": str(work), "CCN_DATA_DIR": str(data_dir),
               "CCN_DATA_SOURCE": data_source, "CCN_LEADERBOARD_FILE": str(out_dir /
                                                                           "leaderboard.json"),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--one",
                                 str(work / submission.name), "--autograder", str(autograder),
                                 "--out", str(out_dir)], cwd=work, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the kernel too: it is in the same session
            proc.communicate()
            return {"status": "timeout", "reason": f"killed after its time limit of {timeout} s",
                    "seconds": round(time.perf_counter() - start, 1)}
        seconds = round(time.perf_counter() - start, 1)
        (out_dir / "grading.log").write_bytes(log or b"")
        results = out_dir / "results.json"
        if proc.returncode or not results.exists():
            tail = (log or b"").decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            return {"status": "error", "reason": f"grading failed: {tail[0][:200]}",
                    "seconds": seconds}
        outcome = json.loads(results.read_text())
        outcome["seconds"] = seconds
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)


def grade_in_this_process(submission, autograder, out_dir):
    """The child's work: otter grades the submission; results and executed notebook written."""
    from otter.api import grade_submission

    results = grade_submission(str(submission), str(autograder), quiet=True)
    leaderboard = out_dir / "leaderboard.json"
    if "q1b_bonus" in results.test_files and not results.get_result("q1b_bonus").passed_all:
        leaderboard.unlink(missing_ok=True)  # only the hidden check's own record counts
    scores = {name: results.get_score(name) for name in results.test_files}
    possible = {name: results.get_result(name).possible for name in results.test_files}
    errors = []
    if results.notebook is not None:
        nbformat.write(results.notebook, out_dir / "executed.ipynb")
        errors = [f"{o.ename} in cell {k}" for k, c in enumerate(results.notebook.cells)
                  if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
    outcome = {"status": "graded", "reason": ("a cell raised: " + "; ".join(errors[:3])
                                              if errors else ""),
               "scores": scores, "possible": possible, "report": results.to_report_str()}
    (out_dir / "results.json").write_text(json.dumps(outcome, indent=1))


def manual_regions(nb):
    """The cells of each manually graded question, in order, by otter's question markers."""
    regions, current = [], None
    for cell in nb.cells:
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "markdown" and source.startswith(END) and current is not None:
            regions.append(current)
            current = None
        if cell.cell_type == "markdown" and BEGIN in source:
            current = []
        if current is not None:
            current.append(cell)
    return regions


def marking_sheet(name, nb, info, row, path):
    """One HTML page: the submission's manually graded answers, question by question."""
    from run_notebook import write_report

    manual = info["manual"]
    regions = manual_regions(nb)
    status = row["status"] + (f"; {row['reason']}" if row["reason"] else "")
    cells = [nbformat.v4.new_markdown_cell(
        f"# Marking sheet: {name}\n\nAutograded: {row.get('total', '-')} / "
        f"{row.get('possible', '-')} ({status}). Below, each question a person grades, with "
        "the student's answer cells.")]
    if len(regions) != len(manual):
        cells.append(nbformat.v4.new_markdown_cell(
            f"**The notebook's question markers do not match the release ({len(regions)} found, "
            f"{len(manual)} expected): the whole notebook follows.**"))
        regions, manual = [nb.cells], ["whole notebook"]
    for question, region in zip(manual, regions, strict=True):
        points = info["points"].get(question, "")
        cells.append(nbformat.v4.new_markdown_cell(
            f"---\n## {question} ({points} points)\n\nPoints given: ____"))
        cells += [nbformat.from_dict(dict(c)) for c in region]
    sheet = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    write_report(sheet, path)


def grade_one_submission(submission, release, out, timeout, data_dir, data_source):
    """The row of one submission (graded now, or the stored one if it is still current)."""
    folder = out / submission.stem
    stored = folder / ROW_FILE
    md5 = digest(submission)
    if stored.exists():
        row = json.loads(stored.read_text())
        if row.get("md5") == md5:
            return row
    if folder.exists():
        shutil.rmtree(folder)
    info = json.loads((release / "release.json").read_text())
    checks = info["checks"]
    refused = admission(submission, json.loads(
        (release / "autograder" / "otter_config.json").read_text())["assignment_name"])
    if refused:
        outcome = {"status": refused[0], "reason": refused[1]}
    else:
        outcome = run_one(submission, release / "autograder" / "assignment_3-autograder.zip",
                          folder, timeout, data_dir, data_source)
    scores = outcome.get("scores", {})
    row = {"submission": submission.name, "md5": md5, "status": outcome["status"],
           "reason": outcome.get("reason", ""), "seconds": outcome.get("seconds", "")}
    for q in checks:
        row[q] = scores.get(q, 0)
    row["total"] = sum(row[q] for q in checks)
    row["possible"] = sum(info["points"][q] for q in checks)
    row["percentage"] = round(100 * row["total"] / row["possible"], 1) if row["possible"] else 0
    leaderboard = folder / "leaderboard.json"
    row["bonus_test_mse"] = (json.loads(leaderboard.read_text())["test_mse"]
                             if leaderboard.exists() else "")
    folder.mkdir(parents=True, exist_ok=True)
    executed = folder / "executed.ipynb"
    if not refused:  # a notebook of this assignment: its answers, laid out for marking
        (out / "marking").mkdir(exist_ok=True)
        try:
            source = executed if executed.exists() else submission
            marking_sheet(submission.stem, nbformat.read(source, as_version=4), info, row,
                          out / "marking" / f"{submission.stem}.html")
        except Exception as err:  # a notebook too broken to lay out still gets its row
            row["reason"] = (row["reason"] + "; " if row["reason"] else "") + \
                f"no marking sheet ({type(err).__name__})"
    tmp = stored.with_suffix(".part")
    tmp.write_text(json.dumps(row, indent=1))
    os.replace(tmp, stored)  # last: a row exists only for a finished submission
    return row


def write_tables(rows, checks, out):
    """grades.csv, and the bonus leaderboard as CSV and Markdown."""
    columns = ["submission", "status", "reason", *checks, "total", "possible", "percentage",
               "bonus_test_mse", "seconds"]
    with open(out / "grades.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    ranked = sorted((r for r in rows if r["bonus_test_mse"] != ""),
                    key=lambda r: r["bonus_test_mse"])
    with open(out / "leaderboard.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "submission", "test MSE (deg^2)"])
        writer.writerows([k, r["submission"], r["bonus_test_mse"]]
                         for k, r in enumerate(ranked, start=1))
    lines = ["# 1b bonus leaderboard", "",
             "Test MSE (deg^2) on the class split's test stimuli, recomputed by the hidden check "
             "from each submission's `bonus_test_predictions`, lowest first (+5 points for the "
             "first).", "",
             "This table cannot tell whether a student chose their decoder by looking at the "
             "test set: a choice made on the test stimuli makes their MSE an optimistic "
             "estimate. Read each top entry's notebook: the solution's way, choosing inside the "
             "training set by cross-validation and using the test set once, is the model.", "",
             "| rank | submission | test MSE (deg^2) |", "| --- | --- | --- |"]
    lines += [f"| {k} | {r['submission']} | {r['bonus_test_mse']:.4g} |"
              for k, r in enumerate(ranked, start=1)]
    (out / "leaderboard.md").write_text("\n".join(lines) + "\n")


def grade_folder(submissions, release, out, jobs=2, timeout=600, data_source="auto"):
    """Grade every notebook in ``submissions``; return the rows."""
    submissions, release, out = Path(submissions), Path(release), Path(out)
    if not (release / "autograder" / "assignment_3-autograder.zip").exists():
        raise GradingError(f"no autograder in {release}: run `make release` first")
    if not submissions.is_dir():
        raise GradingError(f"{submissions} is not a folder of submissions")
    files = sorted(p for p in submissions.iterdir() if p.suffix == NOTEBOOK_SUFFIX)
    if not files:
        raise GradingError(f"no .ipynb file in {submissions}")
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        raise GradingError("two submissions share a name")
    out.mkdir(parents=True, exist_ok=True)
    data_dir = out / "data"
    found = fetch_shared_data(data_dir, data_source)
    for path in [data_dir, *data_dir.iterdir()]:  # the submissions read it, none writes it
        path.chmod(0o555 if path.is_dir() else 0o444)
    with ThreadPoolExecutor(max(1, int(jobs))) as pool:
        rows = list(pool.map(lambda p: grade_one_submission(p, release, out, timeout,
                                                            data_dir, found), files))
    checks = json.loads((release / "release.json").read_text())["checks"]
    write_tables(rows, checks, out)
    return rows


def main(argv=None):
    """Parse the command line; grade the folder (or, with --one, one submission, as a child)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", nargs="?")
    parser.add_argument("--release", default=str(ROOT / "dist"))
    parser.add_argument("--out", default=str(ROOT / "build" / "grades"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--data-source", default="auto", choices=["auto", "real", "surrogate"])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--autograder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        grade_in_this_process(Path(args.one), Path(args.autograder), Path(args.out))
        return 0
    if not args.submissions:
        parser.error("name the folder of submissions")
    try:
        rows = grade_folder(args.submissions, args.release, args.out, args.jobs, args.timeout,
                            args.data_source)
    except GradingError as err:
        print(f"grading stopped: {err}", file=sys.stderr)
        return 2
    graded = sum(r["status"] == "graded" for r in rows)
    print(f"{len(rows)} submissions, {graded} graded; {args.out}/grades.csv, leaderboard.md, "
          "marking/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
