"""The rejects file of an upload: every rejected row, with its row number and reasons, in row order.

Validate writes one rejects file per chunk; the load stage writes the rows that a later row with
the same id superseded, then ``write_rejects`` merges them all into the one JSON Lines file the
user fetches. This module reads chunk files but never judges rows or talks to the warehouse.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import tempfile
from typing import IO, TYPE_CHECKING

from boto3.s3.transfer import TransferConfig

from chalicelib import keys, storage
from chalicelib.csvfile import boundaries, chunkfile
from chalicelib.csvfile.rowcheck import RAW_PREVIEW_CHARS
from chalicelib.pipeline import chunks

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from collections.abc import Set as AbstractSet

    from mypy_boto3_s3 import S3Client

    from chalicelib.pipeline import state
    from chalicelib.tables import Table


logger = logging.getLogger(__name__)


# Rejects files larger than this are written through a temporary file instead of memory: small, so
# that the handler holds as much of a rejects file for 1M rows as for 10M.
SPOOL_BYTES = 1024 * 1024


READ_BYTES = 64 * 1024


# Large rejects files go up in multipart uploads; by default ten 8 MB parts at once (80 MB of
# buffers in the handler). One part at a time keeps the load handler's memory flat.
ONE_PART = TransferConfig(use_threads=False)


# A chunk that is a byte range is read back this much at a time, to pick out a few records.
READ_PIECE_BYTES = 4 * 1024 * 1024


def reject_line(row: int, raw: str, errors: Iterable[str]) -> str:
    """One line of a rejects file: the row's number, its text (cut short) and the reasons."""
    entry = {"row": row, "raw": raw, "errors": list(errors)}
    return json.dumps(entry, ensure_ascii=False) + "\n"


def write_duplicates(
    s3: S3Client,
    bucket: str,
    table: Table,
    upload_id: str,
    superseded: list[tuple[int, int]],
    out: IO[bytes],
) -> None:
    """Write to ``out`` the rejects lines of the rows that a later row with the same id
    replaced, with their original text, in row order."""
    winners = dict(superseded)
    pk = table.primary_key
    if not winners:
        return
    for record in _records_at(s3, bucket, table.name, upload_id, winners.keys()):
        text = record.data.decode("utf-8", "replace")[:RAW_PREVIEW_CHARS]
        reason = f"{pk}: duplicate id, superseded by row {winners[record.line]}"
        out.write(reject_line(record.line, text, [reason]).encode())


def _records_at(
    s3: S3Client, bucket: str, table: str, upload_id: str, lines: AbstractSet[int]
) -> Iterator[boundaries.Record]:
    """The raw records that start on ``lines``, read from the chunks that hold them."""
    manifest = storage.get_json(s3, bucket, keys.split_manifest_key(table, upload_id)) or {}
    wanted = sorted(lines)
    for chunk in manifest.get("chunks", []):
        first, last = chunk["first_line"], chunk["last_line"]
        if bisect.bisect_left(wanted, first) == bisect.bisect_right(wanted, last):
            continue  # none of the lines is in this chunk: it is not read at all
        key = keys.chunk_key(table, upload_id, chunk["n"])
        for body in chunks.iter_body(s3, bucket, key, READ_PIECE_BYTES):
            for section in chunkfile.iter_sections(body):
                if isinstance(section, boundaries.Record):
                    if section.line in lines:
                        yield section
                else:
                    yield from chunkfile.records_at(section, lines)


# Rejected-row lines are written as json.dumps({"row": n, ...}): the row number comes first.
_ROW_PREFIX = b'{"row": '


_ROW_AT_LINE_START = re.compile(rb'^\{"row": ([0-9]+),', re.MULTILINE)


def _row_of(line: bytes) -> int:
    if line.startswith(_ROW_PREFIX):
        digits = line[len(_ROW_PREFIX) : line.find(b",", len(_ROW_PREFIX))]
        if digits.isdigit():
            return int(digits)
    return int(json.loads(line)["row"])


def _body(s3: S3Client, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _rows_of(lines: list[bytes], body: bytes) -> list[int]:
    """The row number of each of ``lines`` (the non-empty lines of ``body``)."""
    rows = _ROW_AT_LINE_START.findall(body)
    if len(rows) == len(lines):  # every line starts as json.dumps writes it
        return [int(row) for row in rows]
    return [_row_of(line) for line in lines]


def merge_rejects(
    chunks: Iterable[bytes],
    extra: Iterable[bytes],
    out: IO[bytes],
    seen: Callable[[bytes], None] | None = None,
) -> int:
    """Write the lines of the chunk rejects files (JSON Lines bodies), with the ``extra`` lines
    merged in by row number, to ``out``; return the number of lines written. ``seen``, if
    given, is shown every line written, in order.

    Each chunk's file is in row order and holds rows after those of the file before it, and
    ``extra`` is in row order: so a chunk's file that no extra line falls inside is copied as it
    is, and each extra line is placed by a binary search in the one file around it. One chunk's
    file, and the extra lines inside it, are held at a time.
    """
    extras = ((_row_of(line), line) for line in extra if line)
    following = next(extras, None)
    count = 0
    for body in chunks:
        lines = [line for line in body.split(b"\n") if line]
        if not lines:
            continue
        first, last = _row_of(lines[0]), _row_of(lines[-1])
        pieces, inside = [], []
        while following is not None and following[0] < first:
            pieces.append(following[1])
            following = next(extras, None)
        while following is not None and following[0] < last:
            inside.append(following)
            following = next(extras, None)
        if not inside:
            pieces += lines
        else:
            rows, placed = _rows_of(lines, body), 0
            for row, line in inside:
                at = bisect.bisect_left(rows, row, lo=placed)
                pieces += lines[placed:at]
                pieces.append(line)
                placed = at
            pieces += lines[placed:]
        out.write(b"\n".join(pieces) + b"\n")
        count += len(pieces)
        if seen is not None:
            for piece in pieces:
                seen(piece)
    while following is not None:
        out.write(following[1] + b"\n")
        count += 1
        if seen is not None:
            seen(following[1])
        following = next(extras, None)
    return count


def write_rejects(
    s3: S3Client,
    bucket: str,
    table: str,
    upload_id: str,
    done: list[state.ChunkDone],
    seen: Callable[[bytes], None] | None = None,
) -> int:
    """Merge the per-chunk rejects files and the duplicates into one, ordered by row; ``seen``
    is shown each line written."""
    # Chunks hold consecutive lines, so their rejects files, one after the other, are in row
    # order: only the duplicates need merging in, and one chunk's file is held at a time.
    # A chunk that rejected nothing wrote no file.
    chunks = (
        _body(s3, bucket, keys.chunk_rejects_key(table, upload_id, d.n))
        for d in done
        if d.rows_rejected
    )
    body = s3.get_object(Bucket=bucket, Key=keys.duplicates_key(table, upload_id))["Body"]
    duplicates = body.iter_lines(chunk_size=READ_BYTES)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as out:
        count = merge_rejects(chunks, duplicates, out, seen)
        out.seek(0)
        s3.upload_fileobj(
            out,
            bucket,
            keys.rejects_key(table, upload_id),
            ExtraArgs={"ContentType": "application/x-ndjson"},
            Config=ONE_PART,
        )
    return count
