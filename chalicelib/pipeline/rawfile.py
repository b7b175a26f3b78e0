"""Opening a raw object as the one form the pipeline reads: UTF-8, comma-separated, no header.

Owns the split stage's reading of what the user sent: what the first bytes say it is (refused
at once if it is a workbook, an archive, a PDF...), the decompression, the transcoding and the
delimiter rewrite an upload's options ask for, and the header line. A plain UTF-8 comma file
gets no filter at all. Cutting into chunks is ``split.py``'s.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.csvfile import boundaries, decoding, sniff
from chalicelib.csvfile.boundaries import READ_BYTES, Record
from chalicelib.csvfile.delimiters import Delimited
from chalicelib.csvfile.fields import FieldSyntaxError, parse_fields
from chalicelib.csvfile.rowcheck import RowChecker
from chalicelib.errors import UnreadableFileError
from chalicelib.tables import get_table

if TYPE_CHECKING:
    import io

    from chalicelib.csvfile.boundaries import Source
    from chalicelib.csvfile.options import FileOptions


_BLANK_LINES = re.compile(rb"(?:\r?\n)*")


@dataclass(frozen=True)
class OpenedFile:
    """A raw file ready to be cut into chunks, and what was found out on the way."""

    stream: io.BufferedReader
    first_line: int  # the file's line number of the first record left in ``stream``
    header_skipped: bool
    compression: sniff.Compression | None
    encoding: str  # the one read: the one asked for, or utf-16 if the file has its BOM

    def detected(self) -> dict[str, object]:
        """What the status of the upload shows about how the file was read."""
        return {
            "compression": self.compression,
            "encoding": self.encoding,
            "header_skipped": self.header_skipped,
        }


def open_raw(body: Source, table: str, options: FileOptions) -> OpenedFile:
    """``body`` (a raw object's bytes) as canonical CSV, its header line skipped if it has one.

    Raises:
        UnreadableFileError: the bytes are not a file the pipeline reads, or ``options`` do not
            fit them (``utf-16`` without a byte order mark).
    """
    # The first bytes are looked at in the read buffer, not taken from the stream: a plain file
    # is then read exactly as if nothing had looked.
    stream = boundaries.buffered(body)
    head = stream.peek(sniff.SNIFF_BYTES)[: sniff.SNIFF_BYTES]
    found = sniff.sniff(head)
    if found.refusal:
        raise UnreadableFileError(found.refusal)
    if found.compression:
        stream = boundaries.buffered(decoding.decompressed(stream, found.compression))
        head = stream.peek(sniff.SNIFF_BYTES)[: sniff.SNIFF_BYTES]
        inner = sniff.sniff(head)  # a workbook in a .gz is still a workbook
        if inner.refusal:
            raise UnreadableFileError(f"{found.compression} data that {inner.refusal}")
        if inner.compression:
            raise UnreadableFileError(
                f"compressed twice ({found.compression}, then {inner.compression}); "
                "compress the CSV once"
            )
    encoding = options.encoding
    if head.startswith(sniff.UTF16_BOMS):
        # FF FE and FE FF are not text in any encoding a CSV is saved in ("ÿþ" in Windows-1252):
        # a byte order mark says how the file is written, whatever the upload said.
        encoding = "utf-16"
    if encoding == "utf-16" and not head.startswith(sniff.UTF16_BOMS):
        raise UnreadableFileError(
            "encoding utf-16 needs a byte order mark (FF FE or FE FF) at the start of the file, "
            "and this file has none; save it as UTF-16 with a BOM, or as UTF-8"
        )
    if encoding == "utf-8" and head.startswith(decoding.UTF8_BOM):
        stream.read(len(decoding.UTF8_BOM))  # not text: it must not hide a quote in line 1
    if encoding != "utf-8" or options.delimiter != ",":
        source: Source = stream
        if encoding != "utf-8":
            source = decoding.Transcoded(source, encoding)
        if options.delimiter != ",":
            source = Delimited(source, options.delimiter)
        stream = boundaries.buffered(source)
    first_line, skipped = _skip_header(stream, table, options)
    return OpenedFile(stream, first_line, skipped, found.compression, encoding)


def _skip_header(stream: io.BufferedReader, table: str, options: FileOptions) -> tuple[int, bool]:
    """Consume the header record if there is one, with the blank lines before it (a blank line
    is not a row, so it is no header either); (the line the data starts on, skipped?)."""
    if options.header == "no":
        return 1, False
    if options.header == "yes":
        line = 1
        while piece := stream.readline(READ_BYTES):
            record, _, after = boundaries.read_record(piece, stream.readline, line)
            if record.data or record.truncated:
                return after, True
            line = after
        return line, False
    # The first bytes are in the read buffer whole (a megabyte, or the file): the first line
    # that is not blank is looked at there, and nothing is consumed unless it is a header.
    first = stream.peek(READ_BYTES)
    start = _BLANK_LINES.match(first).end()  # type: ignore[union-attr]
    eol = first.find(b"\n", start)
    if not is_header(table, first[start : eol if eol >= 0 else len(first)]):
        return 1, False
    stream.read(start)
    stream.readline(READ_BYTES)
    return first.count(b"\n", 0, start) + 2, True


@functools.cache
def _checker(table: str) -> RowChecker:
    return RowChecker(get_table(table))


def is_header(table: str, line: bytes) -> bool:
    """True if ``line`` (the first line, no line break) names the table's columns, and would be
    rejected as a row anyway: case and surrounding spaces do not count."""
    data = line.removesuffix(b"\r")
    try:
        text = data.decode("utf-8")
        fields = parse_fields(text)
    except (UnicodeDecodeError, FieldSyntaxError):
        return False
    names = get_table(table).column_names
    if [f.strip().lower() for f in fields] != [n.lower() for n in names]:
        return False
    verdict = _checker(table).check_record(Record(1, data, len(data)))
    return verdict is not None and verdict.values is None
