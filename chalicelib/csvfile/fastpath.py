"""A fast path for judging rows: one regular expression, written from the table's JSON Schema.

``compile_row_pattern`` turns a table's schema into a pattern that matches the text of a record
only when the schema surely accepts the row *and* the record is already its own cleaned CSV text
(``cleaned.clean_row``): canonical integers, text that needs no quoting (or is quoted because it
holds a comma), UTC timestamps on real dates. Validation then takes whole runs of such lines
with one ``fullmatch`` each, in C, and copies them to the cleaned chunk as they are. A record
the pattern does not match is not rejected: it goes to ``RowChecker`` (JSON Schema), which
gives the verdict and the reasons.

It compiles only schemas made of keywords it knows (integer ranges from 0 or 1, string lengths,
the non-blank pattern, the refusal of control characters, the UTC timestamp with its date-time
format) and returns None for any other schema. Tests prove that every line it matches is valid
with exactly its own text as the cleaned row, and that it matches every valid row of the common
shape.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.tables import Column, Table

RowPattern = re.Pattern[str]

# Row keywords that constrain only the row as a whole, never its items: with only these (and the
# items' own schemas), each item can be judged apart from the row.
ROW_ONLY_KEYWORDS = {
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "x-primary-key",
    "x-references",
    "minItems",
    "maxItems",
}
_INTEGER_KEYWORDS = {"title", "type", "minimum", "maximum"}
_TEXT_KEYWORDS = {"title", "type", "minLength", "maxLength", "pattern", "not"}
_TIMESTAMP_KEYWORDS = {"title", "type", "pattern", "format"}
_NOT_BLANK = r"\S"
# The schemas' refusal of control characters (``"not": {"pattern": ...}``): C0, DEL and C1 (the
# Unicode category Cc), except a line break, LF or CRLF, which a quoted field may hold.
CONTROL_PATTERN = r"[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f]|\r(?!\n)"
# The schemas' UTC timestamp pattern; with format "date-time" the value must also be a real
# moment (rows.FORMATS: strptime with '%Y-%m-%dT%H:%M:%SZ').
UTC_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"

# The calendar strptime accepts, as a pattern: years 0001-9999, month lengths, and 29 February
# in leap years (divisible by 4, centuries only when divisible by 400). Tests compare it with
# strptime on every month and day of sampled years, every time of day, and the traps around them.
_LEAP_YEAR = (
    r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])"
    r"|(?:0[48]|[2468][048]|[13579][26])00)"
)
_DATE = (
    r"(?!0000)(?:[0-9]{4}-(?:"
    r"(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    rf"|{_LEAP_YEAR}-02-29)"
)
_TIME = r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z"
# A whole value of the UTC pattern on a real date: what the pattern and the format accept together.
UTC_MOMENT = re.compile(_DATE + _TIME)
# Characters a bare cell may hold: not the separators, not a quote (a bare quote is a literal
# the schema path judges), not CR (a lone CR is data, also left to it), not NUL (always refused).
_BARE = r'[^",\r\n\x00]'
# ... and its first and last characters: not whitespace either. Such a value is never blank, and
# needs no quotes in the cleaned chunk.
_EDGE = r'[^\s",\x00]'
# The same where the schema refuses control characters (CR, LF and NUL are among them).
_CONTROLS = r"\x00-\x1f\x7f-\x9f"
_BARE_NO_CONTROL = rf'[^",{_CONTROLS}]'
_EDGE_NO_CONTROL = rf'[^\s",{_CONTROLS}]'


def _integer(item: dict[str, Any]) -> str | None:
    low, high = item.get("minimum"), item.get("maximum")
    if set(item) - _INTEGER_KEYWORDS or not all(_is_int(x) for x in (low, high) if x is not None):
        return None
    if low is None or low > 1:
        return None
    if high is None:
        return "[1-9][0-9]*+"
    # Canonical positive integers with fewer digits than the maximum are below it; the longest
    # values (and zero, signs, leading zeros) are left to the schema.
    digits = len(str(high)) - 1
    return f"[1-9][0-9]{{0,{digits - 1}}}" if digits >= 1 else None


def _text(item: dict[str, Any]) -> str | None:
    if set(item) - _TEXT_KEYWORDS or item.get("pattern", _NOT_BLANK) != _NOT_BLANK:
        return None
    if int(item.get("minLength", 0)) > 1:
        return None
    longest = item.get("maxLength")
    if longest is not None and int(longest) < 1:
        return None
    if "not" in item and item["not"] != {"pattern": CONTROL_PATTERN}:
        return None
    edge, inner, quoted_char = _EDGE, _BARE, r'[^"\r\n\x00]'
    if "not" in item:
        edge, inner, quoted_char = _EDGE_NO_CONTROL, _BARE_NO_CONTROL, f'[^"{_CONTROLS}]'
    middle = "*" if longest is None else f"{{0,{int(longest) - 2}}}" if longest > 1 else None
    bare = edge if middle is None else f"{edge}(?:{inner}{middle}{edge})?"
    # A quoted cell is taken only if it holds a comma, so that its cleaned text (quoted because
    # of that comma) is the same text; the comma also makes it non-blank.
    length = "+" if longest is None else f"{{1,{int(longest)}}}"
    quoted = f'"(?=[^"\\n]*,){quoted_char}{length}"'
    return f"(?:{bare}|{quoted})"


def _timestamp(item: dict[str, Any]) -> str | None:
    if set(item) - _TIMESTAMP_KEYWORDS or item.get("pattern") != UTC_PATTERN:
        return None
    return _DATE + _TIME


def _cell(column: Column) -> str | None:
    if column.kind == "integer":
        return _integer(column.schema)
    if column.kind == "timestamp":
        return _timestamp(column.schema)
    return _text(column.schema)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def row_pattern_text(table: Table) -> str | None:
    """The text of ``table``'s fast-path pattern, or None if its schema has unknown keywords."""
    schema = table.schema
    width = len(table.columns)
    if set(schema) - ROW_ONLY_KEYWORDS - {"prefixItems"} or schema.get("type") != "array":
        return None
    if not schema.get("minItems", 0) <= width <= schema.get("maxItems", width):
        return None
    cells = [_cell(column) for column in table.columns]
    if any(cell is None for cell in cells):
        return None
    return ",".join(cell for cell in cells if cell is not None)


def compile_row_pattern(table: Table) -> RowPattern | None:
    """The fast path for ``table`` (use its ``fullmatch`` on a record's text), or None.

    A match means: the schema accepts the row, and the record's text is its cleaned CSV row.
    No match means: ask the schema.
    """
    pattern = row_pattern_text(table)
    return None if pattern is None else re.compile(pattern)


def lines_pattern(pattern: RowPattern) -> RowPattern:
    """``pattern`` for a text of many lines: ``sub('', text)`` empties every line it matches whole
    and leaves the others, and every line break, in place (one pass in C, no call per line)."""
    return re.compile(f"(?m)^(?:{pattern.pattern})$")
