"""The repository's tools: the comparison of printed numbers, and the docs' regeneration."""

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import compare_outputs  # noqa: E402
import update_docs  # noqa: E402

TABLE = compare_outputs.TABLE_MIMETYPE


def notebook(*cells):
    """A notebook of (source, outputs, tags) code cells."""
    nb = nbformat.v4.new_notebook()
    for source, outputs, tags in cells:
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})
        cell.outputs = outputs
        nb.cells.append(cell)
    return nb


def stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def table(text, values):
    return nbformat.v4.new_output("execute_result", data={"text/plain": text, TABLE: values})


def test_the_same_numbers_in_another_layout_are_no_difference():
    old = notebook(("x = 1", [stream("error 0.191 deg, N = 23,589\n")], ()),
                   ("t", [table("a  b\n-- --\n1.5  2", {"data": [[1.5, 2]]})], ()))
    new = notebook(("x = 1", [stream("error: 0.191 deg (N = 23,589)\n")], ()),
                   ("t", [table("   a b\n 1.5 2", {"data": [[1.5, 2]]})], ()))
    assert compare_outputs.differences(old, new) == []


def test_a_changed_number_or_table_value_is_named_with_its_cell():
    old = notebook(("print(e)", [stream("error 0.191 deg\n")], ()),
                   ("t", [table("1.5", {"data": [[1.5]]})], ()))
    new = notebook(("print(e)", [stream("error 0.192 deg\n")], ()),
                   ("t", [table("1.5", {"data": [[1.5000001]]})], ()))
    lines = compare_outputs.differences(old, new)
    assert len(lines) == 2
    assert "analysis cell 1" in lines[0] and "'0.191'" in lines[0] and "'0.192'" in lines[0]
    assert "analysis cell 2" in lines[1] and "table values differ" in lines[1]


def test_setup_parameter_and_import_cells_are_not_compared():
    old = notebook(("IN_COLAB = False", [stream("pip 1\n")], ()),
                   ("SEED = 1", [], ("parameters",)),
                   ("from ccn_helpers import *\nprint(torch.__version__)", [stream("2.13\n")], ()),
                   ("print(1)", [stream("1\n")], ()))
    new = notebook(("IN_COLAB = False", [stream("pip 2\n")], ()),
                   ("SEED = 1", [], ("parameters",)),
                   ("from ccn_helpers import *\nprint(torch.__version__)", [stream("2.11\n")], ()),
                   ("print(1)", [stream("1\n")], ()))
    assert compare_outputs.differences(old, new) == []
    assert len(compare_outputs.analysis_cells(new)) == 1


def test_cells_that_no_longer_correspond_are_reported():
    old = notebook(("a", [], ()), ("b", [], ()))
    new = notebook(("a", [], ()))
    (line,) = compare_outputs.differences(old, new)
    assert "2 analysis cells before, 1 after" in line


def test_progress_bars_on_stderr_are_ignored():
    bar = nbformat.v4.new_output("stream", name="stderr", text="100%|#####| 10/10 [00:03<00:00]")
    old = notebook(("run", [stream("done\n"), bar], ()))
    new = notebook(("run", [stream("done\n")], ()))
    assert compare_outputs.differences(old, new) == []


DOC = """# A document

Prose that stays.

<!-- output of: python -c "print('measured', 6 * 7)" -->
old output
<!-- end of output -->

More prose.

<!-- output of: python -c "raise SystemExit(3)" -->
kept as it was
<!-- end of output -->
"""


def test_docs_blocks_are_rewritten_from_their_commands_and_failures_keep_theirs(tmp_path):
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    failed = update_docs.update(path)
    text = path.read_text()
    assert failed == ['python -c "raise SystemExit(3)"']
    assert "```text\nmeasured 42\n```" in text and "old output" not in text
    assert "kept as it was" in text and "Prose that stays." in text and "More prose." in text
    assert "Measured " in text and " at commit " in text
    assert len(update_docs.blocks(text)) == 2
    again = tmp_path / "again.md"
    again.write_text(text)
    update_docs.update(again, only="6 * 7")
    assert update_docs.blocks(again.read_text()) == update_docs.blocks(text)  # stable markers
