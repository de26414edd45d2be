"""Result tables: values for programs and tests, a table (through pandas) for people."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "ResultTable", "summary_table",
]


class ResultTable:
    """A table of results, shown as a table wherever the notebook is read.

    An HTML table in Jupyter, Colab and the HTML report, aligned text in plain
    output, and its values (not their layout) for programs and tests, under the
    mimetype ``MIMETYPE``. The values stay numbers (``frame``); ``formats`` only says
    how to show them.

    Args:
        frame (pandas.DataFrame): one row per result; its index is shown as the first
            column(s) (a MultiIndex as several).
        formats (dict): column -> format spec for display, e.g. ``".3f"``, ``"+.3f"``,
            ``".1%"``; other columns are shown with ``str``.
        title (str): a line shown above the table.
        notes (sequence of str): lines shown under it.
        missing (str): what an absent value (NaN or None) is shown as.
        row_formats (dict): (first) index label -> format spec for the numbers of that
            row, before ``formats``: for tables of quantities of different kinds.

    Attributes:
        frame (pandas.DataFrame): the values.
        formats, title, notes, missing, row_formats: as given.
    """

    MIMETYPE = "application/vnd.dataresource+json"  # the values; no front end draws it

    def __init__(self, frame, formats=None, title="", notes=(), missing="-", row_formats=None):
        self.frame = frame
        self.formats = dict(formats or {})
        self.title = title
        self.notes = list(notes)
        self.missing = missing
        self.row_formats = dict(row_formats or {})

    def _cell(self, value, column, row_label):
        """One value as shown: missing, by its row's or column's format, or as str."""
        if _is_missing(value):
            return self.missing
        if not _is_number(value):
            return str(value)
        spec = self.row_formats.get(row_label, self.formats.get(column))
        return format(value, spec) if spec else str(value)

    def _columns(self):
        """(header, formatted cells, numeric?) for the index levels and the columns."""
        flat = self.frame.reset_index() if self._shows_index() else self.frame
        labels = [label[0] if isinstance(label, tuple) else label for label in self.frame.index]
        out = []
        for name in flat.columns:
            values = flat[name].tolist()
            cells = [self._cell(v, name, label) for v, label in zip(values, labels, strict=True)]
            numeric = all(_is_missing(v) or _is_number(v) for v in values)
            out.append((str(name), cells, numeric))
        return out

    def _shows_index(self):
        return any(name is not None for name in self.frame.index.names)

    def to_text(self):
        """The table as aligned plain text (title, header, rows, notes)."""
        columns = self._columns()
        widths = [max([len(head)] + [len(c) for c in cells]) for head, cells, _ in columns]

        def line(items, numeric):
            return "  ".join(item.rjust(w) if num else item.ljust(w)
                             for item, w, num in zip(items, widths, numeric, strict=True))

        numeric = [num for _, _, num in columns]
        lines = [self.title] if self.title else []
        lines.append(line([head for head, _, _ in columns], numeric).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        for row in zip(*[cells for _, cells, _ in columns], strict=True):
            lines.append(line(row, numeric).rstrip())
        return "\n".join(lines + self.notes)

    def __repr__(self):
        return self.to_text()

    def __str__(self):
        return self.to_text()

    def _repr_html_(self):
        from html import escape

        columns = self._columns()
        align = ["right" if num else "left" for _, _, num in columns]
        head = "".join(f'<th style="text-align: {a}">{escape(h)}</th>'
                       for (h, _, _), a in zip(columns, align, strict=True))
        rows = "".join(
            "<tr>" + "".join(f'<td style="text-align: {a}">{escape(c)}</td>'
                             for c, a in zip(row, align, strict=True)) + "</tr>"
            for row in zip(*[cells for _, cells, _ in columns], strict=True))
        title = f"<p><b>{escape(self.title)}</b></p>" if self.title else ""
        notes = "".join(f"<p style=\"margin: 0.2em 0\">{escape(n)}</p>" for n in self.notes)
        return (f'{title}<table class="dataframe"><thead><tr>{head}</tr></thead>'
                f"<tbody>{rows}</tbody></table>{notes}")

    def values(self):
        """The values as plain Python: ``{"columns": [...], "data": [[...], ...]}``.

        Index levels come first; numbers are unrounded. The result is valid JSON (the
        notebook stores it): NaN becomes None, and an infinite value the string
        ``"inf"`` or ``"-inf"``.
        """
        flat = self.frame.reset_index() if self._shows_index() else self.frame
        data = [[_json_value(v) for v in row]
                for row in flat.itertuples(index=False, name=None)]
        return {"columns": [str(c) for c in flat.columns], "data": data}

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {self.MIMETYPE: self.values()}

    def row(self, label):
        """The values of the row whose (first) index label is ``label``, as a dict."""
        return self.frame.loc[label].to_dict()


def _is_number(value):
    """True for ints and floats (Python or NumPy), False for bools, strings and the rest."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _json_value(value):
    """A table value as JSON can hold it: None for NaN, "inf" / "-inf", plain Python numbers."""
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _is_missing(value):
    """True for None and NaN (of any float type), False for everything else."""
    return value is None or (isinstance(value, (float, np.floating)) and np.isnan(value))


def summary_table(entries, title=""):
    """The closing summary: each result with its value and the evidence behind it.

    Args:
        entries (sequence): ``(quantity, value, evidence)`` triples; ``evidence`` says
            which measure, interval or test the value rests on ("" when it is a count
            or a plain estimate).
        title (str): line above the table.

    Returns:
        ResultTable: one row per quantity.
    """
    frame = pd.DataFrame([{"value": value, "evidence": evidence} for _, value, evidence in entries],
                         index=pd.Index([q for q, _, _ in entries], name="quantity"))
    return ResultTable(frame, title=title)
