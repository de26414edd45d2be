"""The notebook's Colab setup cell, run as written against an HTTP server on 127.0.0.1.

The cell's source is read from assignment_3.ipynb, its ``HELPERS_URL`` pointed at the local
server, and it is run in an IPython shell with a stand-in ``google.colab`` module in
``sys.modules`` (so it takes its Colab branch) and the ``%pip`` magic replaced by a recorder
(so nothing is installed). One test runs it in a real kernel, as Colab does.
"""

import importlib.util
import os
import re
import sys
import types
from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from loopback import QuietHandler, refused_url, serve
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
HELPERS = (ROOT / "ccn_helpers.py").read_bytes()
# Route -> body served with status 200 (any other route is a 404, as on GitHub).
BODIES = {
    "ccn_helpers.py": HELPERS,
    "html": b"<!DOCTYPE html>\n<html><body>Sign in to continue</body></html>\n",
    "empty": b"",
    "not-python": b"def fetch_data(:\n    pass\n",
    "other-module": b'"""Another module."""\n\n\ndef load_data(path):\n    return path\n',
    "cut-off": HELPERS,  # announced at full length, then the connection closes halfway
}


def pooch_pin():
    """The pooch of Colab's environment (requirements-colab.txt): the version the cell installs."""
    text = (ROOT / "requirements-colab.txt").read_text()
    return re.search(r"^pooch==(\S+)", text, flags=re.M).group(1)


def setup_cell_source(url):
    """The source of the notebook's setup cell (the one code cell defining HELPERS_URL), with
    ``HELPERS_URL`` set to ``url``."""
    nb = nbformat.read(ROOT / "assignment_3.ipynb", as_version=4)
    cells = [c.source for c in nb.cells
             if c.cell_type == "code" and re.search(r"^HELPERS_URL = ", c.source, flags=re.M)]
    assert len(cells) == 1, "expected exactly one code cell that sets HELPERS_URL"
    source, n = re.subn(r"^HELPERS_URL = .*$", f"HELPERS_URL = {url!r}", cells[0], flags=re.M)
    assert n == 1
    return source


class _Handler(QuietHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        route = self.path.strip("/")
        body = BODIES.get(route)
        if body is None:
            body, status = b"404: Not Found", 404
        else:
            status = 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if route == "cut-off" else body)


@pytest.fixture(scope="module")
def server():
    """A local HTTP server serving BODIES; ``server.url(route)``, ``server.requests``."""
    with serve(_Handler) as httpd:
        yield httpd


@pytest.fixture(scope="module")
def shell():
    """An IPython shell whose ``%pip`` records its arguments in ``shell.pip_calls``."""
    saved = sys.displayhook, sys.excepthook, sys.modules.get("__main__")
    ip = InteractiveShell.instance(colors="nocolor")
    ip.history_manager.enabled = False
    ip.pip_calls = []
    ip.register_magic_function(ip.pip_calls.append, magic_kind="line", magic_name="pip")
    yield ip
    InteractiveShell.clear_instance()
    sys.displayhook, sys.excepthook = saved[:2]
    sys.modules["__main__"] = saved[2]


@pytest.fixture
def colab(monkeypatch, tmp_path, server, shell):
    """Run the setup cell as in Colab, in an empty folder; returns ``run(route)``."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.chdir(tmp_path)
    shell.reset(new_session=False)
    shell.pip_calls.clear()
    server.requests.clear()

    def run(url_or_route):
        url = url_or_route if "://" in url_or_route else server.url(url_or_route)
        return shell.run_cell(setup_cell_source(url))

    return run


def assert_stopped_cleanly(result, shown, shell, tmp_path, *what):
    """The cell stopped with the short message (no traceback), wrote nothing, installed nothing."""
    assert result.error_in_exec is not None, "the cell should stop Run all"
    assert hasattr(result.error_in_exec, "_render_traceback_")
    assert "Traceback" not in shown and "File " not in shown
    assert "Setup stopped" in shown and "Nothing was written" in shown
    for fix in ("Files pane", "files.upload()", "HELPERS_URL"):
        assert fix in shown
    for text in what:
        assert text in shown, text
    assert list(tmp_path.iterdir()) == []  # no module, no partial file
    assert shell.pip_calls == []  # it stopped before installing anything


def test_module_is_downloaded_written_and_importable(
        colab, shell, server, tmp_path, capsys, monkeypatch):
    result = colab("ccn_helpers.py")
    assert result.success, capsys.readouterr().out
    assert server.requests == ["/ccn_helpers.py"]
    assert [p.name for p in tmp_path.iterdir()] == ["ccn_helpers.py"]
    assert (tmp_path / "ccn_helpers.py").read_bytes() == HELPERS
    spec = importlib.util.spec_from_file_location("downloaded_helpers", tmp_path / "ccn_helpers.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    assert callable(module.fetch_data) and callable(module.load_data)
    assert shell.pip_calls == [f"install --quiet pooch=={pooch_pin()}"]


def test_existing_module_is_not_downloaded_again(colab, shell, server, tmp_path):
    (tmp_path / "ccn_helpers.py").write_bytes(b"# a copy the student uploaded\n")
    assert colab("ccn_helpers.py").success
    assert server.requests == []
    assert (tmp_path / "ccn_helpers.py").read_bytes() == b"# a copy the student uploaded\n"
    assert shell.pip_calls == [f"install --quiet pooch=={pooch_pin()}"]


def test_outside_colab_the_cell_does_nothing(colab, shell, server, tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab")
    assert colab("missing").success
    assert server.requests == [] and shell.pip_calls == [] and list(tmp_path.iterdir()) == []


def test_404_stops_with_the_status_and_the_ways_forward(colab, shell, tmp_path, capsys):
    result = colab("missing")
    assert_stopped_cleanly(result, capsys.readouterr().out, shell, tmp_path, "404", "/missing")


def test_refused_connection_stops_cleanly(colab, shell, tmp_path, capsys):
    result = colab(refused_url("ccn_helpers.py"))
    assert_stopped_cleanly(result, capsys.readouterr().out, shell, tmp_path, "refused")


@pytest.mark.parametrize("route, what", [
    ("html", "web page (HTML)"),
    ("empty", "empty"),
    ("not-python", "not valid Python"),
    ("other-module", "not ccn_helpers.py"),
    ("cut-off", "IncompleteRead"),
])
def test_a_body_that_is_not_the_module_is_refused_and_not_written(
        colab, shell, tmp_path, capsys, route, what):
    result = colab(route)
    assert_stopped_cleanly(result, capsys.readouterr().out, shell, tmp_path, what)


def test_in_a_kernel_run_all_stops_with_the_message_alone(server, tmp_path):
    """What Colab shows: the error output carries the message lines, and no later cell runs."""
    stand_in = ("import sys, types\n"
                "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
                "get_ipython().register_magic_function(print, 'line', 'pip')\n"
                "print(sys.prefix)")
    cells = [stand_in, setup_cell_source(server.url("missing")), "print('after setup')"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError):
        client.execute()
    (error,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert error.ename == "RuntimeError"
    shown = "\n".join(error.traceback)
    assert shown.startswith("Setup stopped") and "Traceback" not in shown and "404" in shown
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None
    # The kernel is this environment's (make test-colab tests Colab's versions in the kernel too).
    assert os.path.realpath(nb.cells[0].outputs[0].text.strip()) == os.path.realpath(sys.prefix)
    assert list(tmp_path.iterdir()) == []
