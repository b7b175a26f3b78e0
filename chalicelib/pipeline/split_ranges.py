"""The split by byte ranges: plan chunks on the raw file, hand on when the budget runs out.

Owns the split of a file that can be read by ranges (not compressed, in UTF-8, cp1252 or
latin-1, any delimiter; a UTF-16 file by its code units, ``csvfile/utf16.py``; a gzip file by
its decompressed bytes, each chunk with a restart point, ``csvfile/inflate.py``) by one reader:
one streaming read finds the chunk boundaries (``csvfile/ranges.py``) and each chunk is written
as a small range object (``chunks.py``), which starts its validation at once. When the
invocation's budget (``budget.py``) runs low it writes a hand-off,
``splits/<table>/<id>/<plan>/<offset>.json``, whose creation starts a fresh invocation that
reads on from ``offset`` with a ranged GET; so no file is too large for one invocation's time.

Why it is safe to run twice: chunk boundaries depend on the file and the plan's settings only
(never on when an invocation stopped), so any invocation writes the same chunk n; a hand-off is
keyed by its offset, so two invocations that stop at different places write different objects;
the last invocation gathers the chunks of every hand-off of its plan, and finds them complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from chalicelib import keys, storage
from chalicelib.csvfile import decoding, sniff, utf16
from chalicelib.csvfile.boundaries import READ_BYTES
from chalicelib.csvfile.delimiters import Delimited
from chalicelib.csvfile.inflate import GzipReader, RestartPoint
from chalicelib.csvfile.ranges import Planner, Span
from chalicelib.errors import StateTransitionError
from chalicelib.pipeline import chunks, completion, rawfile, state

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.csvfile.boundaries import Source
    from chalicelib.csvfile.options import FileOptions
    from chalicelib.pipeline.budget import Budget
    from chalicelib.pipeline.runner import StageEvent
    from chalicelib.pipeline.state import Upload

logger = logging.getLogger(__name__)

# Encodings in which every byte of a line break, a quote or a delimiter is that character, so
# boundaries found in the raw bytes are boundaries of the text.
RANGE_ENCODINGS = ("utf-8", "cp1252", "latin-1")


@dataclass(frozen=True)
class Outcome:
    """What one planning invocation did."""

    chunks: int  # written by this invocation
    records: int  # in the whole file so far
    handed_on: bool
    chunks_total: int | None = None  # once planning has finished


@dataclass
class _Progress:
    """Where planning stands, as a hand-off carries it to the next invocation."""

    offset: int
    line: int
    n: int
    records: int
    invocation: int
    detected: dict[str, Any]
    chunks: list[dict[str, int]] = field(default_factory=list)  # planned by this invocation
    restart: dict[str, Any] | None = None  # a gzip file's restart point at or before offset
    units: str | None = None  # a UTF-16 file's byte order: offsets count its code units
    size: int | None = None  # the file's size, where offsets are code units


def readable_by_ranges(head: bytes, options: FileOptions) -> bool:
    """True if the file whose first bytes are ``head`` (decompressed, for a gzip file) can be
    split by ranges."""
    found = sniff.sniff(head)
    if found.refusal or found.compression or head.startswith(sniff.UTF16_BOMS):
        return False
    return options.encoding in RANGE_ENCODINGS


def plan_id(upload: Upload, settings: Settings, parts: int | None = None) -> str:
    """Names one plan: the same file, read the same way, cut at the same sizes (on the byte
    grid), by one reader or by the same parts."""
    basis = json.dumps(
        [
            upload.source_etag,
            upload.options,
            settings.chunk_rows,
            settings.chunk_bytes,
            "grid",
            parts and settings.part_bytes,
        ],
        sort_keys=True,
    )
    return hashlib.sha256(basis.encode()).hexdigest()[:12]


def open_planner(
    stream: io.BufferedReader, table: str, options: FileOptions, compression: str | None = None
) -> tuple[Planner, dict[str, Any]]:
    """A planner on the file ``stream`` reads from its first byte (decompressed), past its
    header; and what the status shows of how the file is read."""
    planner = Planner(
        stream,
        delimiter=options.delimiter,
        skip_bom=options.encoding == "utf-8",
    )
    skipped = _skip_header(planner, table, options)
    detected = {"compression": compression, "encoding": options.encoding, "header_skipped": skipped}
    return planner, {**detected, "split": "ranges"}


def open_utf16_planner(
    stream: io.BufferedReader, table: str, options: FileOptions
) -> tuple[Planner, dict[str, Any]]:
    """A planner on the code units of the UTF-16 file ``stream`` reads from its BOM on, past its
    header (offsets count code units after the BOM); and what the status shows."""
    big_endian = stream.read(utf16.BOM_BYTES) == b"\xfe\xff"
    units = utf16.CodeUnits(stream, big_endian=big_endian)
    planner = Planner(units, delimiter=options.delimiter)
    raw = RawHead(units, utf16.codec(big_endian))
    skipped = _skip_header(planner, table, options, raw)
    detected = {"compression": None, "encoding": "utf-16", "header_skipped": skipped}
    return planner, {**detected, "split": "ranges", "units": "be" if big_endian else "le"}


@dataclass(frozen=True)
class RawHead:
    """Where the text of a UTF-16 file's first line is read from: its first bytes, kept."""

    units: utf16.CodeUnits
    codec: str


def start(
    s3: S3Client,
    settings: Settings,
    upload: Upload,
    planner: Planner,
    detected: dict[str, Any],
    budget: Budget,
    gzip: GzipReader | None = None,
    size: int | None = None,
) -> Outcome:
    """Plan the file on from where ``planner`` stands (its data's start), one reader; of a gzip
    file, the decompressed bytes ``gzip`` reads; of a UTF-16 file (``size`` bytes), its code
    units."""
    units = detected.pop("units", None)
    detected = {**detected, "planning": "sequential"}
    progress = _Progress(planner.offset, planner.line, 0, 0, 1, detected)
    if units is not None:
        progress.units, progress.size = units, size
    if gzip is not None:
        progress.restart = gzip.restart_point(planner.offset).to_json()
    return _plan(s3, settings, upload, planner, progress, budget, gzip)


def resume(s3: S3Client, settings: Settings, event: StageEvent, budget: Budget) -> Outcome | None:
    """Plan on from the hand-off ``event`` names; None if there is nothing to do any more."""
    bucket = settings.bucket
    upload = state.read(s3, bucket, event.table, event.upload_id or "")
    handoff = storage.get_json(s3, bucket, event.key)
    if upload is None or handoff is None or upload.state != "splitting":
        reason = "no such upload" if upload is None else f"upload is {upload.state}"
        logger.info("split.handoff_ignored", extra={"reason": reason})
        return None
    if plan_id(upload, settings) != event.plan:
        logger.info("split.handoff_ignored", extra={"reason": "from an earlier plan"})
        return None
    progress = _Progress(**{**handoff, "chunks": []})
    key, etag = upload.source_key or "", upload.source_etag or ""
    gzip = None
    source: Source
    if progress.units is not None:
        at = utf16.raw_offset(progress.offset, progress.size or 0)
        source = utf16.CodeUnits(
            chunks.open_range(s3, bucket, key, etag, at, None), big_endian=progress.units == "be"
        )
    elif progress.restart is None:
        source = chunks.open_range(s3, bucket, key, etag, progress.offset, None)
    else:
        point = RestartPoint.from_json(progress.restart)
        gzip = GzipReader(chunks.open_range(s3, bucket, key, etag, point.read_from, None), point)
        source = chunks.Sliced(gzip, progress.offset - point.out, None)
    planner = Planner(
        source,
        offset=progress.offset,
        line=progress.line,
        delimiter=(upload.options or {}).get("delimiter", ","),
    )
    return _plan(s3, settings, upload, planner, progress, budget, gzip)


def _skip_header(
    planner: Planner, table: str, options: FileOptions, raw: RawHead | None = None
) -> bool:
    if options.header == "no":
        return False
    planner.skip_blank_lines()  # not rows: the header is the first line that is not blank
    if options.header == "auto":
        start = planner.offset
        line = planner.first_line_bytes(READ_BYTES)
        if raw is not None:  # the units stand for the text: read the line's own bytes
            head = raw.units.head[2 * start : 2 * (start + len(line))]
            line = decoding.Transcoded(io.BytesIO(head), raw.codec).read()
            options = replace(options, encoding="utf-8")
        if not rawfile.is_header(table, _as_read(line, options)):
            return False
    return planner.skip_record()


def _as_read(line: bytes, options: FileOptions) -> bytes:
    """The first line as the validator reads it: in UTF-8, comma-separated."""
    source: Source = io.BytesIO(line)
    if options.encoding != "utf-8":
        source = decoding.Transcoded(source, options.encoding)
    if options.delimiter != ",":
        source = Delimited(source, options.delimiter)
    return source.read()


def _plan(
    s3: S3Client,
    settings: Settings,
    upload: Upload,
    planner: Planner,
    progress: _Progress,
    budget: Budget,
    gzip: GzipReader | None,
) -> Outcome:
    bucket, table, upload_id = settings.bucket, upload.table, upload.upload_id
    plan = plan_id(upload, settings)
    source = (upload.source_key or "", upload.source_etag or "")
    options = upload.options or {"encoding": "utf-8", "delimiter": ","}
    if progress.units is not None:
        options = {**options, "encoding": utf16.codec(progress.units == "be")}
    first_offset, slowest = progress.offset, 0.0
    started = time.monotonic()
    for span in planner.spans(settings.chunk_rows, settings.chunk_bytes):
        step = time.monotonic()
        restart = None if progress.restart is None else RestartPoint.from_json(progress.restart)
        chunk = (table, upload_id, progress.n)
        found = span if progress.units is None else in_file(span, progress.size or 0)
        chunks.write_range(s3, bucket, chunk, source, found, options, restart)
        if gzip is not None:  # where the next chunk starts, while the reader still keeps it
            progress.restart = gzip.restart_point(planner.offset).to_json()
        progress.chunks.append({"n": progress.n, **found.to_json()})
        progress.n += 1
        progress.records += span.records
        progress.offset, progress.line = planner.offset, planner.line
        slowest = max(slowest, time.monotonic() - step)
        if not planner.finished and not budget.allows(slowest, planner.offset - first_offset):
            _hand_on(s3, bucket, upload, plan, progress)
            logger.info(
                "split.handed_on",
                extra={
                    "invocation": progress.invocation,
                    "offset": progress.offset,
                    "chunks": len(progress.chunks),
                    "duration_ms": round((time.monotonic() - started) * 1000),
                },
            )
            return Outcome(len(progress.chunks), progress.records, handed_on=True)
    return _finish(s3, bucket, upload, plan, progress, started)


def in_file(span: Span, size: int) -> Span:
    """A span of a UTF-16 file's code units as the bytes of the file (of ``size`` bytes)."""
    return replace(
        span, start=utf16.raw_offset(span.start, size), end=utf16.raw_offset(span.end, size)
    )


def _hand_on(s3: S3Client, bucket: str, upload: Upload, plan: str, progress: _Progress) -> None:
    key = keys.split_handoff_key(upload.table, upload.upload_id, plan, progress.offset)
    # Its "chunks" are the ones this invocation planned: the last invocation gathers them all.
    storage.put_json(s3, bucket, key, {**asdict(progress), "invocation": progress.invocation + 1})


def _finish(
    s3: S3Client, bucket: str, upload: Upload, plan: str, progress: _Progress, started: float
) -> Outcome:
    """Planning reached the end of the file: write the manifest, let validation finish."""
    table, upload_id = upload.table, upload.upload_id
    planned = {c["n"]: c for c in progress.chunks}
    for key in storage.list_keys(s3, bucket, keys.split_plan_prefix(table, upload_id, plan)):
        handoff = storage.get_json(s3, bucket, key) or {}
        planned.update((c["n"], c) for c in handoff.get("chunks", []))
    chunk_list = [planned[n] for n in sorted(planned) if n < progress.n]
    if [c["n"] for c in chunk_list] != list(range(progress.n)):
        missing = sorted(set(range(progress.n)) - set(planned))[:5]
        raise RuntimeError(f"split plan {plan} lacks the hand-off of chunks {missing}")
    manifest = {
        "upload_id": upload_id,
        "source_key": upload.source_key,
        "source_etag": upload.source_etag,
        "records": progress.records,
        "split": "ranges",
        "invocations": progress.invocation,
        "chunks": [
            {k: c[k] for k in ("n", "first_line", "last_line", "records", "start", "end")}
            for c in chunk_list
        ],
    }
    storage.put_json(s3, bucket, keys.split_manifest_key(table, upload_id), manifest)
    detected = {**progress.detected, "split_invocations": progress.invocation}
    moved = start_validating(s3, bucket, upload, progress.n, detected)
    if moved is None:
        return Outcome(len(progress.chunks), progress.records, False, progress.n)
    logger.info(
        "split.completed",
        extra={
            "chunks": progress.n,
            "records": progress.records,
            "split_invocations": progress.invocation,
            **progress.detected,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    completion.request_load_if_complete(s3, bucket, moved)
    return Outcome(len(progress.chunks), progress.records, False, progress.n)


def start_validating(
    s3: S3Client, bucket: str, upload: Upload, chunks_total: int, detected: dict[str, Any]
) -> Upload | None:
    """Move a planned upload to ``validating`` with its chunk count and how it was planned;
    None (logged) when another delivery of the same work moved it on first."""
    try:
        return state.advance(
            s3,
            bucket,
            upload,
            "validating",
            chunks_total=chunks_total,
            stage="validate",
            detected=detected,
        )
    except StateTransitionError:
        current = state.read(s3, bucket, upload.table, upload.upload_id)
        logger.info("split.overtaken", extra={"state": current.state if current else None})
        return None
