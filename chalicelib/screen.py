"""A fast path for judging rows: the common valid row, without running JSON Schema per row.

``compile_screen`` turns a table's JSON Schema into one function over a record's text that
returns the row's cleaned CSV cells when it can vouch that the schema accepts the row, and None
otherwise. None is not a verdict: the caller then asks ``RowChecker`` (JSON Schema), which gives
the verdict and the reasons. It compiles only schemas made of keywords it knows (integer ranges,
string lengths, the non-blank pattern, the UTC timestamp with its date-time format) and returns
None for any other schema. Tests prove that what it accepts, the schema accepts with the same
values, and that it accepts every valid row of the common shape.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.rows import FieldSyntaxError, parse_fields, screen_column, to_csv_value

if TYPE_CHECKING:
    from chalicelib.tables import Column, Table

Screen = Callable[[str], str | None]

_ROW_KEYWORDS = {"$schema", "$id", "title", "description", "type", "x-primary-key", "prefixItems"}
_INTEGER_KEYWORDS = {"title", "type", "minimum", "maximum"}
_TEXT_KEYWORDS = {"title", "type", "minLength", "maxLength", "pattern"}
_NOT_BLANK = r"\S"
# The schemas' UTC timestamp pattern, whose value this judges field by field.
UTC_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
# Verdicts on dates, kept per container: a year has only 365 of them, so nearly every lookup
# hits. Cleared if a file sends too many different ones.
_DATE_CACHE_LIMIT = 100_000
# A valid date and a valid time of day: a value is judged by joining its other half to these.
_GOOD_DATE, _GOOD_TIME = "2000-01-01", "T00:00:00Z"
_TWO_DIGITS = [f"{n:02d}" for n in range(100)]


@dataclass(frozen=True)
class _Part:
    """One column, compiled: a test over the field ``v<i>`` and the cell it renders to."""

    test: str  # a Python expression, true only if the column's schema accepts the field
    cell: str  # f-string text for the cleaned CSV cell
    text: bool = False  # a text cell, whose quotes csv doubles
    names: dict[str, Any] = field(default_factory=dict)  # helpers the expression calls


def quote(text: str) -> str:
    """A text cell as csv.writer writes it with QUOTE_NONNUMERIC."""
    return '"' + text.replace('"', '""') + '"'


def _integer(v: str, item: dict[str, Any]) -> _Part | None:
    low, high = item.get("minimum"), item.get("maximum")
    if set(item) - _INTEGER_KEYWORDS or not all(_is_int(x) for x in (low, high) if x is not None):
        return None
    # Canonical positive integers with fewer digits than the maximum are below it without any
    # arithmetic; anything else (zero, signs, the longest values) is left to the schema.
    tests = [f"{v}.isdigit()", f"{v}.isascii()", f'{v}[0] != "0"']
    if high is not None:
        tests.append(f"len({v}) <= {len(str(high)) - 1 if high >= 1 else 0}")
    if low is not None and low > 1:
        tests.append(f"int({v}) >= {low}")
    return _Part(" and ".join(tests), f"{{{v}}}")


def _text(v: str, item: dict[str, Any]) -> _Part | None:
    if set(item) - _TEXT_KEYWORDS:
        return None
    # An empty field is null, never text. re's \S is exactly what str.isspace() is not.
    tests = [v, f"len({v}) >= {int(item.get('minLength', 0))}"]
    if "maxLength" in item:
        tests.append(f"len({v}) <= {int(item['maxLength'])}")
    names: dict[str, Any] = {}
    pattern = item.get("pattern")
    if pattern == _NOT_BLANK:
        tests.append(f"not {v}.isspace()")
    elif pattern is not None:
        names[f"search_{v}"] = re.compile(pattern).search
        tests.append(f"search_{v}({v}) is not None")
    return _Part(" and ".join(tests), f'"{{{v}}}"', text=True, names=names)


def _timestamp(v: str, column: Column) -> _Part | None:
    check = screen_column(column)
    if check is None:
        return None
    names: dict[str, Any] = {f"check_{v}": check}
    if column.schema.get("pattern") != UTC_PATTERN:
        render = functools.partial(to_csv_value, column)
        names[f"render_{v}"] = lambda value: quote(render(value))
        return _Part(f"{v} and check_{v}({v})", f"{{render_{v}({v})}}", names=names)

    # The pattern fixes every character's place, and strptime judges the hour, the minute and
    # the second each against its own range, and the date as a whole (month lengths, leap
    # years). So the time of day is looked up in the set of the 86,400 the schema accepts,
    # built from the values it accepts in each field, and each date is asked once and
    # remembered.
    def accepted(template: str) -> list[str]:
        return [n for n in _TWO_DIGITS if check(template.format(n))]

    hours = accepted(_GOOD_DATE + "T{}:00:00Z")
    minutes = accepted(_GOOD_DATE + "T00:{}:00Z")
    seconds = accepted(_GOOD_DATE + "T00:00:{}Z")
    times = frozenset(f"T{h}:{m}:{s}Z" for h in hours for m in minutes for s in seconds)
    dates: dict[str, bool] = {}

    def date_ok(day: str) -> bool:
        ok = dates.get(day)
        if ok is None:
            if len(dates) > _DATE_CACHE_LIMIT:
                dates.clear()
            ok = dates[day] = bool(check(day + _GOOD_TIME))
        return ok

    names.update({f"times_{v}": times, f"dates_{v}": dates, f"date_ok_{v}": date_ok})
    test = (
        f"len({v}) == 20 and {v}[10:] in times_{v} "
        f"and (dates_{v}.get(d_{v} := {v}[:10]) or date_ok_{v}(d_{v}))"
    )
    return _Part(test, f'"{{d_{v}}} {{{v}[11:19]}}"', names=names)


def _part(v: str, column: Column) -> _Part | None:
    if column.kind == "integer":
        return _integer(v, column.schema)
    if column.kind == "timestamp":
        return _timestamp(v, column)
    return _text(v, column.schema)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def screen_source(table: Table) -> tuple[str, dict[str, Any]] | None:
    """The Python source of ``table``'s fast path and the helpers it calls; None if unsupported."""
    schema = table.schema
    width = len(table.columns)
    if set(schema) - _ROW_KEYWORDS - {"minItems", "maxItems"} or schema.get("type") != "array":
        return None
    if not schema.get("minItems", 0) <= width <= schema.get("maxItems", width):
        return None
    names = [f"v{i}" for i in range(width)]
    parts = [_part(v, column) for v, column in zip(names, table.columns, strict=True)]
    if any(part is None for part in parts):
        return None
    compiled = [part for part in parts if part is not None]
    # Anything the schema path would reject before looking at fields is left to it.
    helpers: dict[str, Any] = {
        "parse_fields": parse_fields,
        "CsvError": (csv.Error, FieldSyntaxError),
    }
    for part in compiled:
        helpers.update(part.names)
    escapes = "".join(
        f"        {v} = {v}.replace('\"', '\"\"')\n"
        for v, part in zip(names, compiled, strict=True)
        if part.text
    )
    # One function, written out for this table: no per-field calls, loops or lookups.
    source = (
        "def screen(text):\n"
        "    if '\\x00' in text:\n"
        "        return None\n"
        "    if '\"' in text:\n"
        "        try:\n"
        "            fields = parse_fields(text)\n"
        "        except CsvError:\n"
        "            return None\n"
        f"        if len(fields) != {width}:\n"
        "            return None\n"
        f"        {', '.join(names)}, = fields\n"
        f"        if not ({' and '.join(f'({p.test})' for p in compiled)}):\n"
        "            return None\n"
        f"{escapes}"
        "    else:\n"
        "        fields = text.split(',')\n"
        f"        if len(fields) != {width}:\n"
        "            return None\n"
        f"        {', '.join(names)}, = fields\n"
        f"        if not ({' and '.join(f'({p.test})' for p in compiled)}):\n"
        "            return None\n"
        f"    return f{','.join(p.cell for p in compiled)!r}\n"
    )
    return source, helpers


def compile_screen(table: Table) -> Screen | None:
    """The fast path for ``table``, or None if its schema uses keywords this does not know.

    It takes one record's text and returns the row's cleaned CSV cells (without the line
    number) if the schema surely accepts the row; None means: ask the schema.
    """
    found = screen_source(table)
    if found is None:
        return None
    source, namespace = found
    exec(compile(source, f"<screen {table.name}>", "exec"), namespace)  # noqa: S102 - our own code
    screen: Screen = namespace["screen"]
    return screen
