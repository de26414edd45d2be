"""Build the course release from the solution notebook (``make release``).

The solution notebook stays the one source of truth: ``release/assignment.yml`` says which of
its cells each question's solution is, what the student notebook says and scaffolds around
them, and ``release/tests/<question>.py`` the checks. From these this tool writes otter's master
notebook in a temporary folder, runs ``otter assign`` on it, and lays out ``dist/``:

    dist/student/     what students get, to publish at BASE_URL/student/: the notebook, its
                      public checks (tests/) and the course's wheel (no solution library)
    dist/autograder/  for graders: the autograder zip (all checks, hidden ones included), the
                      solution as otter runs it, and its checks
    dist/solution/    for instructors: the executed solution notebook and the full wheel, set
                      to install from BASE_URL/solution/

The student notebook is checked before anything is written: no line of solution code and no
hidden check may be in dist/student (a leak stops the release with the offending lines).

Usage: python tools/release.py [--base-url URL] [--out dist]
"""

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_wheel  # noqa: E402

RELEASE = ROOT / "release"
SOLUTION = ROOT / "assignment_3.ipynb"
NOTEBOOK = "assignment_3.ipynb"
ZIP = "assignment_3-autograder.zip"
BASE_URL_LINE = re.compile(r'^BASE_URL = ".*"$', re.M)
GITHUB_RAW = re.compile(r"https://raw\.githubusercontent\.com/([^/]+)/([^/]+)/([^/]+)/(.*)")


class ReleaseError(ValueError):
    """The release description and the solution notebook do not fit together."""


def colab_url(folder_url, notebook=NOTEBOOK):
    """The Open-in-Colab address of a notebook published in a folder (GitHub raw or any URL)."""
    match = GITHUB_RAW.match(folder_url + notebook)
    if match:
        owner, repo, branch, path = match.groups()
        return f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/{path}"
    return folder_url + notebook


def load_description(path=RELEASE / "assignment.yml"):
    """The release description (a dict), read from YAML, with cell ids as strings.

    YAML reads an all-digit id as a number.
    """
    description = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    description["dropped"] = [str(i) for i in description.get("dropped", [])]
    for section in description["sections"]:
        if "given" in section:
            section["given"] = str(section["given"])
        if "solution" in section:
            section["solution"] = [str(i) for i in section["solution"]]
    return description


def check_coverage(description, solution):
    """Every solution cell is given, dropped or a question's solution, exactly once."""
    listed = list(description.get("dropped", []))
    for section in description["sections"]:
        listed += [section["given"]] if "given" in section else section.get("solution", [])
    ids = [cell.id for cell in solution.cells]
    missing = [i for i in ids if i not in listed]
    unknown = [i for i in listed if i not in ids]
    twice = sorted({i for i in listed if listed.count(i) > 1})
    if missing or unknown or twice:
        raise ReleaseError(
            "release/assignment.yml does not cover the solution notebook: "
            + "; ".join(part for part in [
                f"cells listed nowhere: {missing}" if missing else "",
                f"ids not in the notebook: {unknown}" if unknown else "",
                f"listed twice: {twice}" if twice else ""] if part)
            + ". List each cell id once (given, dropped, or a question's solution).")


def test_cells(path):
    """Otter test cells from a checks file: each test function with its config as YAML."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    config = next(ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign) and node.targets[0].id == "CONFIG")
    cells = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            settings = yaml.safe_dump(config[node.name], sort_keys=False, width=1000).strip()
            body = ast.get_source_segment(source, node)
            cells.append(nbformat.v4.new_code_cell(
                f'""" # BEGIN TEST CONFIG\n{settings}\n""" # END TEST CONFIG\n{body}'))
    if set(config) != {c.source.split("def ", 1)[1].split("(")[0] for c in cells}:
        raise ReleaseError(f"{path.name}: CONFIG and the test functions do not match")
    return cells


def solution_cells(question, by_id):
    """The question's solution as master cells: its code in one solution block, then the scaffold.

    A manual question's written answers become one markdown cell after the code.
    """
    cells = [by_id[i] for i in question.get("solution", [])]
    code = "\n\n".join(c.source for c in cells if c.cell_type == "code")
    written = [c.source for c in cells if c.cell_type == "markdown"]
    written += [question["solution_text"]] if question.get("solution_text") else []
    if written and not question.get("manual"):
        raise ReleaseError(f"{question['question']}: an autograded question's solution is code "
                           "only; move its written answer to a manual question")
    out = []
    if code:
        source = f"# BEGIN SOLUTION\n{code}\n# END SOLUTION"
        if question.get("scaffold"):
            source += ("\n# The names the checks look for:\n"
                       + "\n".join(f"{name} = {name}  # SOLUTION" for name in question["scaffold"]))
        out.append(nbformat.v4.new_code_cell(source))
    if written:
        out.append(nbformat.v4.new_markdown_cell("\n\n".join(written)))
    return out


def question_cells(question, by_id):
    """A question's cells in otter's master format."""
    settings = {"name": question["question"], "points": question["points"]}
    if question.get("manual"):
        settings["manual"] = True
    raw = nbformat.v4.new_raw_cell
    cells = [raw("# BEGIN QUESTION\n" + yaml.safe_dump(settings, sort_keys=False).strip()),
             nbformat.v4.new_markdown_cell(question["prompt"].strip()),
             raw("# BEGIN SOLUTION"), *solution_cells(question, by_id), raw("# END SOLUTION")]
    checks = RELEASE / "tests" / f"{question['question']}.py"
    if checks.exists():
        cells += [raw("# BEGIN TESTS"), *test_cells(checks), raw("# END TESTS")]
    return cells + [raw("# END QUESTION")]


def checks_of(description):
    """The questions that have checks (release/tests/<name>.py), in order."""
    return [s["question"] for s in description["sections"]
            if "question" in s and (RELEASE / "tests" / f"{s['question']}.py").exists()]


def master_notebook(description, solution, student_url, course_wheel):
    """Otter's master notebook for the release."""
    by_id = {cell.id: cell for cell in solution.cells}
    otter_config = {"name": description["name"], "init_cell": False, "check_all_cell": False,
                    "export_cell": False, "run_tests": False, "runs_on": "colab",
                    "tests": {"files": True, "ok_format": False}, "generate": True}
    fill = {"colab_url": colab_url(student_url), "base_url": student_url,
            "course_wheel": course_wheel, "checks": json.dumps(checks_of(description)),
            "otter_version": description["otter_version"]}
    parameters = nbformat.v4.new_code_cell(description["parameters"].strip())
    parameters.metadata["tags"] = ["parameters"]
    cells = [nbformat.v4.new_raw_cell("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(otter_config)),
             nbformat.v4.new_markdown_cell(description["intro"].format(**fill).strip()),
             nbformat.v4.new_code_cell(description["setup"].format(**fill).strip()),
             parameters, nbformat.v4.new_code_cell(description["imports"].strip())]
    for section in description["sections"]:
        if "given" in section:
            cells.append(nbformat.v4.new_code_cell(by_id[section["given"]].source))
        elif "text" in section:
            cells.append(nbformat.v4.new_markdown_cell(section["text"].strip()))
        else:
            cells += question_cells(section, by_id)
    nb = nbformat.v4.new_notebook(cells=cells, metadata=solution.metadata)
    return nb


def solution_lines(description, solution):
    """Every line of solution code (stripped, non-trivial) that must not reach students."""
    by_id = {cell.id: cell for cell in solution.cells}
    given = {line.strip() for s in description["sections"] if "given" in s
             for line in by_id[s["given"]].source.splitlines()}
    given |= {line.strip() for key in ("setup", "parameters", "imports")
              for line in description[key].splitlines()}
    lines = set()
    for section in description["sections"]:
        for cell_id in section.get("solution", []):
            if by_id[cell_id].cell_type == "code":
                lines |= {line.strip() for line in by_id[cell_id].source.splitlines()}
    # lines too generic to be an answer (plt.show(), brackets), or that the student is given
    return {line for line in lines - given
            if len(line) > 12 and not line.startswith("#") and line != "plt.show()"}


def check_no_leak(student_dir, description, solution):
    """The student folder holds no solution line and no hidden check; ReleaseError if it does."""
    text = "\n".join(cell.source for cell in nbformat.read(student_dir / NOTEBOOK, 4).cells
                     if cell.cell_type == "code")
    leaked = sorted(line for line in solution_lines(description, solution) if line in text)
    cells = nbformat.read(student_dir / NOTEBOOK, 4).cells
    markdown = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
    by_id = {cell.id: cell for cell in solution.cells}
    leaked += [by_id[i].source[:60] for s in description["sections"] for i in s.get("solution", [])
               if by_id[i].cell_type == "markdown" and by_id[i].source[:200] in markdown]
    hidden = [p.name for p in (student_dir / "tests").glob("*.py") if "hidden=True" in
              p.read_text()]
    if leaked or hidden:
        raise ReleaseError(f"the student release would leak {len(leaked)} solution line(s) "
                           f"{leaked[:5]} and hidden checks in {hidden}")


def with_base_url(notebook, folder_url):
    """The notebook with its setup cell's BASE_URL and its Colab badge set to ``folder_url``."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and BASE_URL_LINE.search(cell.source):
            cell.source = BASE_URL_LINE.sub(f'BASE_URL = "{folder_url}"', cell.source)
        elif cell.cell_type == "markdown" and "colab-badge.svg" in cell.source:
            cell.source = re.sub(r'href="[^"]*"', f'href="{colab_url(folder_url)}"',
                                 cell.source, count=1)
    return notebook


def release(base_url, out):
    """Build dist/ (student, autograder, solution) for publication at ``base_url``."""
    base_url = base_url.rstrip("/") + "/"
    out = Path(out)
    description, solution = load_description(), nbformat.read(SOLUTION, as_version=4)
    check_coverage(description, solution)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        course = build_wheel.build_wheel(tmp / "wheels" / "course", layer="course")
        full = build_wheel.build_wheel(tmp / "wheels" / "full")
        master = master_notebook(description, solution, base_url + "student/", course.name)
        (tmp / "master").mkdir()
        nbformat.write(master, tmp / "master" / NOTEBOOK)
        done = subprocess.run([sys.executable, "-m", "otter", "assign", str(tmp / "master" /
                               NOTEBOOK), str(tmp / "dist")], capture_output=True, text=True)
        if done.returncode:
            raise ReleaseError(f"otter assign failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        built = tmp / "dist"
        shutil.copy2(course, built / "student" / course.name)
        check_no_leak(built / "student", description, solution)
        (zip_path,) = (built / "autograder").glob("*-autograder_*.zip")
        zip_path.rename(built / "autograder" / ZIP)
        (built / "solution").mkdir()
        nbformat.write(with_base_url(solution, base_url + "solution/"),
                       built / "solution" / NOTEBOOK)
        shutil.copy2(full, built / "solution" / full.name)
        (built / "release.json").write_text(json.dumps({
            "base_url": base_url, "checks": checks_of(description),
            "course_wheel": course.name, "full_wheel": full.name,
            "points": {s["question"]: s["points"] for s in description["sections"]
                       if "question" in s},
            "manual": [s["question"] for s in description["sections"] if s.get("manual")],
        }, indent=1))
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(built, out)
    return out


def main(argv=None):
    """Parse the command line and build the release."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    solution_url = next(BASE_URL_LINE.search(c.source).group(0).split('"')[1]
                        for c in nbformat.read(SOLUTION, 4).cells
                        if c.cell_type == "code" and BASE_URL_LINE.search(c.source))
    parser.add_argument("--base-url", default=solution_url,
                        help="where dist/ is published (default: the solution's BASE_URL)")
    parser.add_argument("--out", default=str(ROOT / "dist"))
    args = parser.parse_args(argv)
    try:
        out = release(args.base_url, args.out)
    except ReleaseError as err:
        print(f"release failed: {err}", file=sys.stderr)
        return 1
    print(f"release built in {out}: student/ (publish at {args.base_url.rstrip('/')}/student/), "
          "autograder/, solution/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
