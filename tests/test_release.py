"""The course release (``make release``): what students get, and how it grades.

The release is built once per session (conftest's ``release_dir``). The student notebook runs
in a fresh kernel with the course's wheel alone on the path (no solution library); submissions
are graded by ``otter run`` with the release's autograder zip, as ``make grade`` does.
"""

import ast
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["q1a", "q1b", "q1b_bonus", "q1c", "q1d"]

# A short, correct answer to each checked question, as a student might write it.
ANSWERS = {
    "q1a": "resp, ori = load_data(fname)\nresp_full, stim_full = load_recording(fname)",
    "q1b": (
        "resp_train, stimuli_train, resp_test, stimuli_test = split_train_test(resp, ori)\n"
        "torch.manual_seed(1)\ndecoder = DeepNetReLU(resp.shape[1], 10)\n"
        "torch.manual_seed(1)\nuntrained = DeepNetReLU(resp.shape[1], 10)\n"
        "train_decoder(decoder, nn.MSELoss(), resp_train, stimuli_train, quiet=True)\n"
        "def mse(net, x, y):\n    return float(((predict(net, x) - y.numpy()) ** 2).mean())\n"
        "test_mse = mse(decoder, resp_test, stimuli_test)\n"
        "test_mse_untrained = mse(untrained, resp_test, stimuli_test)"),
    "q1b_bonus": "bonus_test_predictions = predict(decoder, resp_test)[:, 0]",
    "q1c": ("tilt = np.random.default_rng(0).uniform(-90, 90, 300)\n"
            "right = (predict(net, gratings(tilt))[:, 0] > 0.5) == (tilt > 0)\n"
            "cnn_accuracy = float(np.mean(right))"),
    "q1d": ("rdm_dict = {label: RDM(r) for label, r in resp_dict.items()}\n"
            "v1 = rdm_dict['V1 data']\nupper = np.triu_indices_from(v1, k=1)\n"
            "rdm_correlations = {k: float(np.corrcoef(v1[upper], "
            "rdm_dict[f\"model\\n'{k}' layer\"][upper])[0, 1]) for k in ('pool', 'fc')}\n"
            "more_v1_like = max(rdm_correlations, key=rdm_correlations.get)"),
}
# One answer wrong at a time: the test MSE on the training stimuli; the RDM correlation with
# the diagonal included.
WRONG = {
    "q1b": ("test_mse = mse(decoder, resp_test, stimuli_test)",
            "test_mse = mse(decoder, resp_train, stimuli_train)"),
    "q1d": ("upper = np.triu_indices_from(v1, k=1)", "upper = np.triu_indices_from(v1, k=0)"),
}


def student_notebook(release_dir):
    return nbformat.read(release_dir / "student" / "assignment_3.ipynb", as_version=4)


def answered(release_dir, answers):
    """The student notebook with the scaffold cell of each question in ``answers`` filled in."""
    nb = student_notebook(release_dir)
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "The names the checks look for" in cell.source:
            question = next(ast.literal_eval(c.source.split("(", 1)[1].rstrip(")"))
                            for c in nb.cells[k + 1:] if c.source.startswith("grader.check("))
            if question in answers:
                cell.source = answers[question]
    return nb


def execute(nb, folder, env_path):
    """Run a notebook in ``folder`` (with the release's tests/) in a fresh kernel."""
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(folder)}})
    client.execute(env={**os.environ, **env_path, "CCN_DATA_SOURCE": "surrogate"})
    return nb


def check_outputs(nb):
    """What each grader.check cell printed, by question."""
    out = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("grader.check("):
            question = ast.literal_eval(cell.source.split("(", 1)[1].rstrip(")"))
            out[question] = "".join(o.get("data", {}).get("text/plain", o.get("text", ""))
                                    for o in cell.outputs)
    return out


def grade(release_dir, notebook_path, env_path, tmp):
    """Grade one submission with otter run and the release's autograder zip: name -> score."""
    out = tmp / (notebook_path.stem + "-results")
    out.mkdir()
    subprocess.run([sys.executable, "-m", "otter", "run", "-a",
                    str(release_dir / "autograder" / "assignment_3-autograder.zip"),
                    "-o", str(out), str(notebook_path)], check=True, capture_output=True,
                   env={**os.environ, **env_path, "CCN_DATA_SOURCE": "surrogate"})
    tests = json.loads((out / "results.json").read_text())["tests"]
    return {t["name"]: t["score"] for t in tests if "score" in t}


@pytest.fixture(scope="module")
def executed(release_dir, course_env, tmp_path_factory):
    """The blank and the answered student notebooks, executed in the student's folder."""
    runs = {}
    for name, nb in (("blank", student_notebook(release_dir)),
                     ("answered", answered(release_dir, ANSWERS))):
        folder = tmp_path_factory.mktemp(name)
        (folder / "tests").symlink_to(release_dir / "student" / "tests")
        runs[name] = execute(nb, folder, course_env)
    return runs


@pytest.fixture(scope="module")
def graded(release_dir, course_env, tmp_path_factory):
    """Scores of the blank, the answered and the two wrong submissions (two at a time)."""
    tmp = tmp_path_factory.mktemp("graded")
    submissions = {"blank": student_notebook(release_dir),
                   "answered": answered(release_dir, ANSWERS)}
    for question, (right, wrong) in WRONG.items():
        submissions[f"wrong-{question}"] = answered(
            release_dir, {**ANSWERS, question: ANSWERS[question].replace(right, wrong)})
    paths = {}
    for name, nb in submissions.items():
        paths[name] = tmp / f"{name}.ipynb"
        nbformat.write(nb, paths[name])
    with ThreadPoolExecutor(2) as pool:
        scores = dict(zip(paths, pool.map(lambda p: grade(release_dir, p, course_env, tmp),
                                          paths.values()), strict=True))
    return scores


def test_the_release_has_each_audiences_files(release_dir):
    info = json.loads((release_dir / "release.json").read_text())
    assert (release_dir / "student" / info["course_wheel"]).is_file()
    assert info["course_wheel"].endswith("+course-py3-none-any.whl")
    assert sorted(p.stem for p in (release_dir / "student" / "tests").glob("*.py")) == \
        sorted(CHECKED) == sorted(info["checks"])
    assert (release_dir / "autograder" / "assignment_3-autograder.zip").is_file()
    assert (release_dir / "solution" / info["full_wheel"]).is_file()
    solution = (release_dir / "solution" / "assignment_3.ipynb").read_text()
    assert info["base_url"] + "solution/" in solution
    # the seed's points: Part 1 30, Part 2 60, presentation 10; the bonus and e2 on top
    points = info["points"]
    extra = {"q1b_bonus_discussion", "q1e2"}
    part1 = sum(p for q, p in points.items() if q.startswith("q1") and q not in extra)
    assert (part1, points["q2"], points["presentation"]) == (30, 60, 10)
    assert {q: points[q] for q in extra} == {"q1b_bonus_discussion": 1, "q1e2": 2}


def test_the_student_notebook_is_the_seeds_assignment_with_our_setup(release_dir):
    nb = student_notebook(release_dir)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    seed = yaml.safe_load((ROOT / "release" / "assignment.yml").read_text())
    for heading in ("# Assignment 3 -  Interpret data", "*YOUR FULL NAME HERE*",
                    "Netid: Your netid here", "**[30 points]**", "**[60 points]**",
                    "a. First load in the data", "b. Implement a decoding model",
                    "c. Now implement an encoding model!", "d. We know many mammalian",
                    "e. Finally, let's try", "Extra credit +2", "Bonus +1"):
        assert heading in text, heading
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any(s.startswith("## Code for part C1") for s in code)
    assert any(s.startswith("## Code for part C2") for s in code)
    assert "fetch_data(DATA_SOURCE)" in "\n".join(code) and seed["name"] == "assignment_3"
    assert sum(c.source.count("_Type your answer here") for c in nb.cells) == 9


def test_no_solution_code_or_hidden_check_reaches_students(release_dir):
    description = yaml.safe_load((ROOT / "release" / "assignment.yml").read_text())
    solution = {c.id: c for c in nbformat.read(ROOT / "assignment_3.ipynb", as_version=4).cells}
    given = {line.strip() for s in description["sections"] if "given" in s
             for line in solution[str(s["given"])].source.splitlines()}
    given |= {line.strip() for key in ("setup", "parameters", "imports")
              for line in description[key].splitlines()}
    answers = {line.strip() for s in description["sections"] for i in s.get("solution", [])
               if solution[str(i)].cell_type == "code"
               for line in solution[str(i)].source.splitlines()}
    seed_text = (ROOT / "release" / "assignment.yml").read_text()  # the assignment's own words
    answers = {line for line in answers - given
               if len(line) > 12 and not line.startswith("#") and line not in seed_text}
    assert len(answers) > 200
    code = "\n".join(c.source for c in student_notebook(release_dir).cells
                     if c.cell_type == "code")
    assert not [line for line in answers if line in code]
    for path in (release_dir / "student" / "tests").glob("*.py"):
        text = path.read_text()
        assert not [line for line in answers if line in text] and "hidden=True" not in text
    written = [solution[str(i)].source for s in description["sections"] if s.get("manual")
               for i in s.get("solution", []) if solution[str(i)].cell_type == "markdown"]
    student_text = (release_dir / "student" / "assignment_3.ipynb").read_text()
    assert not [w[:80] for w in written if json.dumps(w[:80])[1:-1] in student_text]


def test_the_course_wheel_works_without_the_solution_library(course_env, tmp_path):
    code = ("import importlib.util, ccn_helpers\n"
            "print(ccn_helpers.__version__, ccn_helpers.load_data.__module__, "
            "importlib.util.find_spec('v1_orientation.solution'))")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path[:0] = "
                          f"[{course_env['PYTHONPATH']!r}]\n{code}"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0].endswith("+course") and out[1] == "v1_orientation.course.recording"
    assert out[2] == "None"


def test_the_blank_notebook_runs_to_the_end_and_every_check_fails_with_a_message(executed):
    nb = executed["blank"]
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "error"]
    checks = check_outputs(nb)
    assert sorted(checks) == sorted(CHECKED)
    for question, text in checks.items():
        assert f"{question} results:" in text and "failed" in text and "passed!" not in text
        assert "message:" in text  # a hint, not the answer
    assert "training done!" in "".join(o.get("text", "") for c in nb.cells if c.cell_type ==
                                       "code" for o in c.outputs)


def test_the_answered_notebooks_checks_pass(executed):
    for question, text in check_outputs(executed["answered"]).items():
        assert "All test cases passed!" in text, (question, text)


def test_grading_gives_zero_to_blank_full_marks_to_right_and_docks_only_the_wrong(graded):
    full = {"q1a": 2, "q1b": 3, "q1b_bonus": 0, "q1c": 2, "q1d": 4}
    assert graded["blank"] == {q: 0 for q in full}
    assert graded["answered"] == full
    assert graded["wrong-q1b"] == {**full, "q1b": 2}
    assert graded["wrong-q1d"] == {**full, "q1d": 3}


# --- the student notebook's Colab setup cell, against a local server --------------------------

STAND_IN = ("import os, site, sys, types\n"
            "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
            "site.addsitedir(os.environ['PIP_TARGET'])")


@pytest.fixture(scope="module")
def student_server(release_dir):
    """Serves dist/student/ (the wheel and tests/); any other path is a 404."""
    from loopback import QuietHandler, serve

    root = release_dir / "student"

    class Handler(QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.server.requests.append(self.path)
            route = self.path.lstrip("/")
            path = root / route.removeprefix("student/") if route.startswith("student/") else root
            body = path.read_bytes() if path.is_file() else b"404: Not Found"
            self.send_response(200 if path.is_file() else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serve(Handler) as httpd:
        yield httpd


def run_setup(release_dir, base_url, folder, site):
    """The student setup cell, as in Colab, in ``folder``; pip installs into ``site``."""
    import re

    setup = next(c.source for c in student_notebook(release_dir).cells
                 if c.cell_type == "code" and "CHECKS = " in c.source)
    setup = re.sub(r'^BASE_URL = ".*"$', f'BASE_URL = "{base_url}"', setup, flags=re.M)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in
                                         (STAND_IN, setup, "print(type(grader).__name__)")])
    client = NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(folder)}})
    env = {**os.environ, "PIP_TARGET": str(site), "PIP_NO_INDEX": "1", "PIP_NO_DEPS": "1",
           "PIP_NO_CACHE_DIR": "1", "PIP_RETRIES": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        client.execute(env=env)
    except Exception:  # a stopped setup cell stops Run all: the outputs say how
        pass
    return nb


def test_the_student_setup_installs_the_helpers_and_fetches_the_checks(release_dir,
                                                                        student_server, tmp_path):
    (tmp_path / "site").mkdir()
    nb = run_setup(release_dir, student_server.url("student/"), tmp_path, tmp_path / "site")
    assert "".join(o.get("text", "") for o in nb.cells[2].outputs).strip() == "Notebook"
    assert sorted(p.stem for p in (tmp_path / "tests").glob("*.py")) == sorted(CHECKED)
    assert (tmp_path / "site" / "ccn_helpers.py").is_file()
    assert not (tmp_path / "site" / "v1_orientation" / "solution").exists()


def test_a_missing_check_stops_the_setup_with_the_ways_forward(release_dir, student_server,
                                                               tmp_path):
    (tmp_path / "site").mkdir()
    wheel = json.loads((release_dir / "release.json").read_text())["course_wheel"]
    (tmp_path / wheel).write_bytes((release_dir / "student" / wheel).read_bytes())  # uploaded
    nb = run_setup(release_dir, student_server.url("nowhere/"), tmp_path, tmp_path / "site")
    (error,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    text = "\n".join(error.traceback)
    assert text.startswith("Setup stopped") and "Traceback" not in text
    assert "Files pane" in text and "BASE_URL" in text and "404" in text and "tests/q1a" in text
    assert nb.cells[2].execution_count is None
    assert (tmp_path / "site" / "ccn_helpers.py").is_file()  # the uploaded wheel, installed
    assert list((tmp_path / "tests").glob("*.py")) == []  # nothing half-written
