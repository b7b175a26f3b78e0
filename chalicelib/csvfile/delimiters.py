"""Rewriting a CSV separated by ``;``, tabs or ``|`` into the comma form the pipeline reads.

The rewrite happens before records are found, so every later stage (record finding, the fast
path, the schema checks, the warehouse) sees one form only. Each record keeps its line breaks,
so line numbers do not change. A well-formed record is rewritten field by field: a field is
quoted exactly when a comma-separated file needs it (it holds a comma, a quote or a line break),
as Python's ``csv`` writer does. A record whose quoting is broken is rewritten by swapping its
delimiter and its commas, which keeps the breakage where it was, so it is rejected for the same
reason; its rejected text then shows the swap.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chalicelib.csvfile.boundaries import MAX_RECORD_BYTES, QUOTED, START, scan
from chalicelib.csvfile.decoding import IN_BYTES, Filter

if TYPE_CHECKING:
    from chalicelib.csvfile.boundaries import Source

_NEEDS_QUOTES = re.compile(rb'[,"\r\n]')
# A record longer than this that is still open is past any row's size: it is streamed with its
# delimiters swapped (and rejected as too long) instead of being held whole.
_HOLD_BYTES = 2 * MAX_RECORD_BYTES


class Delimited(Filter):
    """``source`` (UTF-8 CSV separated by ``delimiter``, without a byte order mark: see
    ``decoding.WithoutBom``) as comma-separated CSV."""

    def __init__(self, source: Source, delimiter: str) -> None:
        super().__init__(source)
        d = delimiter.encode()
        self._d = d[0]
        self._to_comma = bytes.maketrans(d, b",")
        self._swap = bytes.maketrans(d + b",", b"," + d)
        e = re.escape(d)
        # Lines without quotes or lone CRs are rewritten a stretch at a time, in C: a field
        # holding a comma gets a quote after the separator before it and (the same, on the
        # reversed bytes) after its end; then the delimiters change.
        self._simple = re.compile(rb'(?:[^"\r\n]*+\r?\n)*+')
        ahead = rb"(?=[^%s\r\n,]*+,)" % e
        self._quote_after = [
            (re.compile(re.escape(sep) + ahead), sep.replace(b"\\", b"\\\\") + b'"')
            for sep in (d, b"\r", b"\n")
        ]
        field = rb'(?:"(?:[^"]|"")*+"|(?!")[^%s\n]*+)' % e
        self._record = re.compile(rb"%s(?:%s%s)*+\r?(?=\n)" % (field, e, field))
        self._field = re.compile(rb'"((?:[^"]|"")*+)"|([^%s\n]*+)' % e)
        self._rest = b""
        self._swapping: int | None = None  # the quoting state while streaming a long record

    def _more(self) -> bytes | None:
        block = self._source.read(IN_BYTES)
        if not block:
            if not self._rest:
                return None
            # The last record has no line break: give it one to read it, then take it back.
            data, self._rest = self._rest + b"\n", b""
            out = self._convert(data, final=True)
            return out[:-1]
        data, self._rest = self._rest + block, b""
        return self._convert(data, final=False)

    def _convert(self, data: bytes, *, final: bool) -> bytes:
        out: list[bytes] = []
        pos, end = 0, len(data)
        while pos < end:
            if self._swapping is not None:
                stop = self._streamed_end(data, pos)
                out.append(data[pos:stop].translate(self._swap))
                pos = stop
                continue
            stop = self._quote_free(data, pos)
            if stop > pos:
                out.append(self._quick(data[pos:stop]))
                pos = stop
                continue
            record = self._record.match(data, pos)
            if record is not None:
                out.append(self._rewrite(data[pos : record.end()]))
                out.append(b"\n")
                pos = record.end() + 1
                continue
            stop = self._record_end(data, pos)
            if stop >= 0:  # a whole record whose quoting is broken
                out.append(data[pos:stop].translate(self._swap))
                pos = stop
            elif final or end - pos > _HOLD_BYTES:
                self._swapping = START
            else:  # the record goes on in the next block
                self._rest = data[pos:]
                break
        return b"".join(out)

    def _quote_free(self, data: bytes, pos: int) -> int:
        """The end of the whole lines from ``pos`` that hold no quote and no lone CR."""
        quote = data.find(b'"', pos)
        stop = data.rfind(b"\n", pos, len(data) if quote < 0 else quote) + 1
        if stop > pos and data.count(b"\r", pos, stop) != data.count(b"\r\n", pos, stop):
            stop = self._simple.match(data, pos).end()  # type: ignore[union-attr]
        return stop

    def _quick(self, stretch: bytes) -> bytes:
        """Quote-free whole lines in the comma form."""
        if b"," in stretch:
            marked = stretch[::-1]  # a field's end, reversed, follows its separator
            for pattern, replacement in self._quote_after:
                marked = pattern.sub(replacement, marked)
            marked = b"\n" + marked[::-1]  # the first field follows a line break too
            for pattern, replacement in self._quote_after:
                marked = pattern.sub(replacement, marked)
            stretch = marked[1:]
        return stretch.translate(self._to_comma)

    def _rewrite(self, record: bytes) -> bytes:
        """A well-formed record (no line break after it) in the comma form."""
        term = b""
        if record.endswith(b"\r"):
            record, term = record[:-1], b"\r"
        cells: list[bytes] = []
        pos, end, d, match = 0, len(record), self._d, self._field.match
        while True:
            found = match(record, pos)
            assert found is not None  # the record pattern matched these fields
            quoted = found[1]
            value = found[2] if quoted is None else quoted.replace(b'""', b'"')
            if _NEEDS_QUOTES.search(value):
                value = b'"' + value.replace(b'"', b'""') + b'"'
            cells.append(value)
            pos = found.end()
            if pos >= end or record[pos] != d:
                break
            pos += 1
        if cells == [b""] and record:
            # A record of one quoted empty field ("") is a row (rejected: too few fields); left
            # bare it would become a blank line, which is not one.
            cells = [b'""']
        return b",".join(cells) + term

    def _record_end(self, data: bytes, pos: int) -> int:
        """Just past the line break that ends the record starting at ``pos``; -1 if not in
        ``data``."""
        state = START
        while True:
            eol = data.find(b"\n", pos)
            if eol < 0:
                return -1
            state = self._scan(data, pos, eol, state)
            if state != QUOTED:
                return eol + 1
            pos = eol + 1

    def _streamed_end(self, data: bytes, pos: int) -> int:
        """Where the record being streamed ends in ``data`` (its end, if it goes on)."""
        state = self._swapping if self._swapping is not None else START
        while True:
            eol = data.find(b"\n", pos)
            stop = len(data) if eol < 0 else eol
            state = self._scan(data, pos, stop, state)
            if eol < 0:
                self._swapping = state
                return len(data)
            if state != QUOTED:
                self._swapping = None
                return eol + 1
            pos = eol + 1

    def _scan(self, data: bytes, pos: int, stop: int, state: int) -> int:
        """The quoting state after ``data[pos:stop]``, with this delimiter."""
        return scan(data[pos:stop], state, self._d)
