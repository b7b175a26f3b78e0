"""What the pipeline must make of a file, worked out independently of the code under test.

Written from the rules in README.md ("The files") with Python's ``csv`` module and plain checks:
it imports nothing from ``chalicelib``. Records are found by a lenient ``csv.reader`` (the same
quoting rules the README states), then each record is judged: size, UTF-8, NUL, strict quoting,
field count, then each field.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_BAD_BYTE = "oracle-bad-byte"
codecs.register_error(_BAD_BYTE, lambda e: ("\udcff" * (e.end - e.start), e.end))  # type: ignore[attr-defined]

# A 10 MB line is one field to the lenient reader; csv's default limit is 128 KiB.
csv.field_size_limit(2**31 - 1)

MAX_RECORD_BYTES = 64 * 1024
ID_MAX = 2**63 - 1
TEXT_MAX = 256
BOM = "\ufeff"
# Stands in for a lone CR while csv reads (csv would end a record there; the rules say it is data).
LONE_CR = "\ue000"
KINDS: dict[str, tuple[str, ...]] = {
    "departments": ("int:id", "text:department"),
    "jobs": ("int:id", "text:job"),
    "hired_employees": (
        "int:id",
        "text:name",
        "datetime:datetime",
        "int:department_id",
        "int:job_id",
    ),
}


@dataclass(frozen=True)
class Row:
    """One non-blank record: where it starts, its text, its typed values or what is wrong."""

    line: int
    raw: str
    values: tuple[Any, ...] | None
    faults: frozenset[str]  # "record" or the names of the columns at fault
    fields: int


@dataclass
class Expected:
    """The outcome a correct pipeline produces for one file."""

    table: str
    rows: list[Row] = field(default_factory=list)
    superseded: dict[int, int] = field(default_factory=dict)  # line → line of the winning row
    final: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # id → values

    @property
    def rows_total(self) -> int:
        return len(self.rows)

    @property
    def rows_valid(self) -> int:
        return len(self.final)

    @property
    def rows_rejected(self) -> int:
        return self.rows_total - self.rows_valid

    @property
    def bad_lines(self) -> set[int]:
        return {r.line for r in self.rows if r.values is None} | set(self.superseded)


def _int_ok(text: str) -> bool:
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return False
    return not (len(text) > 1 and text[0] == "0") and 1 <= int(text) <= ID_MAX


def _datetime_ok(text: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", text, re.ASCII):
        return False
    y, mo, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
    h, mi, s = int(text[11:13]), int(text[14:16]), int(text[17:19])
    try:
        datetime(y, mo, d, h, mi, s)
    except ValueError:
        return False
    return True


def _text_ok(text: str) -> bool:
    # No control character (Unicode Cc) but a line break, LF or CRLF.
    controls = [
        c for c in text.replace("\r\n", "\n") if c != "\n" and unicodedata.category(c) == "Cc"
    ]
    return 1 <= len(text) <= TEXT_MAX and not text.isspace() and not controls


def _value(kind: str, text: str) -> Any:
    return int(text) if kind == "int" else text


def _record_lines(text: str) -> list[tuple[int, int]]:
    """(first line, last line) of each record, as a lenient csv.reader splits them."""
    pieces = text.split("\n")
    lines = [p + "\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    reader = csv.reader(iter(lines), strict=False)
    spans, start = [], 1
    for _ in reader:
        spans.append((start, reader.line_num))
        start = reader.line_num + 1
    return spans


def _judge(kinds: tuple[str, ...], first: int, raw: bytes, body: bytes) -> Row | None:
    """One record's verdict; None for a blank line, which is not a row."""
    shown = raw.decode("utf-8", "replace")
    broken = Row(first, shown, None, frozenset({"record"}), 0)
    if len(raw) > MAX_RECORD_BYTES:
        return broken
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        return broken
    if decoded == "":
        return None
    if "\x00" in decoded:
        return broken
    try:
        fields = next(csv.reader([decoded.replace("\r", LONE_CR)], strict=True))
    except csv.Error:
        return broken
    fields = [f.replace(LONE_CR, "\r") for f in fields]
    if len(fields) != len(kinds):
        return Row(first, shown, None, frozenset({"record"}), len(fields))
    checks = {"int": _int_ok, "text": _text_ok, "datetime": _datetime_ok}
    faults = frozenset(
        spec.split(":")[1]
        for spec, value in zip(kinds, fields, strict=True)
        if not checks[spec.split(":")[0]](value)
    )
    values = None
    if not faults:
        values = tuple(_value(s.split(":")[0], v) for s, v in zip(kinds, fields, strict=True))
    return Row(first, shown, values, faults, len(fields))


def _names_columns(table: str, line: bytes) -> bool:
    """The line is the table's column names, one field each (case and spaces aside)."""
    names = [spec.split(":")[1] for spec in KINDS[table]]
    try:
        fields = next(csv.reader([line.decode("utf-8")]))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return False
    return [f.strip().lower() for f in fields] == names


def expect(table: str, data: bytes) -> Expected:
    """The rows, rejections and final table content the rules give for ``data``."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # README: a UTF-16 BOM is always honoured
        # README: a byte the encoding does not define rejects its own row, so it stands for a
        # byte that is never valid UTF-8 (a truncated last code unit is such a byte).
        text = data.decode("utf-16", errors=_BAD_BYTE)
        data = text.encode("utf-8", errors="surrogateescape")
    has_bom = data.startswith(BOM.encode())
    text = data.decode("utf-8", "surrogateescape")
    if has_bom:
        text = text[1:]
    # A lone CR (not before LF) is data; the one at the very end of the file is a cut CRLF.
    if text.endswith("\r"):
        text = text[:-1]
    text = re.sub(r"\r(?!\n)", LONE_CR, text)
    byte_lines = data.split(b"\n")
    result = Expected(table)
    for first, last in _record_lines(text):
        raw = b"\n".join(byte_lines[first - 1 : last])
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        body = raw[3:] if first == 1 and has_bom else raw
        row = _judge(KINDS[table], first, raw, body)
        if row is not None and first == 1 and _names_columns(table, body) and row.values is None:
            continue  # a header line (README: the first line naming the columns) is not a row
        if row is not None:
            result.rows.append(row)
    last_line: dict[int, int] = {}
    for row in result.rows:
        if row.values is not None:
            last_line[row.values[0]] = row.line
            result.final[row.values[0]] = row.values
    # A superseded row names the row that wins in the end: the last valid one with its id.
    for row in result.rows:
        if row.values is not None and last_line[row.values[0]] != row.line:
            result.superseded[row.line] = last_line[row.values[0]]
    return result
