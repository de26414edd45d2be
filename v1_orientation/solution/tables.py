"""Result tables: values for programs and tests, a table (through pandas) for people."""

from __future__ import annotations

import hashlib
from functools import partial
from html import escape

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

__all__ = [
    "ResultTable", "summary_table",
]


class ResultTable:
    """A table of results, shown as a table wherever the notebook is read.

    Rendered by pandas: an HTML table (``Styler``) in Jupyter, Colab and the HTML report,
    aligned text (``DataFrame.to_string``) in plain output; and its values (not their
    layout) for programs and tests, under the mimetype ``MIMETYPE``. The values stay
    numbers (``frame``); ``formats`` only says how to show them.

    Args:
        frame (pandas.DataFrame): one row per result; its index is shown as the first
            column(s) when it is named (a MultiIndex as several).
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

    def _shows_index(self):
        return any(name is not None for name in self.frame.index.names)

    def _shown(self, value, spec=None):
        """One value as shown: ``missing``, a number by ``spec``, anything else by ``str``."""
        if _is_missing(value):
            return self.missing
        if spec and _is_number(value):
            return format(value, spec)
        return str(value)

    def _rows_of(self, label):
        """The index entries whose (first) label is ``label``."""
        return [i for i in self.frame.index if (i[0] if isinstance(i, tuple) else i) == label]

    def to_text(self):
        """The table as aligned plain text (title, header, rows, notes)."""
        frame = self.frame
        if self.row_formats:  # a row's format turns its numbers into text first
            frame = frame.astype(object)
        for label, spec in self.row_formats.items():
            rows = self._rows_of(label)
            frame.loc[rows] = frame.loc[rows].map(partial(self._shown, spec=spec))
        formatters = {c: partial(self._shown, spec=self.formats.get(c)) for c in frame.columns}
        body = frame.to_string(formatters=formatters, na_rep=self.missing,
                               index=self._shows_index())
        return "\n".join(([self.title] if self.title else []) + [body] + self.notes)

    def __repr__(self):
        return self.to_text()

    def __str__(self):
        return self.to_text()

    def _repr_html_(self):
        # A uuid from the content, not pandas' random one: re-execution writes the same HTML.
        uuid = hashlib.md5(repr((self.title, list(self.frame.columns))).encode()).hexdigest()[:8]
        styler = Styler(self.frame, uuid=uuid, cell_ids=False)
        for column in self.frame.columns:
            styler.format(partial(self._shown, spec=self.formats.get(column)), subset=[column],
                          escape="html")
        for label, spec in self.row_formats.items():
            styler.format(partial(self._shown, spec=spec), escape="html",
                          subset=(self._rows_of(label), list(self.frame.columns)))
        if not self._shows_index():
            styler.hide(axis="index")
        styler.set_table_attributes('class="dataframe"')
        if self.title:
            styler.set_caption(escape(self.title))
        notes = "".join(f'<p style="margin: 0.2em 0">{escape(n)}</p>' for n in self.notes)
        return styler.to_html() + notes

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
