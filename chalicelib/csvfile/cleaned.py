"""The cleaned-chunk row: how a valid row is written for COPY, in one canonical form.

Integers in digits, timestamps as their validated ISO text, text quoted only when CSV needs it
(a comma, a quote, a line break) or when a loader might trim it (whitespace at either end), and
the line the row came from last. A valid row of the common shape is its own cleaned text, which
the fast path (``fastpath.py``) relies on.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chalicelib.tables import Column


# A text cell is quoted only when CSV needs it (a comma, a quote, a line break) or when a loader
# might trim it (whitespace at either end); every other cell is written as it is, so a valid
# row of the common shape is its own cleaned text (the fast path relies on it).
_NEEDS_QUOTES = re.compile(r'[,"\r\n]|^\s|\s$')


def clean_cell(column: Column, value: Any) -> str:
    """A valid value as a cleaned chunk holds it: integers in digits, timestamps as their ISO
    text ('2021-07-27T16:02:08Z'), text quoted only when it needs to be."""
    text = str(value)
    if column.kind == "text" and _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def clean_row(columns: Sequence[Column], values: Sequence[Any], line: int) -> str:
    """One line of a cleaned chunk: the row's cells, then the line it came from."""
    cells = ",".join(clean_cell(c, v) for c, v in zip(columns, values, strict=True))
    return f"{cells},{line}\n"
