"""``make grade`` (tools/grade.py) on a small class that the tests build.

The solution, the blank student notebook, one answer wrong, a cell that raises, a notebook that
deletes the files of its folder and writes outside it, a file that is not JSON, an empty one and
another assignment's notebook are graded together; a notebook that never ends, apart, with a
short time limit. Each gets its row; none touches another's.
"""

import csv
import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from test_release import ANSWERS, WRONG, answered, student_notebook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import grade  # noqa: E402

FULL = {"q1a": 2, "q1b": 3, "q1b_bonus": 0, "q1c": 2, "q1d": 4}


def with_cell(nb, source, before_check="q1c"):
    """The notebook with a code cell added just before a question's check."""
    k = next(i for i, c in enumerate(nb.cells) if c.source == f'grader.check("{before_check}")')
    nb.cells.insert(k, nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def graded_class(release_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    shutil.copy2(release_dir / "autograder" / "assignment_3.ipynb", folder / "solution.ipynb")
    right, wrong = WRONG["q1b"]
    notebooks = {
        "blank": student_notebook(release_dir),
        "wrong_q1b": answered(release_dir, {**ANSWERS, "q1b": ANSWERS["q1b"].replace(right,
                                                                                     wrong)}),
        "raises": with_cell(answered(release_dir, ANSWERS), "1 / 0"),
        "vandal": with_cell(answered(release_dir, ANSWERS), (
            "import os\nfor f in os.listdir('.'):\n    if os.path.isfile(f):\n"
            "        os.remove(f)\nopen(os.path.join('..', 'outside.txt'), 'w').write('x')")),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    other = student_notebook(release_dir)
    other.metadata["otter"]["assignment_name"] = "assignment_2"
    nbformat.write(other, folder / "other_assignment.ipynb")
    (folder / "not_json.ipynb").write_text("{this is not json")
    (folder / "empty.ipynb").write_text("")
    out = tmp_path_factory.mktemp("grades")
    rows = grade.grade_folder(folder, release_dir, out, jobs=2, timeout=400,
                              data_source="surrogate")
    return folder, out, {Path(r["submission"]).stem: r for r in rows}


def test_every_submission_has_a_row_with_its_status(graded_class):
    _, out, rows = graded_class
    statuses = {name: r["status"] for name, r in rows.items()}
    assert statuses == {"solution": "graded", "blank": "graded", "wrong_q1b": "graded",
                        "raises": "graded", "vandal": "graded", "other_assignment":
                        "wrong assignment", "not_json": "invalid", "empty": "invalid"}
    with open(out / "grades.csv") as f:
        table = {Path(r["submission"]).stem: r for r in csv.DictReader(f)}
    assert set(table) == set(rows) and table["solution"]["percentage"] == "100.0"
    assert "assignment_2" in rows["other_assignment"]["reason"]
    assert "not a Jupyter notebook" in rows["not_json"]["reason"]
    assert "empty" in rows["empty"]["reason"]


def test_scores_full_zero_and_only_the_wrong_question_docked(graded_class):
    _, _, rows = graded_class
    assert {q: rows["solution"][q] for q in FULL} == FULL and rows["solution"]["total"] == 11
    assert {q: rows["blank"][q] for q in FULL} == {q: 0 for q in FULL}
    assert {q: rows["wrong_q1b"][q] for q in FULL} == {**FULL, "q1b": 2}
    # a cell that raises is recorded; every check still runs
    assert "ZeroDivisionError" in rows["raises"]["reason"]
    assert {q: rows["raises"][q] for q in FULL} == FULL
    # deleting its folder's files and writing outside it costs the vandal alone
    assert {q: rows["vandal"][q] for q in FULL} == FULL


def test_outputs_per_submission_and_marking_sheets(graded_class):
    _, out, rows = graded_class
    for name in ("solution", "blank", "wrong_q1b", "raises", "vandal"):
        assert (out / name / "executed.ipynb").is_file()
        assert json.loads((out / name / "results.json").read_text())["status"] == "graded"
        sheet = (out / "marking" / f"{name}.html").read_text()
        for question in ("q1a_plots", "q1d_interpret", "q1e", "q2", "presentation"):
            assert f"{question} (" in sheet, (name, question)
    assert not (out / "marking" / "not_json.html").exists()
    solution_sheet = (out / "marking" / "solution.html").read_text()
    assert "<img" in solution_sheet and "<math" in solution_sheet  # figures, and math offline


def test_the_leaderboard_ranks_the_recomputed_test_mse(graded_class):
    _, out, rows = graded_class
    with open(out / "leaderboard.csv") as f:
        board = list(csv.DictReader(f))
    mses = [float(r["test MSE (deg^2)"]) for r in board]
    assert mses == sorted(mses) and board[0]["submission"] == "solution.ipynb"
    assert {r["submission"] for r in board} == {"solution.ipynb", "wrong_q1b.ipynb",
                                               "raises.ipynb", "vandal.ipynb"}
    assert rows["blank"]["bonus_test_mse"] == ""
    assert "cannot tell whether a student chose" in (out / "leaderboard.md").read_text()


def test_a_re_run_grades_only_what_has_no_row_or_changed(graded_class, release_dir):
    folder, out, rows = graded_class
    (out / "blank" / "row.json").unlink()  # as if interrupted before the blank one finished
    again = {Path(r["submission"]).stem: r for r in
             grade.grade_folder(folder, release_dir, out, jobs=2, timeout=400,
                                data_source="surrogate")}
    for name, row in rows.items():
        if name != "blank":
            assert again[name] == row, name  # the stored row, unchanged
    assert again["blank"]["status"] == "graded" and again["blank"]["seconds"] != ""


def test_a_notebook_that_never_ends_is_killed_at_its_limit(release_dir, tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    nbformat.write(with_cell(student_notebook(release_dir), "while True:\n    pass", "q1a"),
                   folder / "endless.ipynb")
    (row,) = grade.grade_folder(folder, release_dir, tmp_path / "grades", jobs=1, timeout=20,
                                data_source="surrogate")
    assert row["status"] == "timeout" and "20" in row["reason"] and row["total"] == 0
    assert 20 <= row["seconds"] < 40


def test_grading_refuses_a_missing_release_or_folder(tmp_path, release_dir):
    with pytest.raises(grade.GradingError, match="make release"):
        grade.grade_folder(tmp_path, tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(grade.GradingError, match="no .ipynb"):
        grade.grade_folder(tmp_path, release_dir, tmp_path / "out")
