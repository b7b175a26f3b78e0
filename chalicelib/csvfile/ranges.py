"""Planning chunks as byte ranges of the raw file, without copying a byte of it.

The planner reads the file once, as a stream, and finds where chunks can start and end: on
record boundaries (a line break outside quotes, with the quoting rules of ``boundaries.scan``
and the upload's delimiter). A chunk ends after ``max_records`` records, or at the first record
end at or past the next multiple of ``max_bytes`` in the file (the byte grid), whichever comes
first. The grid is counted from the file's first byte, not from the chunk's, so where a chunk
ends depends only on where the grid cell it is in began: a reader of one part of the file can
plan it without the parts before it (``parallel.py``). It holds one read block at a time,
whatever the size of a record. A chunk is then read back by its byte range alone
(``pipeline/chunks.py``): the records of the ranges, one after the other, are the records of the
file, with the same line numbers. This module knows nothing about S3 or tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.csvfile.boundaries import QUOTED, START, closed_fields, scan
from chalicelib.csvfile.decoding import UTF8_BOM

if TYPE_CHECKING:
    from collections.abc import Iterator

    from chalicelib.csvfile.boundaries import Source

PLAN_READ_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Span:
    """The bytes ``[start, end)`` of the file: whole records, the first on ``first_line``."""

    start: int
    end: int
    first_line: int
    last_line: int  # the line its last record starts on
    records: int

    def to_json(self) -> dict[str, int]:
        return {
            "start": self.start,
            "end": self.end,
            "first_line": self.first_line,
            "last_line": self.last_line,
            "records": self.records,
        }


def _simple_lines(delimiter: bytes) -> re.Pattern[bytes]:
    """Whole lines each of which is a whole record: no quote at all, or every quoted field
    closed on the line (possessive: no backtracking). Other lines take the state machine."""
    fields = closed_fields(delimiter.decode()).encode()
    return re.compile(rb'(?:[^"\n]*+\n|%s\n)*+' % fields)


@dataclass(frozen=True)
class OpenSpan:
    """A chunk that the end of a part of the file left unfinished: it began at ``start`` on
    ``first_line``, holds ``records`` whole records, then a record begun on ``record_line`` whose
    quoted field goes on past the part's end."""

    start: int
    first_line: int
    records: int
    record_line: int


class Planner:
    """Finds chunk boundaries in a stream that starts at byte ``offset`` (a record boundary) of
    the file, on line ``line``.

    ``skip_bom`` says the file is UTF-8, whose leading byte order mark is not text: the first
    chunk starts after it, so no reader of a range ever sees it. ``skip_record`` and ``spans``
    read on from where the last left off; ``offset`` and ``line`` are always where the next
    chunk would start. ``quoted`` says the stream starts inside a quoted field of a record begun
    before it (``skip_record`` then steps to that record's end). ``part`` says the stream ends
    where a part of the file ends, not the file: a record still open there is left open
    (``open_span``), not ended.
    """

    def __init__(
        self,
        source: Source,
        *,
        offset: int = 0,
        line: int = 1,
        delimiter: str = ",",
        skip_bom: bool = False,
        read_bytes: int = PLAN_READ_BYTES,
        quoted: bool = False,
        part: bool = False,
    ) -> None:
        self._source = source
        self._read_bytes = read_bytes
        self._delimiter = delimiter.encode()[0]
        self._simple = _simple_lines(delimiter.encode()).match
        self._data, self._pos, self._base, self._eof = b"", 0, offset, False
        self._line = line
        self._in_record = quoted  # inside a record that is not a simple line
        self._quoting = QUOTED if quoted else START  # the quoting state inside it
        self._part = part
        self._record_line = line  # the line it starts on
        self._records = 0  # records taken since the last boundary handed out
        self._last_line = line
        self.offset, self.line = offset, line
        self.finished = False  # the end of the file was reached: no span comes after the last
        self._skip_bom = skip_bom and offset == 0

    def _start(self) -> None:
        """Step over a UTF-8 byte order mark at the start of the file, once."""
        if self._skip_bom:
            self._skip_bom = False
            while len(self._data) < len(UTF8_BOM) and self._fill():
                pass
            if self._data.startswith(UTF8_BOM):
                self._pos = len(UTF8_BOM)
                self.offset = self._here()

    def first_line_bytes(self, limit: int) -> bytes:
        """The first line ahead (without its line break), or its first ``limit`` bytes."""
        self._start()
        while True:
            data, pos = self._data, self._pos
            eol = data.find(b"\n", pos, pos + limit)
            if eol >= 0:
                return data[pos:eol]
            if len(data) - pos >= limit or not self._fill():
                return data[pos : pos + limit]

    def skip_blank_lines(self) -> None:
        """Step over the blank lines ahead (LF or CRLF alone): not rows, nor a header."""
        self._start()
        while True:
            data, pos = self._data, self._pos
            if len(data) - pos < 2 and self._fill():
                continue
            if data.startswith(b"\n", pos):
                self._pos += 1
            elif data.startswith(b"\r\n", pos) or data[pos:] == b"\r":
                self._pos += len(data[pos : pos + 2])  # a CR that ends the file ends its line
            else:
                break
            self._line += 1
        self.offset, self.line = self._here(), self._line

    def skip_record(self) -> bool:
        """Step over one record (a header); False if there is none."""
        return next(self.spans(1, 1), None) is not None

    def spans(self, max_records: int, max_bytes: int) -> Iterator[Span]:
        """The spans from here on, each ``max_records`` records or, once the next multiple of
        ``max_bytes`` in the file is reached, up to the end of the record that reaches it."""
        self._start()  # the grid cell is the data's, after a byte order mark, as a part's is
        grid = (self.offset // max_bytes + 1) * max_bytes
        while True:
            if not self._step(max_records - self._records, grid - self._here()):
                break
            if (not self._in_record and self._records) and (
                self._records >= max_records or self._here() >= grid
            ):
                yield self._cut()
                grid = (self.offset // max_bytes + 1) * max_bytes
        self.finished = True
        if self._records and not (self._part and self._in_record):
            yield self._cut()

    def open_span(self) -> OpenSpan | None:
        """The chunk the end of a ``part`` left unfinished, once ``spans`` has run out."""
        if not (self._part and self._in_record):
            return None
        return OpenSpan(self.offset, self.line, self._records, self._record_line)

    @property
    def lines_read(self) -> int:
        """The line the stream's end is on (as ``line`` counts them)."""
        return self._line

    def _here(self) -> int:
        return self._base + self._pos

    def _cut(self) -> Span:
        end = self._here()
        span = Span(self.offset, end, self.line, self._last_line, self._records)
        self.offset, self.line, self._records = end, self._line, 0
        return span

    def _fill(self) -> bool:
        """Read another block; False at the end of the stream."""
        if self._eof:
            return False
        block = self._source.read(self._read_bytes)
        self._base += self._pos
        self._data, self._pos, self._eof = self._data[self._pos :] + block, 0, not block
        return True

    def _step(self, room_records: int, room_bytes: int) -> bool:
        """Take some records, at most ``room_records`` (at least one) and about ``room_bytes``
        bytes; False at the end of the file."""
        self._start()
        data, pos = self._data, self._pos
        if not self._in_record:
            lines_end = data.rfind(b"\n", pos) + 1
            if lines_end > pos:
                if data.find(b'"', pos, lines_end) < 0:
                    end = lines_end
                else:
                    end = self._simple(data, pos, lines_end).end()  # type: ignore[union-attr]
                if end > pos:
                    self._take_lines(data, pos, end, max(room_records, 1), room_bytes)
                    return True
            if pos >= len(data):
                return self._fill()
            # A record that is not a simple line starts here: follow its quotes.
            self._in_record, self._quoting, self._record_line = True, START, self._line
        eol = data.find(b"\n", pos)
        if eol < 0:
            if self._eof and self._part:
                self._pos = len(data)
                if not self._in_record or self._quoting != QUOTED:
                    # A part ends just after a line break, so only a quoted record is left.
                    raise ValueError("a part of the file must end after a line break")
                return False
            if self._eof:  # the last record, without a line break
                self._pos = len(data)
                self._end_record()
                return True
            self._quoting = scan(data[pos:], self._quoting, self._delimiter)
            self._pos = len(data)
            return self._fill()
        self._quoting = scan(data[pos:eol], self._quoting, self._delimiter)
        self._line += 1
        self._pos = eol + 1
        if self._quoting != QUOTED:
            self._end_record()
        return True

    def _take_lines(self, data: bytes, pos: int, end: int, records: int, room: int) -> None:
        """Take the whole-record lines ``data[pos:end]``, or their first ``records`` lines, or
        up to the line that crosses ``room`` bytes."""
        if end - pos > room:
            end = data.index(b"\n", pos + max(room, 1) - 1) + 1
        count = data.count(b"\n", pos, end)
        if count > records:
            end, count = _after_line_break(data, pos, end, records), records
        self._last_line = self._line + count - 1
        self._line += count
        self._records += count
        self._pos = end

    def _end_record(self) -> None:
        self._in_record = False
        self._records += 1
        self._last_line = self._record_line


def _after_line_break(data: bytes, pos: int, end: int, n: int) -> int:
    """Just past the ``n``-th line break of ``data[pos:end]`` (which has more than ``n``).

    Lines of one file are of similar length: a guess from the average is one count (in C) away,
    and the few line breaks between the guess and the answer are stepped over one by one.
    """
    total = data.count(b"\n", pos, end)
    guess = pos + (end - pos) * n // total
    guess = data.rfind(b"\n", pos, guess) + 1 or pos  # a line start at or before the guess
    seen = data.count(b"\n", pos, guess)
    while seen < n:
        guess = data.index(b"\n", guess) + 1
        seen += 1
    while seen > n:
        guess = data.rindex(b"\n", pos, guess - 1) + 1
        seen -= 1
    return guess
