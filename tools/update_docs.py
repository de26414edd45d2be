"""Regenerate the measured parts of docs/*.md from the commands that measure them.

A document marks each block of measured output with the command that prints it:

    <!-- output of: python benchmarks/gratings.py -->
    ...whatever the command printed last time, and when...
    <!-- end of output -->

This runs each marked command from the repository root (``python`` is this interpreter) and
writes what it printed between the markers, as a text block, with the date, the commit and
the machine it was measured on. Nothing else in the documents changes. A block whose command
fails keeps its old content, and the tool says so and exits with status 1.

Usage:
    python tools/update_docs.py                 # every block of every document
    python tools/update_docs.py --only gratings # the blocks whose command contains 'gratings'
    python tools/update_docs.py --exclude mutate  # all but those (mutation testing: an hour)
    python tools/update_docs.py --list          # the commands, without running them
"""

import argparse
import datetime
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"(<!-- output of: (?P<command>.+?) -->\n)(?P<body>.*?)(<!-- end of output -->)",
                   re.S)


def blocks(text):
    """The (command, start, end) of each marked block's body in a document's text."""
    return [(m.group("command"), m.start("body"), m.end("body")) for m in BLOCK.finditer(text)]


def provenance():
    """One line: when, at which commit and on what machine a block was measured."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "v1_orientation", "benchmarks",
                            "ccn_helpers.py"], cwd=ROOT, capture_output=True, text=True).stdout
    today = datetime.date.today().isoformat()
    return (f"Measured {today} at commit {commit}{' (with local changes)' if dirty else ''}, "
            f"on {os.cpu_count()} CPU cores.")


def run(command):
    """Run a block's command from the repository root; (exit status, what it printed)."""
    argv = shlex.split(command)
    if argv[0] == "python":
        argv[0] = sys.executable
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    return done.returncode, done.stdout.rstrip() + ("\n" + done.stderr.rstrip()
                                                    if done.returncode else "")


def body(output, stamp):
    """The markdown between the markers: the output as a text block, then its provenance."""
    return f"```text\n{output}\n```\n\n*{stamp}*\n"


def update(path, only=None, dry=False, exclude=None):
    """Regenerate the blocks of one document; return the commands that failed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    failed = []
    for command, start, end in reversed(blocks(text)):
        if (only and only not in command) or (exclude and exclude in command):
            continue
        print(f"{path}: {command}", flush=True)
        if dry:
            continue
        status, output = run(command)
        if status:
            failed.append(command)
            print(f"  failed (exit {status}); the block keeps its old content:\n{output[-2000:]}")
            continue
        text = text[:start] + body(output, provenance()) + text[end:]
    if not dry:
        path.write_text(text, encoding="utf-8")
    return failed


def main(argv=None):
    """Regenerate the documents' measured blocks; exit status 1 if a command failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only the blocks whose command contains this text")
    parser.add_argument("--exclude", help="skip the blocks whose command contains this text")
    parser.add_argument("--list", action="store_true", help="list the commands, run nothing")
    args = parser.parse_args(argv)
    failed = []
    for path in sorted(DOCS.glob("*.md")):
        failed += update(path, args.only, args.list, args.exclude)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
