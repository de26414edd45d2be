"""The notebook's Colab setup cell, run as written in a kernel against an HTTP server on 127.0.0.1.

The cell's source is read from assignment_3.ipynb with ``BASE_URL`` pointed at the local server,
which serves the wheel that ``tools/build_wheel.py`` builds from this checkout (and some bodies
that are not a wheel). Each test runs it in a fresh kernel in an empty folder, after a cell that
puts a stand-in ``google.colab`` in ``sys.modules`` (so the cell takes its Colab branch). pip
really installs, into a folder of the test's (``PIP_TARGET``, added to the kernel's path),
without an index and without dependencies (the environment has them): nothing reaches the
internet, and the environment is left as it was.
"""

import re
import sys
from pathlib import Path

import nbformat
import pytest
from loopback import QuietHandler, refused_url, serve
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import build_wheel  # noqa: E402

import v1_orientation  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Colab's stand-in; pip's target folder goes at the end of sys.path, as site-packages does in
# Colab (after the notebook's folder, where a stale ccn_helpers.py would shadow it).
STAND_IN = ("import os, site, sys, types\n"
            "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
            "site.addsitedir(os.environ['PIP_TARGET'])")
REPORT = ("import ccn_helpers, v1_orientation.course.stimuli as s\n"
          "print(ccn_helpers.__file__, ccn_helpers.__version__, s.grating(0).shape)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel of this checkout, built once."""
    return build_wheel.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def server(wheel):
    """Serves the wheel at its name and a few bodies that are not a wheel; 404 otherwise."""
    bodies = {
        wheel.name: wheel.read_bytes(),
        "html/" + wheel.name: b"<!DOCTYPE html>\n<html><body>Sign in to continue</body></html>\n",
        "empty/" + wheel.name: b"",
        "cut-off/" + wheel.name: wheel.read_bytes(),  # announced whole, cut off halfway
    }

    class Handler(QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.server.requests.append(self.path)
            route = self.path.lstrip("/")
            body = bodies.get(route)
            status = 200 if body is not None else 404
            body = b"404: Not Found" if body is None else body
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if route.startswith("cut-off/") else body)

    with serve(Handler) as httpd:
        yield httpd


def setup_cell_source(base_url):
    """The notebook's setup cell (the one code cell setting BASE_URL), with ``BASE_URL`` set."""
    nb = nbformat.read(ROOT / "assignment_3.ipynb", as_version=4)
    cells = [c.source for c in nb.cells
             if c.cell_type == "code" and re.search(r"^BASE_URL = ", c.source, flags=re.M)]
    assert len(cells) == 1, "expected exactly one code cell that sets BASE_URL"
    source, n = re.subn(r"^BASE_URL = .*$", f"BASE_URL = {base_url!r}", cells[0], flags=re.M)
    assert n == 1
    return source


@pytest.fixture
def run(tmp_path, monkeypatch, server):
    """``run(base_url, colab=True, after=...)``: the cells in a fresh kernel in ``run.work``."""
    server.requests.clear()
    work, site = tmp_path / "work", tmp_path / "site"
    work.mkdir()
    site.mkdir()
    for name, value in {"PIP_TARGET": site, "PIP_NO_INDEX": 1,
                        "PIP_NO_DEPS": 1, "PIP_NO_CACHE_DIR": 1, "PIP_RETRIES": 0,
                        "PIP_DISABLE_PIP_VERSION_CHECK": 1}.items():
        monkeypatch.setenv(name, str(value))

    def execute(base_url, colab=True, after=REPORT):
        cells = ([STAND_IN] if colab else []) + [setup_cell_source(base_url), after]
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        client = NotebookClient(nb, kernel_name="python3", timeout=120,
                                resources={"metadata": {"path": str(work)}})
        try:
            client.execute()
        except CellExecutionError:
            pass
        nb.work, nb.site = work, site
        return nb

    execute.work = work
    return execute


def shown(nb, k):
    """The text a cell showed (its stream output and its error's lines)."""
    lines = []
    for out in nb.cells[k].outputs:
        lines += out.get("traceback", []) if out.output_type == "error" else [out.get("text", "")]
    return "\n".join(lines)


def assert_stopped_cleanly(nb, *what):
    """The setup cell stopped Run all with the short message alone, and named the ways forward."""
    (error,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    text = "\n".join(error.traceback)
    assert error.ename == "RuntimeError"
    assert text.startswith("Setup stopped") and "Traceback" not in text and "File " not in text
    for fix in ("Files pane", "files.upload()", "BASE_URL", "make wheel"):
        assert fix in text
    for expected in what:
        assert expected in text, text
    assert nb.cells[2].execution_count is None  # no later cell ran


def test_the_wheel_is_installed_and_the_helpers_import_from_it(run, server, wheel):
    nb = run(server.url(""))
    assert server.requests == ["/" + wheel.name], shown(nb, 1)
    path, version, shape = shown(nb, 2).split(maxsplit=2)
    assert Path(path).is_relative_to(nb.site)  # imported from the installed wheel
    assert version == v1_orientation.__version__ and shape.strip() == "torch.Size([48, 64])"
    assert list(nb.work.iterdir()) == []


def test_an_uploaded_wheel_is_installed_without_a_download(run, server, wheel):
    (run.work / wheel.name).write_bytes(wheel.read_bytes())
    nb = run(refused_url(""))  # the address would fail: the uploaded wheel is used
    assert "Setup stopped" not in shown(nb, 1) and server.requests == []
    assert Path(shown(nb, 2).split()[0]).is_relative_to(nb.site)


def test_outside_colab_the_cell_does_nothing(run, server):
    nb = run(server.url(""), colab=False, after="print('after setup')")
    assert shown(nb, 0) == "" and shown(nb, 1).strip() == "after setup"
    assert server.requests == [] and list(nb.site.iterdir()) == []


def test_404_stops_with_the_status_and_the_ways_forward(run, server):
    assert_stopped_cleanly(run(server.url("missing/")), "404")


def test_refused_connection_stops_cleanly(run):
    assert_stopped_cleanly(run(refused_url("")), "pip: ")


@pytest.mark.parametrize("route", ["html/", "empty/", "cut-off/"])
def test_a_body_that_is_not_the_wheel_is_refused(run, server, route):
    nb = run(server.url(route))
    assert_stopped_cleanly(nb, "pip: ")
    assert list(nb.site.iterdir()) == []  # nothing was installed


def test_a_stale_face_next_to_the_notebook_is_named(run, server):
    (run.work / "ccn_helpers.py").write_text('"""An old flat module."""\n\n'
                                            "def fetch_data():\n    pass\n")
    nb = run(server.url(""))
    assert_stopped_cleanly(nb, "ccn_helpers.py is not version", "delete it")
