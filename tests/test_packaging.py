"""The helpers as an installable: the wheel holds the package and the face, and installing it
into this environment (the pinned one in ``make test``, Colab's versions in ``make test-colab``)
needs nothing that is not already there: its dependency ranges admit these versions."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import build_wheel  # noqa: E402

import v1_orientation  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return build_wheel.build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_the_package_and_the_face(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"v1_orientation-{v1_orientation.__version__}.dist-info/METADATA")
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / "v1_orientation").rglob("*.py")}
    assert sources | {"ccn_helpers.py"} <= names
    assert not {n for n in names if n.startswith("tests/") or n.endswith(".ipynb")}
    assert wheel.name == f"v1_orientation-{v1_orientation.__version__}-py3-none-any.whl"
    assert b"Requires-Dist: torch>=" in metadata and b"Requires-Dist: pooch>=" in metadata


def test_the_course_wheel_leaves_the_solution_out(tmp_path):
    wheel = build_wheel.build_wheel(tmp_path, layer="course")
    version = f"{v1_orientation.__version__}+course"
    assert wheel.name == f"v1_orientation-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        face, package = (zf.read(n).decode() for n in ("ccn_helpers.py",
                                                      "v1_orientation/__init__.py"))
    assert "ccn_helpers.py" in names and "v1_orientation/course/recording.py" in names
    assert not [n for n in names if n.startswith("v1_orientation/solution")]
    assert f'__version__ = "{version}"' in face and f'__version__ = "{version}"' in package


def test_installing_the_wheel_here_changes_no_installed_package(wheel, tmp_path):
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index",
                    "--quiet", "--report", str(report), str(wheel)], check=True)
    installs = json.loads(report.read_text())["install"]
    assert [item["metadata"]["name"] for item in installs] == ["v1-orientation"]
