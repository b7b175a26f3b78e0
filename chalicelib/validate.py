"""Stage 2: validate one chunk against its table's schema.

Owns turning ``chunks/<table>/<id>/<n>.rec`` into a cleaned CSV chunk (valid rows, typed, with
the line each came from) and a JSON Lines report of rejected rows, then the chunk's done marker.
Rows go through the compiled fast path (``screen.py``) first and through JSON Schema
(``rows.py``) when it cannot vouch for them. Running it twice on the same chunk writes the same
objects.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import keys, records, runs, state, storage
from chalicelib.records import Record
from chalicelib.rows import RowChecker, to_csv_value
from chalicelib.screen import Screen, compile_screen
from chalicelib.state import ChunkDone
from chalicelib.tables import get_table

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings

logger = logging.getLogger(__name__)

_CHECKERS: dict[str, tuple[RowChecker, Screen | None]] = {}


def checker_for(table: str) -> tuple[RowChecker, Screen | None]:
    """One compiled checker and fast path per table per container."""
    if table not in _CHECKERS:
        definition = get_table(table)
        _CHECKERS[table] = (RowChecker(definition), compile_screen(definition))
    return _CHECKERS[table]


@dataclass(frozen=True)
class ChunkResult:
    """What validating one chunk produced."""

    key: str
    upload_id: str | None
    rows_in: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    skipped: str | None = None


@dataclass(frozen=True)
class Judged:
    """A chunk's cleaned rows (CSV) and rejected rows (JSON Lines), with their counts."""

    clean: bytes
    rejected: bytes
    rows_in: int
    rows_valid: int
    rows_rejected: int


def judge_chunk(table: str, body: bytes) -> Judged:
    """Judge every record of a chunk body; valid rows become CSV, rejects JSON Lines.

    The fast path takes the rows it can vouch for; every other record goes to the JSON Schema
    checker, which gives the verdict and the reasons.

    Raises:
        ValueError: ``body`` is not a chunk body.
    """
    checker, screen = checker_for(table)
    columns = checker.table.columns
    clean_parts: list[bytes] = []
    rejected: list[str] = []
    rows_in = valid = 0
    for section in runs.iter_sections(body):
        clean: list[str] = []
        # Text is always quoted: csv leaves a lone "\r" unquoted otherwise, which COPY would
        # misread. The fast path writes its rows the same way (tests compare the bytes).
        writer = csv.writer(_Lines(clean), lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
        for record in _left_for_schema(section, screen, clean):
            if isinstance(record, int):
                rows_in += record
                valid += record
                continue
            verdict = checker.check_record(record, strip_bom=record.line == 1)
            if verdict is None:
                continue
            rows_in += 1
            if verdict.values is None:
                entry = {"row": verdict.line, "raw": verdict.raw, "errors": list(verdict.errors)}
                rejected.append(json.dumps(entry, ensure_ascii=False) + "\n")
                continue
            valid += 1
            writer.writerow(
                [
                    *(to_csv_value(c, v) for c, v in zip(columns, verdict.values, strict=True)),
                    verdict.line,
                ]
            )
        clean_parts.append("".join(clean).encode())
    return Judged(
        b"".join(clean_parts), "".join(rejected).encode(), rows_in, valid, rows_in - valid
    )


class _Lines:
    """A file-like target for csv.writer that appends to a list."""

    def __init__(self, out: list[str]) -> None:
        self.write = out.append


def _left_for_schema(
    section: runs.Run | Record, screen: Screen | None, clean: list[str]
) -> Iterator[Record | int]:
    """The records the fast path left for the schema; an int counts the rows it took itself.

    Rows the fast path accepts are appended to ``clean`` in their place, so cleaned rows keep
    the order of the file.
    """
    if isinstance(section, Record):
        yield section
        return
    try:
        texts = runs.record_texts(section)
    except UnicodeDecodeError:  # some record is not UTF-8: take them one by one, as bytes
        yield from records.iter_records(io.BytesIO(section.data), section.first_line)
        return
    taken = 0
    add = clean.append
    for line, text in texts:
        # Line 1 may start with a BOM, which only the schema path strips.
        cells = screen(text) if screen is not None and line != 1 else None
        if cells is not None:
            add(f"{cells},{line}\n")
            taken += 1
            continue
        if taken:
            yield taken
            taken = 0
        data = text.encode()
        yield Record(line, data, len(data))
    if taken:
        yield taken


def validate_chunk(s3: S3Client, settings: Settings, key: str) -> ChunkResult:
    """Validate the chunk at ``key`` and record that it is done."""
    parsed = keys.parse_chunk_key(key)
    if parsed is None:
        return ChunkResult(key, None, skipped="not a chunk key")
    table, upload_id, n = parsed
    bucket = settings.bucket
    upload = state.read(s3, bucket, table, upload_id)
    if upload is None or upload.state not in ("splitting", "validating"):
        reason = "unknown upload" if upload is None else f"upload is {upload.state}"
        return ChunkResult(key, upload_id, skipped=reason)
    done = storage.get_json(s3, bucket, keys.done_key(table, upload_id, n))
    if done is not None:
        state.request_load_if_complete(s3, bucket, upload, chunk=n)
        return ChunkResult(
            key,
            upload_id,
            done["rows_in"],
            done["rows_valid"],
            done["rows_rejected"],
            skipped="already done",
        )
    started = time.monotonic()
    judged = judge_chunk(table, s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    s3.put_object(
        Bucket=bucket,
        Key=keys.clean_key(table, upload_id, n),
        Body=judged.clean,
        ContentType="text/csv",
    )
    s3.put_object(
        Bucket=bucket,
        Key=keys.rejected_chunk_key(table, upload_id, n),
        Body=judged.rejected,
        ContentType="application/x-ndjson",
    )
    result = ChunkDone(n, judged.rows_in, judged.rows_valid, judged.rows_rejected)
    state.mark_chunk_done(s3, bucket, table, upload_id, result)
    logger.info(
        "validate.completed",
        extra={
            "chunk": n,
            "rows_in": result.rows_in,
            "rows_valid": result.rows_valid,
            "rows_rejected": result.rows_rejected,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    state.request_load_if_complete(s3, bucket, upload, chunk=n)
    return ChunkResult(key, upload_id, result.rows_in, result.rows_valid, result.rows_rejected)
