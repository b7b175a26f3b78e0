"""The two kinds of chunk object, and reading either back as a chunk body.

A chunk (``chunks/<table>/<id>/<n>.rec``) is either a *range*: a small JSON object naming a
byte range of the raw file (``csvfile/ranges.py`` planned it) with how to read it (for a gzip
file, a range of the decompressed bytes, with the restart point before it), or a *copy*:
the records themselves in the format of ``csvfile/chunkfile.py``, which the split writes when the
file is compressed or UTF-16 and cannot be read by ranges. Validate and the rejects merge read
both through ``read_body``, so nothing after the split knows which it got.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib import keys
from chalicelib.csvfile import boundaries, chunkfile, decoding
from chalicelib.csvfile.delimiters import Delimited
from chalicelib.csvfile.inflate import GzipReader, RestartPoint
from chalicelib.errors import UnreadableFileError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

    from chalicelib.csvfile.boundaries import Source
    from chalicelib.csvfile.ranges import Span

RANGE_FORMAT = "byte-range"
# A copy's body starts with a section head (L, R or C); a range's with this.
_RANGE_START = b"{"


def range_object(
    source_key: str,
    etag: str,
    span: Span,
    options: dict[str, str],
    restart: RestartPoint | None = None,
) -> bytes:
    """The body of a range chunk: where its records are and how to read them."""
    described: dict[str, Any] = {
        "format": RANGE_FORMAT,
        "source_key": source_key,
        "source_etag": etag,
        **span.to_json(),
        "encoding": options["encoding"],
        "delimiter": options["delimiter"],
    }
    if restart is not None:
        described["compression"] = "gzip"
        described["restart"] = restart.to_json()
    return json.dumps(described).encode()


def check_count(n: int) -> None:
    """Refuse to write chunk ``n`` if its number does not fit the keys.

    Raises:
        UnreadableFileError: the file needs more than ``keys.MAX_CHUNKS`` chunks.
    """
    if n >= keys.MAX_CHUNKS:
        raise UnreadableFileError(
            f"the file needs more than {keys.MAX_CHUNKS:,} chunks; raise INGEST_CHUNK_ROWS so "
            "that each chunk holds more rows"
        )


def write_range(
    s3: S3Client,
    bucket: str,
    chunk: tuple[str, str, int],
    source: tuple[str, str],
    span: Span,
    options: dict[str, str],
    restart: RestartPoint | None = None,
) -> None:
    """Write chunk ``chunk`` (table, upload id, n) as the range ``span`` of ``source`` (key,
    ETag); of its decompressed bytes, read from ``restart``, for a gzip file.

    Raises:
        UnreadableFileError: the chunk's number does not fit the keys.
    """
    check_count(chunk[2])
    s3.put_object(
        Bucket=bucket,
        Key=keys.chunk_key(*chunk),
        Body=range_object(*source, span, options, restart),
        ContentType="application/json",
    )


@dataclass(frozen=True)
class PlainRange:
    """A range chunk of a UTF-8, comma-separated file, as the bytes of the file itself (no byte
    order mark): whole records, the first on ``first_line``, not yet cut into runs."""

    data: bytes
    first_line: int

    def body(self) -> bytes:
        """The same records as a chunk body (``chunkfile`` format)."""
        pieces = chunkfile.iter_chunks(
            boundaries.buffered(io.BytesIO(self.data)),
            sys.maxsize,
            sys.maxsize,
            first_line=self.first_line,
        )
        return b"".join(piece.data for piece in pieces)


def read_chunk(s3: S3Client, bucket: str, key: str) -> PlainRange | bytes:
    """The chunk at ``key``: a ``PlainRange`` when it is a range that needs no re-encoding and no
    delimiter rewrite, else its chunk body (as ``read_body``).

    Raises:
        UnreadableFileError: the raw file a range names has changed or gone since it was planned.
        ValueError: the object is neither kind.
    """
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if not body.startswith(_RANGE_START):
        return body
    described = _described(key, body)
    if described["encoding"] != "utf-8" or described["delimiter"] != ",":
        return b"".join(_read_range(s3, bucket, described, sys.maxsize))
    data = _open_source(s3, bucket, described).read()
    if int(described["start"]) == 0:
        # A plan starts its first range after a byte order mark; one made before it did so
        # starts at 0 (as in _read_range).
        data = data.removeprefix(decoding.UTF8_BOM)
    return PlainRange(data, int(described["first_line"]))


def read_body(s3: S3Client, bucket: str, key: str) -> bytes:
    """The chunk body (``chunkfile`` format) of the chunk at ``key``, whichever its kind.

    Raises:
        UnreadableFileError: the raw file a range names has changed or gone since it was planned.
        ValueError: the object is neither kind.
    """
    return b"".join(iter_body(s3, bucket, key, sys.maxsize))


def iter_body(s3: S3Client, bucket: str, key: str, piece_bytes: int) -> Iterator[bytes]:
    """The chunk body of the chunk at ``key`` in pieces, each a chunk body of its own of about
    ``piece_bytes`` (a copy comes whole): for readers that need not hold all of it at once.

    Raises:
        UnreadableFileError: the raw file a range names has changed or gone since it was planned.
        ValueError: the object is neither kind.
    """
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if not body.startswith(_RANGE_START):
        yield body
        return
    yield from _read_range(s3, bucket, _described(key, body), piece_bytes)


def _described(key: str, body: bytes) -> dict[str, Any]:
    described: dict[str, Any] = json.loads(body)
    if described.get("format") != RANGE_FORMAT:
        raise ValueError(f"{key} is not a chunk: unknown format {described.get('format')!r}")
    return described


def open_range(
    s3: S3Client, bucket: str, key: str, etag: str, start: int, end: int | None
) -> Source:
    """The bytes ``[start, end)`` (``end`` None: to the end) of the raw file ``key``, as a
    stream, if it still has ETag ``etag``.

    Raises:
        UnreadableFileError: the file has changed or gone since it was planned.
    """
    last = "" if end is None else str(end - 1)
    try:
        got = s3.get_object(
            Bucket=bucket, Key=key, Range=f"bytes={start}-{last}", IfMatch=f'"{etag}"'
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "InvalidRange":  # from the very end of the file: nothing is left
            return io.BytesIO(b"")
        if code in ("PreconditionFailed", "NoSuchKey", "412", "404"):
            raise UnreadableFileError(
                f"{key} changed or was removed while it was being processed ({code}); "
                "upload it again"
            ) from None
        raise
    return got["Body"]


def open_gzip(
    s3: S3Client,
    bucket: str,
    source: tuple[str, str],
    point: RestartPoint,
    start: int,
    end: int | None,
) -> Source:
    """The decompressed bytes ``[start, end)`` (``end`` None: to the end) of the gzip file
    ``source`` (key, ETag), read from the restart ``point`` (at or before ``start``).

    Raises:
        UnreadableFileError: the file has changed or gone since it was planned, or is corrupt.
    """
    body = open_range(s3, bucket, *source, point.read_from, None)
    return Sliced(GzipReader(body, point), start - point.out, end and end - start)


class Sliced(decoding.Filter):
    """``length`` bytes (None: all the rest) of a source, after its first ``skip`` bytes."""

    def __init__(self, source: Source, skip: int, length: int | None) -> None:
        super().__init__(source)
        self._skip, self._left = skip, length

    def _more(self) -> bytes | None:
        while self._skip:
            dropped = self._source.read(min(self._skip, decoding.OUT_BYTES))
            if not dropped:
                return None
            self._skip -= len(dropped)
        want = decoding.OUT_BYTES if self._left is None else min(self._left, decoding.OUT_BYTES)
        data = self._source.read(want) if want else b""
        if self._left is not None:
            self._left -= len(data)
        return data or None


def _read_range(
    s3: S3Client, bucket: str, described: dict[str, Any], piece_bytes: int
) -> Iterator[bytes]:
    stream = _open_source(s3, bucket, described)
    if described["encoding"] != "utf-8":
        stream = decoding.Transcoded(stream, described["encoding"])
    elif int(described["start"]) == 0:
        # A plan starts its first range after a byte order mark; one made before it did so
        # starts at 0, and its reader takes the mark off here.
        stream = decoding.WithoutBom(stream)
    if described["delimiter"] != ",":
        stream = Delimited(stream, described["delimiter"])
    pieces = chunkfile.iter_chunks(
        boundaries.buffered(stream),
        sys.maxsize,
        piece_bytes,
        first_line=int(described["first_line"]),
    )
    return (piece.data for piece in pieces)


def _open_source(s3: S3Client, bucket: str, described: dict[str, Any]) -> Source:
    """The bytes a range chunk names, as the file holds them: of its decompressed bytes, from
    the chunk's restart point, when the file is gzip."""
    start, end = int(described["start"]), int(described["end"])
    source = (described["source_key"], described["source_etag"])
    if described.get("compression") == "gzip":
        point = RestartPoint.from_json(described["restart"])
        return open_gzip(s3, bucket, source, point, start, end)
    return open_range(s3, bucket, *source, start, end)
