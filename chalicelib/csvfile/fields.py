"""A record's text as fields, and fields as the JSON values a table's schema checks.

Quoting follows RFC 4180 strictly (a quote opens a field only at its start; ``""`` is a quote
inside one); an empty field becomes null and a canonical integer an int, everything else stays
text for the schema to judge. ``rowcheck.py`` decides validity; this module only parses.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chalicelib.tables import Table


INTEGER_TEXT = re.compile(r"0|-?[1-9][0-9]*")


# Longer digit strings are out of any 64-bit range; int() is not even asked (it refuses strings
# over 4300 digits, which would crash the chunk instead of rejecting the row).
_MAX_DIGITS = 20


# A quoted field: "..." with "" for a quote inside; possessive, so a field that never closes
# fails in linear time instead of backtracking to a quote pair.
_QUOTED_FIELD = re.compile(r'"((?:[^"]|"")*+)"')


class FieldSyntaxError(ValueError):
    """A record's quoting is broken; the message says where and how to fix it."""


def parse_fields(text: str) -> list[str]:
    """Split one record's text into fields (RFC 4180 quoting, strictly).

    A quote opens a quoted field only at the field's start; elsewhere it is a literal character.
    A quoted field holds anything, with ``""`` for a quote, and must be followed by a comma or
    the end of the record. A lone CR is data, quoted or not.

    Raises:
        FieldSyntaxError: a quoted field never closes, or text follows its closing quote.
    """
    if '"' not in text:
        return text.split(",")
    fields: list[str] = []
    pos, end = 0, len(text)
    while True:
        if text.startswith('"', pos):
            match = _QUOTED_FIELD.match(text, pos)
            if match is None:
                raise FieldSyntaxError(
                    f"field {len(fields) + 1}: its opening quote is never closed, so everything "
                    "after it to the end of the file was read as this one field"
                )
            fields.append(match[1].replace('""', '"'))
            pos = match.end()
            if pos < end and text[pos] != ",":
                raise FieldSyntaxError(
                    f"field {len(fields)}: text after its closing quote; inside a quoted field "
                    'write a quote as ""'
                )
        else:
            comma = text.find(",", pos)
            stop = end if comma < 0 else comma
            fields.append(text[pos:stop])
            pos = stop
        if pos >= end:
            return fields
        pos += 1


def coerce(table: Table, fields: Sequence[str]) -> list[Any]:
    """Turn CSV text into the JSON values the schema checks: '' → None, canonical ints → int."""
    values: list[Any] = []
    for column, text in zip(table.columns, fields, strict=False):
        if text == "":
            values.append(None)
        elif column.kind == "integer" and len(text) <= _MAX_DIGITS and INTEGER_TEXT.fullmatch(text):
            values.append(int(text))
        else:
            values.append(text)
    values.extend(fields[len(table.columns) :])
    return values
