"""Objects copied into ``raw/`` that no table's split can take: recorded, never dropped.

A file copied to ``raw/employees/x.csv`` (no such table), to ``raw/x.csv`` or as a folder
marker (``raw/jobs/``) has no upload to belong to. It gets one here, ``failed`` at once with an
error naming the known tables, so ``GET /api/v1/uploads`` and ``ingest uploads`` show it. Its
state is kept under ``uploads/_unrouted/`` (``keys.UNROUTED``), since its table is no table.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib import keys
from chalicelib.pipeline import state
from chalicelib.pipeline.state import Upload, now_iso
from chalicelib.tables import TABLE_NAMES, TABLES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


def why_unrouted(key: str) -> tuple[str, str, str]:
    """(the table the key names, its file name, why the split cannot take it)."""
    parts = key.split("/")
    known = ", ".join(TABLE_NAMES)
    table = parts[1] if len(parts) >= 3 else ""
    filename = parts[-1]
    if len(parts) < 3:
        reason = f"is not in a table's folder; copy it to raw/<table>/, one of: {known}"
    elif table not in TABLES:
        reason = f"names the table {table!r}, which does not exist; known tables: {known}"
    else:
        reason = f"has no file name (a folder marker?); copy a file to raw/{table}/<file>"
    return table, filename, f"the key {key!r} {reason}"


def record_unrouted(s3: S3Client, bucket: str, key: str) -> Upload | None:
    """Record the raw object ``key`` (which no table's split takes) as a failed upload.

    The same object always gets the same upload id (from its key and ETag), so a redelivered
    event records nothing new. None if the object is already gone.
    """
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    etag = head["ETag"].strip('"')
    upload_id = keys.derived_upload_id(key, etag, head["LastModified"])
    table, filename, reason = why_unrouted(key)
    created = now_iso()
    upload = Upload(
        upload_id,
        table,
        "failed",
        created,
        created,
        source_key=key,
        source_etag=etag,
        filename=filename or None,
        error=f"split: {reason}",
        stage="split",
        retryable=False,
    )
    stored = state.create(s3, bucket, upload, folder=keys.UNROUTED)
    logger.warning("split.unrouted", extra={"upload_id": upload_id, "error": reason})
    return stored
