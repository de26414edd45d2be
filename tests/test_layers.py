"""The package's shape: the face re-exports the course layer, the layers import only downward.

The course layer is what students get, so it must not import the solution's library; no module
imports the face; and the modules' imports form no cycle.
"""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import ccn_helpers
import v1_orientation

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "v1_orientation"
TEMPLATE_HELPERS = {"load_data": "recording", "grating": "stimuli", "filters": "stimuli",
                    "CNN": "networks", "train": "training", "get_hidden_activity": "networks",
                    "RDM": "rdm"}
TEMPLATE_IMPORTS = {"np", "torch", "nn", "optim"}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path):
    """Every module a file imports, at any depth of its code (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def package_graph():
    """module -> the package's modules it imports."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imported_modules(path) if m in modules} - {name}
            for name, path in modules.items()}


@pytest.mark.parametrize("name, module", sorted(TEMPLATE_HELPERS.items()))
def test_the_template_helpers_are_the_course_layers_objects(name, module):
    defined = importlib.import_module(f"v1_orientation.course.{module}")
    assert getattr(ccn_helpers, name) is getattr(defined, name)
    assert getattr(defined, name).__module__ == defined.__name__


def test_the_face_exports_the_course_layer_and_nothing_else():
    for name in set(ccn_helpers.__all__) - TEMPLATE_IMPORTS:
        obj = getattr(ccn_helpers, name)
        home = getattr(obj, "__module__", None) or next(
            m.__name__ for m in sys.modules.values()
            if m and m.__name__.startswith("v1_orientation.course.") and name in vars(m))
        assert home.startswith("v1_orientation.course."), (name, home)
    public = set()
    for path in (PACKAGE / "course").glob("*.py"):
        module = importlib.import_module(module_name(path))
        public |= set(getattr(module, "__all__", []))
    assert public == set(ccn_helpers.__all__) - TEMPLATE_IMPORTS
    assert {"np", "torch", "nn", "optim"} <= set(ccn_helpers.__all__)


def test_the_course_layer_imports_nothing_of_the_solution():
    for path in [*(PACKAGE / "course").rglob("*.py"), PACKAGE / "_internal.py",
                 PACKAGE / "__init__.py", ROOT / "ccn_helpers.py"]:
        bad = {m for m in imported_modules(path) if m.startswith("v1_orientation.solution")}
        assert not bad, (path.name, bad)
    # and at run time: importing the face and every course module loads no solution module
    code = ("import importlib, pkgutil, sys, ccn_helpers, v1_orientation.course as c\n"
            "for m in pkgutil.iter_modules(c.__path__):\n"
            "    importlib.import_module(c.__name__ + '.' + m.name)\n"
            "print(sorted(m for m in sys.modules if m.startswith('v1_orientation.solution')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_no_package_module_imports_the_face():
    for path in PACKAGE.rglob("*.py"):
        assert "ccn_helpers" not in {m.split(".")[0] for m in imported_modules(path)}, path.name


def test_the_imports_form_no_cycle():
    graph = package_graph()
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", "import cycle: " + " -> ".join(trail + [node])
        state[node] = "open"
        for nxt in sorted(graph[node]):
            visit(nxt, trail + [node])
        state[node] = "done"

    for node in sorted(graph):
        visit(node, [])
    assert graph["v1_orientation._internal"] == set()


def test_a_face_of_another_version_refuses_to_import(monkeypatch):
    monkeypatch.setattr(v1_orientation, "__version__", "0.0.0-other")
    with pytest.raises(ImportError, match=r"does not match the installed v1_orientation package "
                                          r"\(version 0.0.0-other\).*Delete the stale file"):
        importlib.reload(ccn_helpers)
    monkeypatch.undo()
    importlib.reload(ccn_helpers)
    assert ccn_helpers.__version__ == v1_orientation.__version__
