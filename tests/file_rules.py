"""What README.md's rules for files ("The files", "Files as they come") make of one file.

Written from the README alone, for tests to hold the pipeline to; it imports nothing from
``chalicelib``. Compression is undone with one-shot library calls, text is decoded whole with
Python's codecs, and records and fields are found by the few plain loops below, which say the
README's quoting rules in code. Nothing here streams, cuts or hands on: it reads the whole file
at once, as a person reading the README would.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import zstandard

MAX_RECORD_BYTES = 64 * 1024
ID_MAX = 2**63 - 1
TEXT_MAX = 256
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# README table "The files": each table's columns, in order, with what each holds.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "departments": (("id", "id"), ("department", "text")),
    "jobs": (("id", "id"), ("job", "text")),
    "hired_employees": (
        ("id", "id"),
        ("name", "text"),
        ("datetime", "datetime"),
        ("department_id", "id"),
        ("job_id", "id"),
    ),
}
_CODECS = {"utf-8": "utf-8", "cp1252": "cp1252", "latin-1": "latin-1"}
# A byte the encoding does not define stands as a lone surrogate, which no text holds.
_NOT_TEXT = "oracle-not-text"
codecs.register_error(_NOT_TEXT, lambda e: ("\udcff" * (e.end - e.start), e.end))  # type: ignore[attr-defined]
_SURROGATE = re.compile("[\ud800-\udfff]")
_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


@dataclass(frozen=True)
class Row:
    """One record that is a row: the line it starts on and its verdict."""

    line: int
    shown: str | None  # its text as the rejects file shows it, when that is plain to say
    values: tuple[Any, ...] | None  # typed, when valid
    faults: frozenset[str] = frozenset()  # "record", or the columns at fault
    fields: int = 0  # how many fields it has, when its quoting holds
    # column → the "U+XXXX" of the control character that is the value's only fault
    controls: dict[str, str] = field(default_factory=dict)


@dataclass
class Reading:
    """What a correct pipeline makes of one file."""

    table: str
    failed: str | None = None  # why the upload fails (a phrase its error holds)
    compression: str | None = None
    encoding: str | None = None
    header_skipped: bool = False
    rows: list[Row] = field(default_factory=list)
    superseded: dict[int, int] = field(default_factory=dict)  # line → line of the row that wins
    final: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # id → values in the table

    @property
    def valid(self) -> dict[int, tuple[Any, ...]]:
        """Line → values of every valid row (superseded ones too: they are valid)."""
        return {r.line: r.values for r in self.rows if r.values is not None}

    @property
    def bad_lines(self) -> list[int]:
        """The lines the rejects file holds, in order."""
        return sorted({r.line for r in self.rows if r.values is None} | set(self.superseded))


def read(table: str, data: bytes, header: str, encoding: str, delimiter: str) -> Reading:
    """What the README says ``data``, uploaded to ``table`` with these options, gives."""
    reading = Reading(table)
    reading.compression = _codec(data)
    try:
        data = _all_of(reading.compression, data)
    except (EOFError, OSError, ValueError, zlib.error, zstandard.ZstdError):
        # "A corrupt or truncated compressed file fails the upload"
        reading.failed = f"{reading.compression} data"
        return reading
    # FF FE or FE FF after decompression: "UTF-16 with that byte order, whatever `encoding` says".
    if data.startswith(UTF16_BOMS):
        reading.encoding, text = "utf-16", data.decode("utf-16", _NOT_TEXT)
    elif encoding == "utf-16":
        reading.failed = "byte order mark"  # "utf-16 (BOM required)"
        return reading
    else:
        if encoding == "utf-8":
            data = data.removeprefix(UTF8_BOM)  # "a UTF-8 BOM at the start of the file is ignored"
        reading.encoding = encoding
        errors = "surrogateescape" if encoding == "utf-8" else _NOT_TEXT
        text = data.decode(_CODECS[encoding], errors)
    # A lone CR is data, but one that ends the file ends its last line.
    text = text.removesuffix("\r")
    records = [(line, record) for line, record in _records(text, delimiter) if record != ""]
    if records and _is_header(table, records[0][1], delimiter, header):
        reading.header_skipped = True
        records = records[1:]
    reading.rows = [_judge(table, line, record, delimiter) for line, record in records]
    last: dict[int, int] = {}
    for row in reading.rows:
        if row.values is not None:  # "if an id repeats within one file the last row wins"
            last[row.values[0]] = row.line
            reading.final[row.values[0]] = row.values
    reading.superseded = {
        r.line: last[r.values[0]]
        for r in reading.rows
        if r.values is not None and last[r.values[0]] != r.line
    }
    return reading


def _codec(data: bytes) -> str | None:
    """The compression the first bytes name ("Detected from the bytes")."""
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"BZh") and len(data) > 3 and data[3:4] in b"123456789":
        return "bzip2"
    if data.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return None


def _all_of(codec: str | None, data: bytes) -> bytes:
    """Every member, stream or frame of ``data``, decompressed."""
    if codec is None:
        return data
    if codec == "gzip":
        return gzip.decompress(data)
    if codec == "bzip2":
        return bz2.decompress(data)
    out = []
    while data:
        frame = zstandard.ZstdDecompressor().decompressobj()
        out.append(frame.decompress(data))
        if not frame.eof:
            raise EOFError("zstd frame cut short")
        data = frame.unused_data
    return b"".join(out)


def _records(text: str, delimiter: str) -> list[tuple[int, str]]:
    """(line it starts on, text without its line break) of each record, blank ones included.

    A record ends at a line break (LF; a CR before it belongs to the break) outside quotes; a
    quote opens a quoted field only at a field's start, and ``""`` inside one is a quote.
    """
    found: list[tuple[int, str]] = []
    i, line, end = 0, 1, len(text)
    while i < end:
        start, first = i, line
        quoted, field_start = False, True
        while i < end:
            c = text[i]
            if quoted:
                if c == '"' and text[i + 1 : i + 2] == '"':
                    i += 1  # an escaped quote: still inside
                elif c == '"':
                    quoted = False
                elif c == "\n":
                    line += 1
            elif c == "\n":
                break
            elif c == '"' and field_start:
                quoted = True
            field_start = not quoted and c == delimiter
            i += 1
        record = text[start:i]
        if i < end:  # ended by a line break
            record = record.removesuffix("\r")
            i += 1
            line += 1
        found.append((first, record))
    return found


def _fields(record: str, delimiter: str) -> list[str] | None:
    """The fields of a record; None if its quoting is broken (a quoted field that never
    closes, or text after a closing quote)."""
    fields: list[str] = []
    i, end = 0, len(record)
    while True:
        if record.startswith('"', i):
            value = []
            i += 1
            while True:
                close = record.find('"', i)
                if close < 0:
                    return None
                value.append(record[i:close])
                if record.startswith('"', close + 1):
                    value.append('"')
                    i = close + 2
                    continue
                i = close + 1
                break
            fields.append("".join(value))
            if i < end and record[i] != delimiter:
                return None
        else:
            stop = record.find(delimiter, i)
            stop = end if stop < 0 else stop
            fields.append(record[i:stop])
            i = stop
        if i >= end:
            return fields
        i += 1


def _is_header(table: str, record: str, delimiter: str, header: str) -> bool:
    """``header=yes`` skips the first record; ``auto`` only one whose fields name the table's
    columns (case and surrounding spaces aside) and which would be rejected as a row anyway."""
    if header == "yes":
        return True
    if header == "no":
        return False
    fields = _fields(record, delimiter)
    names = [name for name, _ in COLUMNS[table]]
    if fields is None or [f.strip().lower() for f in fields] != names:
        return False
    return _judge(table, 1, record, delimiter).values is None


def _judge(table: str, line: int, record: str, delimiter: str) -> Row:
    shown = _shown(record, delimiter)
    if len(record.encode("utf-8", "surrogatepass")) > MAX_RECORD_BYTES:
        return Row(line, None, None, frozenset({"record"}))  # "rejected unread"
    if _SURROGATE.search(record):  # a byte that is not text in the file's encoding
        return Row(line, None, None, frozenset({"record"}))
    if "\x00" in record:
        return Row(line, shown, None, frozenset({"record"}))
    fields = _fields(record, delimiter)
    if fields is None:
        return Row(line, shown, None, frozenset({"record"}))
    columns = COLUMNS[table]
    if len(fields) != len(columns):
        return Row(line, shown, None, frozenset({"record"}), len(fields))
    faults, controls = set(), {}
    for (name, kind), value in zip(columns, fields, strict=True):
        control = _control(value) if kind == "text" else None
        if not _valid(kind, value):
            faults.add(name)
        elif control is not None:  # its only fault: the reason names the character
            faults.add(name)
            controls[name] = control
    values = None
    if not faults:
        values = tuple(_typed(kind, v) for (_, kind), v in zip(columns, fields, strict=True))
    return Row(line, shown, values, frozenset(faults), len(fields), controls)


def _valid(kind: str, value: str) -> bool:
    if kind == "id":  # "integers from 1 to 2^63-1 written canonically"
        digits = value.isascii() and value.isdigit() and not value.startswith("0")
        return digits and len(value) <= 19 and 1 <= int(value) <= ID_MAX
    if kind == "datetime":  # "exactly YYYY-MM-DDTHH:MM:SSZ (UTC) and must exist"
        if not _MOMENT.fullmatch(value):
            return False
        try:
            datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return False
        return True
    return 1 <= len(value) <= TEXT_MAX and not value.isspace()  # "1-256 characters, not blank"


def _control(value: str) -> str | None:
    """The first control character (Unicode Cc) ``value`` holds, as U+XXXX; a line break (LF,
    CRLF) in a quoted field is allowed."""
    for i, c in enumerate(value):
        if c == "\n" or (c == "\r" and value[i + 1 : i + 2] == "\n"):
            continue
        if unicodedata.category(c) == "Cc":
            return f"U+{ord(c):04X}"
    return None


def _typed(kind: str, value: str) -> Any:
    return int(value) if kind == "id" else value


def _shown(record: str, delimiter: str) -> str | None:
    """The record as its rejects line shows it: in the comma form. "Records are rewritten to
    commas field by field, quoting a field when a comma file needs it; a record whose quoting
    is broken ... its delimiters and commas swap places"."""
    if delimiter == ",":
        return record
    fields = _fields(record, delimiter)
    if fields is None:
        return record.translate(str.maketrans({delimiter: ",", ",": delimiter}))
    if fields == [""]:
        return '""'  # one empty quoted field, else it would read as a blank line
    return ",".join(_comma_field(f) for f in fields)


def _comma_field(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
