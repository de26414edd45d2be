"""tools/run_notebook.py, which `make run` calls: parameters, the executed notebook, the report."""

import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from run_notebook import typed  # noqa: E402


def tiny_notebook(path, body):
    """A notebook with a tagged parameters cell (X = 1, NAME = 'a') and one more cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    parameters = nbformat.v4.new_code_cell("X = 1\nNAME = 'a'")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)
    return path


def run(tmp_path, body, *parameters):
    notebook = tiny_notebook(tmp_path / "tiny.ipynb", body)
    command = [sys.executable, str(ROOT / "tools" / "run_notebook.py"), str(notebook),
               str(tmp_path / "out"), *parameters]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_parameters_are_typed_as_papermill_types_them():
    assert [typed(v) for v in ("None", "True", "False", "3", "2.5", "1e-3", "data/x.npz")] == [
        None, True, False, 3, 2.5, 0.001, "data/x.npz"]


def test_executed_notebook_and_report_with_parameters(tmp_path):
    done = run(tmp_path, "print(X * 2, NAME)", "-p", "X", "21", "-p", "NAME", "b")
    assert done.returncode == 0, done.stderr
    nb = nbformat.read(tmp_path / "out" / "tiny.ipynb", as_version=4)
    assert "42 b" in nb.cells[-1].outputs[0]["text"]
    assert [c.execution_count for c in nb.cells if c.cell_type == "code"] == [1, 2, 3]
    assert "42 b" in (tmp_path / "out" / "tiny.html").read_text()


def test_an_error_is_kept_in_the_executed_notebook_and_no_report_is_written(tmp_path):
    done = run(tmp_path, "raise ValueError('planted')")
    assert done.returncode != 0 and "planted" in done.stderr
    nb = nbformat.read(tmp_path / "out" / "tiny.ipynb", as_version=4)
    assert any(o.output_type == "error" for o in nb.cells[-1].outputs)
    assert not (tmp_path / "out" / "tiny.html").exists()
