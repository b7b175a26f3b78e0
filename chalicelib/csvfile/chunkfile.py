"""The chunk object format: runs of whole records, copied byte for byte from the file.

Split writes chunks with ``iter_chunks``; validate and load read them back with
``iter_sections`` and ``record_texts``. A run is a stretch of whole records exactly as they
appear in the file, headed by the line its first record starts on, so a validator can take it in
bulk; a record longer than ``MAX_RECORD_BYTES`` is stored on its own, cut short. Boundaries, line
numbers and record bytes are those of ``boundaries.iter_records``: tests hold the two together.
"""

from __future__ import annotations

import io
import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.csvfile.boundaries import (
    MAX_RECORD_BYTES,
    QUOTED,
    READ_BYTES,
    START,
    LineSource,
    Record,
    closed_fields,
    iter_records,
    read_record,
    scan,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Set as AbstractSet

# A run is closed at about this size, so a validator holds one small piece of a chunk at a time.
RUN_BYTES = 1024 * 1024
_LINES, _RUN, _CUT = b"L", b"R", b"C"
# A line on which every quoted field also closes ends outside quotes: it is a whole record. Lines
# this does not match (a quote inside a bare field, text after a closing quote, a field going on
# to the next line) take the quoting state machine instead.
_FIELDS = closed_fields() + r"\r?"
# A stretch of lines, each a whole record of at most MAX_RECORD_BYTES (possessive: no backtracking).
# A line without quotes is always such a record; the first branch takes it with one character
# class, about a quarter cheaper than following its fields, and leaves the others to the second.
_SIMPLE_LINES = re.compile(
    rb'(?:[^"\n]{0,%d}+\n|(?=[^\n]{0,%d}\n)%s\n)*+'
    % (MAX_RECORD_BYTES, MAX_RECORD_BYTES, _FIELDS.encode())
)
_WHOLE_TEXT = re.compile(_FIELDS)


@dataclass(frozen=True)
class Run:
    """Whole records as they are in the file; the first starts on ``first_line``.

    In a run of ``lines``, every line is a whole record (the split checked), so a reader can
    split it at line breaks without following quotes.
    """

    first_line: int
    data: bytes
    lines: bool = False


@dataclass(frozen=True)
class Chunk:
    """The body of one chunk object and what it holds."""

    data: bytes
    records: int
    first_line: int
    last_line: int  # the line its last record starts on


class _ChunkBuilder:
    """Collects records into runs and runs into one chunk body."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.parts: list[bytes] = []
        self.run: list[bytes] = []
        self.run_size = 0
        self.run_line = 0
        self.run_lines = True
        self.records = 0
        self.size = 0
        self.first_line = 0
        self.last_line = 0

    def add(self, raw: bytes, records: int, line: int, last_line: int, *, lines: bool) -> None:
        """Add ``records`` whole records, the first on ``line`` and the last on ``last_line``.

        ``lines`` says each of them is one line (no line break inside quotes, no odd quotes).
        """
        self.run_lines = self.run_lines and lines
        if not self.run:
            self.run_line = line
            if not self.records:
                self.first_line = line
        self.run.append(raw)
        self.run_size += len(raw)
        self.records += records
        self.last_line = last_line
        if self.run_size >= RUN_BYTES:
            self._close_run()

    def add_cut(self, record: Record) -> None:
        self._close_run()
        if not self.records:
            self.first_line = record.line
        head = b"%s %d %d %d\n" % (_CUT, record.line, record.size, len(record.data))
        self.parts += (head, record.data, b"\n")
        self.size += len(head) + len(record.data) + 1
        self.records += 1
        self.last_line = record.line

    def _close_run(self) -> None:
        if self.run:
            kind = _LINES if self.run_lines else _RUN
            head = b"%s %d %d\n" % (kind, self.run_line, self.run_size)
            self.parts.append(head)
            self.parts += self.run
            self.size += len(head) + self.run_size
            self.run, self.run_size, self.run_lines = [], 0, True

    def room(self, max_records: int, max_bytes: int) -> tuple[int, int]:
        """How many more records, and bytes, this chunk takes."""
        return max_records - self.records, max_bytes - self.size - self.run_size

    def flush(self) -> Chunk:
        self._close_run()
        chunk = Chunk(b"".join(self.parts), self.records, self.first_line, self.last_line)
        self._reset()
        return chunk


class _Rest:
    """Reads the rest of a buffer, then the stream, line by line: for one record read with care."""

    def __init__(self, data: bytes, pos: int, stream: LineSource) -> None:
        self.data, self.pos, self._stream = data, pos, stream

    def readline(self, limit: int) -> bytes:
        data, pos = self.data, self.pos
        if pos >= len(data):
            return self._stream.readline(limit)
        eol = data.find(b"\n", pos, pos + limit)
        if eol >= 0:
            self.pos = eol + 1
        elif len(data) - pos >= limit:
            self.pos = pos + limit
        else:
            self.pos = len(data)
            return data[pos:] + self._stream.readline(limit - (len(data) - pos))
        return data[pos : self.pos]


def _line_end(data: bytes, pos: int, lines: int) -> int:
    """The offset just past the ``lines``-th line break at or after ``pos``."""
    for _ in range(lines):
        pos = data.index(b"\n", pos) + 1
    return pos


def iter_chunks(
    stream: LineSource,
    max_records: int,
    max_bytes: int,
    first_line: int = 1,
    read_bytes: int = READ_BYTES,
) -> Iterator[Chunk]:
    """Cut ``stream`` into chunks of ``max_records`` records (fewer once ``max_bytes`` is reached).

    Stretches of simple lines (each a whole record, not too long) are found by one regular
    expression over a block and copied as they are; any other record is read with
    ``read_record``, exactly as ``iter_records`` would.
    """
    builder = _ChunkBuilder()
    line = first_line
    data, pos, eof = b"", 0, False
    simple = _SIMPLE_LINES.match
    while True:
        found = simple(data, pos)
        end = found.end() if found else pos  # it always matches, if only the empty string
        if end > pos:
            records, room = builder.room(max_records, max_bytes)
            if end - pos > room:  # up to the line that crosses the byte limit
                end = data.index(b"\n", pos + max(room, 1) - 1) + 1
            count = data.count(b"\n", pos, end)
            if count > records:
                end, count = _line_end(data, pos, records), records
            builder.add(data[pos:end], count, line, line + count - 1, lines=True)
            line += count
            pos = end
        elif pos < len(data) and (
            eof or data.find(b"\n", pos) >= 0 or len(data) - pos > MAX_RECORD_BYTES + 2
        ):
            # Not a simple line (quoted line breaks, odd quotes, too long), or the last one.
            rest = _Rest(data, pos, stream)
            record, raw, line = read_record(rest.readline(read_bytes), rest.readline, line)
            data, pos = rest.data, rest.pos
            if raw is None:
                builder.add_cut(record)
            else:
                builder.add(raw, 1, record.line, record.line, lines=False)
        elif not eof:
            block = stream.read(read_bytes)
            data, pos, eof = data[pos:] + block, 0, not block
            continue
        else:
            break
        if min(builder.room(max_records, max_bytes)) <= 0:
            yield builder.flush()
    if builder.records:
        yield builder.flush()


def iter_sections(data: bytes) -> Iterator[Run | Record]:
    """The runs and cut records of a chunk body, in order.

    Raises:
        ValueError: ``data`` is not a chunk body.
    """
    pos, end = 0, len(data)
    while pos < end:
        eol = data.find(b"\n", pos)
        head = data[pos:eol].split() if eol >= 0 else []
        try:
            kind, numbers = head[0], [int(n) for n in head[1:]]
            if kind in (_LINES, _RUN) and len(numbers) == 2:
                first_line, length = numbers
                start, pos = eol + 1, eol + 1 + length
                section: Run | Record = Run(first_line, data[start:pos], kind == _LINES)
            elif kind == _CUT and len(numbers) == 3:
                line, size, length = numbers
                start, pos = eol + 1, eol + 2 + length
                section = Record(line, data[start : pos - 1], size)
                if data[pos - 1 : pos] != b"\n":
                    raise ValueError
            else:
                raise ValueError
        except (IndexError, ValueError):
            raise ValueError(
                f"corrupt chunk section at byte {pos}: {data[pos : pos + 40]!r}"
            ) from None
        if pos > end or length < 0:
            raise ValueError(f"corrupt chunk: section at byte {start} runs past the end")
        yield section


def record_texts(run: Run) -> Iterator[tuple[int, str]]:
    """(line, text) of each record of ``run``, as ``iter_records`` would find them.

    Raises:
        UnicodeDecodeError: the run is not UTF-8 (read its records as bytes instead).
    """
    if run.lines:
        return zip(itertools.count(run.first_line), line_texts(run), strict=False)
    return _record_texts(run.data.decode("utf-8"), run.first_line)


def line_texts(run: Run) -> list[str]:
    """The text of each record of a run of ``lines`` (the n-th starts on ``first_line + n``).

    Raises:
        UnicodeDecodeError: the run is not UTF-8 (read its records as bytes instead).
    """
    lines = lines_text(run).split("\n")
    lines.pop()  # '' after the last line break
    return lines


def lines_text(run: Run) -> str:
    """A run of ``lines`` as text, each record ending in LF (CRLF line breaks become LF).

    Raises:
        UnicodeDecodeError: the run is not UTF-8 (read its records as bytes instead).
    """
    text = run.data.decode("utf-8")
    if "\r" in text:
        # Every line is a whole record, so every CRLF is a line break, never data.
        text = text.replace("\r\n", "\n")
    return text


def _record_texts(text: str, line: int) -> Iterator[tuple[int, str]]:
    lines = text.split("\n")
    tail = lines.pop()  # what follows the last line break: '' or a last line without one
    whole = _WHOLE_TEXT.fullmatch
    i, n = 0, len(lines)
    while i < n:
        body = lines[i]
        if '"' not in body or whole(body):
            yield line, body[:-1] if body[-1:] == "\r" else body
            line += 1
            i += 1
            continue
        # A quoted field may go on over the next lines.
        state = scan(body.encode(), START)
        j = i
        while state == QUOTED and j + 1 < n:
            j += 1
            state = scan(lines[j].encode(), state)
        if state == QUOTED:  # never closed: the record runs to the end of the file
            record = "\n".join([*lines[i:], tail])
            yield line, record[:-1] if record[-1:] == "\r" else record
            return
        record = "\n".join(lines[i : j + 1])
        yield line, record[:-1] if record[-1:] == "\r" else record
        line += j - i + 1
        i = j + 1
    if tail:
        yield line, tail[:-1] if tail[-1:] == "\r" else tail


def records_at(run: Run, lines: AbstractSet[int]) -> Iterator[Record]:
    """The records of ``run`` that start on one of ``lines``, in order."""
    if not run.lines:
        found = iter_records(io.BytesIO(run.data), run.first_line)
        yield from (record for record in found if record.line in lines)
        return
    # Every line is a record: pick them by position, without reading the others.
    pieces = run.data.split(b"\n")
    last = run.first_line + len(pieces) - 2  # the piece after the last line break is empty
    for line in sorted(n for n in lines if run.first_line <= n <= last):
        data = pieces[line - run.first_line]
        data = data[:-1] if data.endswith(b"\r") else data
        yield Record(line, data, len(data))
