"""Finding CSV records in a byte stream without parsing or buffering the whole file.

A record ends at a line break that is not inside a quoted field, with the quoting rules of
Python's ``csv`` module (a quote only opens a field at the field's start, ``""`` is an escaped
quote). Line breaks are LF or CRLF. Records longer than ``MAX_RECORD_BYTES`` are cut short and
flagged; no valid row comes close to that size, so the cut never changes a row's verdict.
This module knows nothing about tables or S3.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# The widest valid row is 5 fields of at most 256 characters (4 bytes each in UTF-8, doubled by
# quoting), far below this; anything longer is rejected without keeping all of it in memory.
MAX_RECORD_BYTES = 64 * 1024
READ_BYTES = 1024 * 1024

# States of the quoting scanner; chunkfile.py follows START and QUOTED too.
START, _UNQUOTED, QUOTED, _QUOTE_IN_QUOTED = 0, 1, 2, 3
_QUOTE, _COMMA = ord('"'), ord(",")


class Source(Protocol):
    """Anything that hands out bytes: a file, a botocore StreamingBody."""

    def read(self, size: int | None = ..., /) -> bytes: ...


class LineSource(Protocol):
    """A byte stream that can also be read line by line."""

    def read(self, size: int | None = ..., /) -> bytes: ...

    def readline(self, size: int | None = ..., /) -> bytes: ...


@dataclass(frozen=True)
class Record:
    """One CSV record: the line it starts on (1-based), its bytes without the final line break."""

    line: int
    data: bytes
    size: int  # full size in bytes, before any cut

    @property
    def truncated(self) -> bool:
        return self.size > len(self.data)


def closed_fields(delimiter: str = ",") -> str:
    """A pattern for a line (no line break) on which every quoted field also closes: fields
    separated by ``delimiter``, each quoted (``""`` escapes a quote) or bare without quotes
    (possessive: no backtracking). A line it matches ends outside quotes, so it is a whole
    record; any other line needs ``scan``."""
    d = re.escape(delimiter)
    field = rf'(?:"(?:[^"\n]|"")*+"|[^"{d}\n]*+)'
    return rf"{field}(?:{d}{field})*+"


def scan(data: bytes, state: int, delimiter: int = _COMMA) -> int:
    """Run the CSV quoting state machine over ``data``; return the state after it.

    ``delimiter`` is the byte that separates fields (a comma unless the upload says otherwise).
    """
    if _QUOTE not in data:
        if state == QUOTED:
            return state
        if state in (START, _UNQUOTED):
            return _UNQUOTED if data and data[-1] != delimiter else (START if data else state)
    for byte in data:
        if state == QUOTED:
            if byte == _QUOTE:
                state = _QUOTE_IN_QUOTED
        elif byte == delimiter:
            state = START
        elif state in (START, _QUOTE_IN_QUOTED):
            state = QUOTED if byte == _QUOTE else _UNQUOTED
    return state


class _Raw(io.RawIOBase):
    """Adapts anything with ``read(n)`` (a botocore StreamingBody) to a raw IO stream."""

    def __init__(self, source: Source) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        # Filled to the end unless the source ends: a source may hand out less than asked (a
        # decompressor, one member of a multi-member file at a time), and what ``peek`` shows
        # of a file's start (its magic, BOM and header line) must not stop at such a seam.
        filled, size = 0, len(buffer)
        while filled < size:
            data = self._source.read(size - filled)
            if not data:
                break
            buffer[filled : filled + len(data)] = data
            filled += len(data)
        return filled


def buffered(source: Source) -> io.BufferedReader:
    """Wrap a byte source so it can be read line by line."""
    return io.BufferedReader(_Raw(source), buffer_size=READ_BYTES)


def iter_records(stream: LineSource, first_line: int = 1) -> Iterator[Record]:
    """Yield the records of ``stream`` in order, holding at most one record in memory."""
    line = first_line
    readline = stream.readline
    while piece := readline(READ_BYTES):
        record, _, line = read_record(piece, readline, line)
        yield record


def read_record(
    piece: bytes, readline: Callable[[int], bytes], line: int
) -> tuple[Record, bytes | None, int]:
    """Read the record that starts with ``piece`` (a line, or the first part of a long one).

    Returns the record, its exact bytes in the file (line break included) unless it was cut, and
    the line the next record starts on.
    """
    start = line
    parts: list[bytes] = []
    kept = size = 0
    raw: list[bytes] | None = []
    raw_size = 0
    state = START
    while True:
        if raw is not None:
            raw.append(piece)
            raw_size += len(piece)
            if raw_size > MAX_RECORD_BYTES + 2:  # past any line break: this record will be cut
                raw = None
        ends_line = piece.endswith(b"\n")
        body = piece[:-1] if ends_line else piece
        state = scan(body, state)
        if ends_line:
            line += 1
            if state != QUOTED:
                if body.endswith(b"\r"):
                    body = body[:-1]
                parts, kept = _keep(parts, kept, body)
                size += len(body)
                data = b"".join(parts)
                break
        parts, kept = _keep(parts, kept, piece)
        size += len(piece)
        piece = readline(READ_BYTES)
        if not piece:
            data = b"".join(parts)
            if data.endswith(b"\r") and len(data) == size:
                data, size = data[:-1], size - 1
            break
    record = Record(start, data, size)
    whole = None if raw is None or record.truncated else b"".join(raw)
    return record, whole, line


def ends_in_quoted_field(data: bytes) -> bool:
    """True if ``data`` stops inside a quoted field: a quote opened and never closed."""
    return scan(data, START) == QUOTED


def _keep(parts: list[bytes], kept: int, data: bytes) -> tuple[list[bytes], int]:
    room = MAX_RECORD_BYTES - kept
    if room > 0 and data:
        parts.append(data[:room])
        kept += min(room, len(data))
    return parts, kept
