"""Batch inserts: 1 to 1000 JSON rows, validated and loaded synchronously.

Each JSON row is first turned into the text fields a CSV line would give (a string stays as it
is, an integer becomes its decimal text, null becomes an empty field), so the table's schema and
``RowChecker`` judge it exactly as they judge a row of an uploaded file; any other JSON value
(a float, a boolean, an object) is rejected. Valid rows are written as a cleaned chunk with the
load stage's COPY manifest and loaded through ``upsert.merge_manifest``, the same transaction as
a file upload; rejected rows go into a rejects file of the same format as an upload's
(``rejects.py``).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any

from chalicelib import keys, storage
from chalicelib.csvfile.boundaries import iter_records
from chalicelib.csvfile.cleaned import clean_row
from chalicelib.csvfile.fields import coerce
from chalicelib.csvfile.rowcheck import RAW_PREVIEW_CHARS, RowChecker
from chalicelib.errors import InvalidRequestError, WarehouseError
from chalicelib.pipeline import rejects, state
from chalicelib.pipeline.load import copy_manifest
from chalicelib.pipeline.state import ChunkDone, Upload, now_iso
from chalicelib.tables import get_table
from chalicelib.warehouse import upsert

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.tables import Table
    from chalicelib.warehouse import Warehouse

logger = logging.getLogger(__name__)

MAX_ROWS = 1000


@dataclass(frozen=True)
class RejectedRow:
    """A row of the request that was not loaded (``row`` counts from 1), and why."""

    row: Annotated[int, "1 = the first row sent"]
    errors: tuple[str, ...]


@dataclass(frozen=True)
class BatchResult:
    """What a batch insert did; ``upload_id`` can be looked up like any upload."""

    upload_id: str
    rows_valid: int
    rows_rejected: int
    rejected: tuple[RejectedRow, ...]


@functools.cache
def _checker(table: str) -> RowChecker:
    return RowChecker(get_table(table))


def parse_rows(body: Any) -> list[Any]:
    """The ``rows`` list of a batch request.

    Raises:
        InvalidRequestError: not ``{"rows": [...]}`` with 1 to ``MAX_ROWS`` rows.
    """
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_ROWS:
        count = f"{len(rows)} rows" if isinstance(rows, list) else "no rows list"
        raise InvalidRequestError(
            f'body must be {{"rows": [[...], ...]}} with 1 to {MAX_ROWS} rows, got {count}',
            parameter="rows",
        )
    return rows


def as_fields(table: Table, row: Any) -> tuple[list[str] | None, list[str]]:
    """The CSV text fields a JSON row stands for, or the reasons it cannot stand for any."""
    if not isinstance(row, list):
        width = len(table.columns)
        return None, [f"record: expected an array of {width} values, got {type(row).__name__}"]
    fields: list[str] = []
    errors: list[str] = []
    for index, value in enumerate(row):
        if value is None:
            fields.append("")
        elif isinstance(value, str):
            fields.append(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            fields.append(str(value))
        else:
            name = table.columns[index].name if index < len(table.columns) else f"value {index}"
            errors.append(f"{name}: {json.dumps(value)} is not a string, an integer or null")
            fields.append("")
    return (None, errors) if errors else (fields, [])


def judge(table: Table, row: Any) -> tuple[list[Any] | None, list[str]]:
    """The typed values of a valid row, or the reasons it is invalid."""
    fields, errors = as_fields(table, row)
    if fields is None:
        return None, errors
    # Judged as the CSV line these fields make, so record-level rules (NUL, length) apply too.
    # CRLF as terminator makes csv quote a lone CR, so the line reads back as these fields.
    line = io.StringIO()
    csv.writer(line, lineterminator="\r\n").writerow(fields)
    record = next(iter_records(io.BytesIO(line.getvalue().encode())))
    verdict = _checker(table.name).check_record(record)
    if verdict is not None:
        return (
            (list(verdict.values), [])
            if verdict.values is not None
            else (None, list(verdict.errors))
        )
    values = coerce(table, fields)  # an empty line is no row in a file, but a bad row here
    return None, _checker(table.name).check_values(values)


def insert_rows(
    s3: S3Client, warehouse: Warehouse, settings: Settings, table_name: str, body: Any
) -> BatchResult:
    """Validate the rows of a batch request and load the valid ones, before returning.

    Raises:
        InvalidRequestError: unknown table, or not 1 to ``MAX_ROWS`` rows.
        TransientWarehouseError: the warehouse may recover; the request can be sent again.
        PermanentWarehouseError: the warehouse rejected the load.
    """
    table = get_table(table_name)
    rows = parse_rows(body)
    started = time.monotonic()
    clean: list[str] = []  # the same cleaned-chunk format validate.py writes
    rejected: dict[int, list[str]] = {}
    valid = 0
    for number, row in enumerate(rows, start=1):
        values, errors = judge(table, row)
        if values is None:
            rejected[number] = errors
            continue
        valid += 1
        clean.append(clean_row(table.columns, values, number))
    created = now_iso()
    upload = state.create(
        s3,
        settings.bucket,
        Upload(
            keys.new_upload_id(),
            table.name,
            "loading",
            created,
            created,
            chunks_total=1 if valid else 0,
            rows_total=len(rows),
            stage="load",
            extra={"source": "rows"},
        ),
    )
    upload_id = upload.upload_id
    superseded: tuple[tuple[int, int], ...] = ()
    if valid:
        done = ChunkDone(0, len(rows), valid, len(rows) - valid)
        superseded = _load(s3, warehouse, settings, table, upload, done, "".join(clean))
    for row, winner in superseded:
        rejected[row] = [f"{table.primary_key}: duplicate id, superseded by row {winner}"]
    result = BatchResult(
        upload_id,
        valid - len(superseded),
        len(rejected),
        tuple(RejectedRow(n, tuple(rejected[n])) for n in sorted(rejected)),
    )
    _write_rejects(s3, settings.bucket, table, result, rows)
    state.advance(
        s3,
        settings.bucket,
        upload,
        "loaded",
        rows_valid=result.rows_valid,
        rows_rejected=result.rows_rejected,
    )
    if rejected:
        # Row numbers and reasons only: row contents are never logged.
        logger.warning(
            "batch.rows_rejected",
            extra={
                "upload_id": upload_id,
                "rows_rejected": result.rows_rejected,
                "rejected": [{"row": r.row, "errors": list(r.errors)} for r in result.rejected],
            },
        )
    logger.info(
        "batch.completed",
        extra={
            "upload_id": upload_id,
            "table": table.name,
            "rows_in": len(rows),
            "rows_valid": result.rows_valid,
            "rows_rejected": result.rows_rejected,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    return result


def _load(
    s3: S3Client,
    warehouse: Warehouse,
    settings: Settings,
    table: Table,
    upload: Upload,
    done: ChunkDone,
    clean: str,
) -> tuple[tuple[int, int], ...]:
    """Write the cleaned chunk and its manifest, then MERGE; return the superseded rows."""
    bucket = settings.bucket
    clean_key = keys.clean_key(table.name, upload.upload_id, done.n)
    body = clean.encode()
    s3.put_object(Bucket=bucket, Key=clean_key, Body=body, ContentType="text/csv")
    manifest_key = keys.copy_manifest_key(table.name, upload.upload_id)
    sized = replace(done, clean_bytes=len(body))
    storage.put_json(s3, bucket, manifest_key, copy_manifest(s3, bucket, table, upload, [sized]))
    try:
        merged = upsert.merge_manifest(
            warehouse, table, keys.s3_uri(bucket, manifest_key), upload.upload_id
        )
    except WarehouseError as exc:
        # Nothing retries a batch (the client does), so even a transient failure is final here.
        state.advance(s3, bucket, upload, "failed", error=exc.message)
        raise
    return merged.superseded


def _write_rejects(
    s3: S3Client, bucket: str, table: Table, result: BatchResult, rows: list[Any]
) -> None:
    """The rejected rows as JSON Lines, like an upload's rejects file (``raw``: the JSON row)."""
    lines = (
        rejects.reject_line(
            r.row, json.dumps(rows[r.row - 1], ensure_ascii=False)[:RAW_PREVIEW_CHARS], r.errors
        )
        for r in result.rejected
    )
    s3.put_object(
        Bucket=bucket,
        Key=keys.rejects_key(table.name, result.upload_id),
        Body="".join(lines).encode(),
        ContentType="application/x-ndjson",
    )
