"""``solution.tables``: ResultTable rendered through pandas, its values, and the summary table."""

import json

import numpy as np
import pandas as pd

from v1_orientation.solution.tables import ResultTable, summary_table


def small_table(**kwargs):
    frame = pd.DataFrame({"MSE": [193.675, np.nan, 0.08512], "chosen": ["", "yes", "<b>"]},
                         index=pd.Index(["class recipe", "ridge", "circular ridge"],
                                        name="decoder"))
    return ResultTable(frame, {"MSE": ".3f"}, title="Test errors", notes=["a note"], **kwargs)


def test_text_is_pandas_to_string_with_the_formats_title_and_notes():
    lines = str(small_table()).splitlines()
    assert lines[0] == "Test errors" and lines[-1] == "a note"
    expected = small_table().frame.to_string(formatters={
        "MSE": lambda v: format(v, ".3f"), "chosen": str}, na_rep="-")
    assert "\n".join(lines[1:-1]) == expected
    header, index_name, *rows = lines[1:-1]
    assert header.split() == ["MSE", "chosen"] and index_name.strip() == "decoder"
    assert rows[1].split() == ["ridge", "-", "yes"]  # missing shown as "-"
    assert rows[2].split() == ["circular", "ridge", "0.085", "<b>"]
    assert header.index("MSE") + 3 == rows[0].index("193.675") + 7  # right-aligned numbers
    assert repr(small_table()) == str(small_table())


def test_html_is_a_styler_table_with_escaped_cells_title_and_notes():
    table = small_table()
    html = table._repr_html_()
    body = html[html.index("<tbody>"):html.index("</tbody>")]
    assert body.count("<tr>") == 3 and body.count("<td") == 6 and "<th" in html
    assert '<table id="T_' in html and 'class="dataframe"' in html
    assert "&lt;b&gt;" in html and "<caption>Test errors</caption>" in html and "a note" in html
    assert ">193.675<" in html and ">-<" in html and ">0.085<" in html
    assert html == small_table()._repr_html_()  # the same HTML at every execution


def test_values_are_unformatted_plain_python_with_none_for_missing():
    table = small_table()
    values = table.values()
    assert values["columns"] == ["decoder", "MSE", "chosen"]
    assert values["data"][0] == ["class recipe", 193.675, ""]
    assert values["data"][1][1] is None
    assert type(values["data"][2][1]) is float and values["data"][2][1] == 0.08512
    assert table._repr_mimebundle_() == {ResultTable.MIMETYPE: values}
    assert table.row("ridge")["chosen"] == "yes"


def test_values_are_valid_json_even_with_infinite_numbers():
    """The notebook stores the values as JSON, which has no NaN or infinity."""
    frame = pd.DataFrame({"a/b": [np.inf, -np.inf, 2.5, np.nan]}, index=pd.Index(list("wxyz"),
                                                                                   name="row"))
    values = ResultTable(frame).values()
    assert [row[1] for row in values["data"]] == ["inf", "-inf", 2.5, None]
    json.dumps(values, allow_nan=False)


def test_row_formats_and_multiindex():
    frame = pd.DataFrame({"value": [0.98123, 23160.0]},
                         index=pd.MultiIndex.from_tuples([("V1", "fraction"), ("V1", "count")],
                                                         names=["group", "quantity"]))
    table = ResultTable(frame, {"value": ".2f"}, row_formats={"V1": ".1%"}, missing="n/a")
    text, html = str(table), table._repr_html_()
    assert "98.1%" in text and "2316000.0%" in text  # the row format wins for its rows
    assert ">98.1%<" in html and ">2316000.0%<" in html
    assert table.values()["columns"] == ["group", "quantity", "value"]
    unnamed = ResultTable(pd.DataFrame({"x": [1.5]}), {"x": ".1f"})
    assert str(unnamed).splitlines()[0].strip() == "x"  # an unnamed index is not shown


def test_summary_table():
    table = summary_table([("n_neurons", 23589, ""), ("most_v1_like_layer_pearson", "pool",
                                                         "Pearson: ... excludes 0")])
    assert table.values() == {"columns": ["quantity", "value", "evidence"], "data": [
        ["n_neurons", 23589, ""], ["most_v1_like_layer_pearson", "pool",
                                   "Pearson: ... excludes 0"]]}
