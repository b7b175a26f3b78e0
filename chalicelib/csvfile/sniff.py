"""What a file is, from its first bytes: plain text, a compressed stream, or something else.

Owns the magic numbers. A name can lie (``data.csv`` that is a workbook, ``x.gz`` that is not
compressed); the bytes cannot, so only they are looked at. Compressed streams the pipeline reads
are named by their codec; formats it does not read get a sentence saying what the file looks
like and what to do with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Compression = Literal["gzip", "bzip2", "zstd"]
# How many bytes of the start of a file are enough to tell (a workbook's "xl/" entries come
# after a few small members of its zip archive).
SNIFF_BYTES = 64 * 1024
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

_COMPRESSED: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_SAVE_AS_CSV = "save it as CSV (comma, semicolon, tab or | separated) and send that"
_RECOMPRESS = "send the CSV uncompressed, or compressed with gzip, bzip2 or zstd"
# (magic at offset 0, what it looks like, what to do)
_OTHERS: tuple[tuple[bytes, str, str], ...] = (
    (b"PAR1", "a Parquet file", "export the table as CSV"),
    (b"%PDF", "a PDF document", "export the data as CSV"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an Excel 97-2003 workbook (xls) or another OLE2 document",
        _SAVE_AS_CSV,
    ),
    (b"\xfd7zXZ\x00", "an xz-compressed file", _RECOMPRESS),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", _RECOMPRESS),
    (b"Rar!\x1a\x07", "a RAR archive", _RECOMPRESS),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "send the CSV file itself"),
    (b"\xff\xd8\xff", "a JPEG image", "send the CSV file itself"),
    (b"SQLite format 3\x00", "an SQLite database", "export the table as CSV"),
    (b"Obj\x01", "an Avro file", "export the table as CSV"),
    (b"ORC", "an ORC file", "export the table as CSV"),
)
_ODS_MIMETYPE = b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet"


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes say: a codec to undo, a refusal, or neither (plain bytes)."""

    compression: Compression | None = None
    refusal: str | None = None


def sniff(head: bytes) -> Sniffed:
    """Classify a file by its first bytes (``SNIFF_BYTES`` of them, or the whole file)."""
    for magic, codec in _COMPRESSED:
        if head.startswith(magic):
            return Sniffed(compression=codec)
    if head.startswith(b"BZh") and head[3:4] in b"123456789" and len(head) > 3:
        return Sniffed(compression="bzip2")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return Sniffed(refusal=_zip_refusal(head))
    for magic, looks_like, todo in _OTHERS:
        if head.startswith(magic):
            return Sniffed(refusal=f"looks like {looks_like}; {todo}")
    return Sniffed()


def _zip_refusal(head: bytes) -> str:
    if b"xl/" in head:
        return f"looks like an Excel workbook (xlsx); {_SAVE_AS_CSV}"
    if _ODS_MIMETYPE in head[:100]:
        return f"looks like an OpenDocument spreadsheet (ods); {_SAVE_AS_CSV}"
    if b"word/" in head:
        return "looks like a Word document (docx); export the data as CSV"
    return "looks like a zip archive; unzip it and send the CSV files in it one by one"
