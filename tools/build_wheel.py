"""Build the helpers' wheel from a clean copy of the sources (``make wheel``).

The wheel holds the package ``v1_orientation`` and its flat face ``ccn_helpers``. It is built
in a temporary folder from the files the package consists of, so that the checkout gets no
``build/`` or ``*.egg-info`` of setuptools and nothing untracked slips in. ``--layer course``
leaves the solution's library out: the students' helpers, versioned ``<version>+course``.

Usage: python tools/build_wheel.py [OUTPUT_DIR] [--layer all|course]   (default: dist/)
Prints the path of the wheel.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "v1_orientation"
LAYERS = {"all": None, "course": "solution"}  # layer -> the subpackage left out
# The students' wheel has a version of its own (a local label), so that it is never mistaken
# for the full one: ``1.0.0+course``. Its face carries the same version.
LOCAL_LABEL = {"all": "", "course": "+course"}
VERSION_LINE = re.compile(r'^__version__ = "([^"+]+)"$', re.M)


def package_files(layer="all"):
    """The source files of the wheel, relative to the repository root."""
    left_out = LAYERS[layer]
    files = [Path("pyproject.toml"), Path("README.md"), Path("ccn_helpers.py")]
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        relative = path.relative_to(ROOT)
        if left_out is None or relative.parts[1] != left_out:
            files.append(relative)
    return files


def build_wheel(output_dir, layer="all"):
    """Build the wheel into ``output_dir``; return its path."""
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        for relative in package_files(layer):
            (source / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, source / relative)
            if LOCAL_LABEL[layer] and relative.name in ("__init__.py", "ccn_helpers.py"):
                text = (source / relative).read_text()
                (source / relative).write_text(VERSION_LINE.sub(
                    rf'__version__ = "\1{LOCAL_LABEL[layer]}"', text))
        wheels = Path(tmp) / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--no-build-isolation", "--wheel-dir", str(wheels), str(source)],
                       check=True)
        (wheel,) = wheels.glob("*.whl")
        target = output_dir / wheel.name
        shutil.move(str(wheel), str(target))
    return target


def main(argv=None):
    """Parse the command line and build the wheel."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", nargs="?", default=str(ROOT / "dist"))
    parser.add_argument("--layer", choices=sorted(LAYERS), default="all")
    args = parser.parse_args(argv)
    print(build_wheel(args.output_dir, args.layer))


if __name__ == "__main__":
    main()
