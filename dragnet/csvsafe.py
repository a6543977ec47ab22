"""Spreadsheet-safe CSV for exports and feeds: scraped text must never become a formula.

A cell is neutralised where it starts with a formula character (``= + - @``, tab, CR) and also
after every ``;`` or ``,`` inside it, because a spreadsheet in a locale whose list separator is
``;`` splits an unquoted ``v;=1+1;w`` into three cells, the middle one live.  Every cell is
also quoted (``QUOTE_ALL``), so no separator inside a value can start a new cell.  Numbers and
booleans Dragnet computed itself are written as they are (a negative score stays a number).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_INNER_FORMULA = re.compile(r"([;,]\s*)(?=[=+\-@\t\r])")


def safe_cell(value: Any) -> str:
    """The text of one cell, neutralised with a leading apostrophe wherever a formula could start."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    text = _INNER_FORMULA.sub(r"\1'", str(value))
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_line(values: Iterable[Any]) -> str:
    """One CSV record (with its line end), every cell safe and quoted."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerow([safe_cell(value) for value in values])
    return buffer.getvalue()
