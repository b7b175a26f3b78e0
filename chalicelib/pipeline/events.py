"""Running a pipeline stage for one S3 event, with the project's error policy.

Binds the log context (stage, upload id, table), runs the stage, and decides what a failure means:
a transient error is re-raised so Lambda (or the local dispatcher) delivers the event again;
any other error marks the upload ``failed`` with a readable message and is not retried.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib import keys, memory
from chalicelib.errors import IngestError, TransientWarehouseError
from chalicelib.logs import bind
from chalicelib.pipeline import state

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)
T = TypeVar("T")

# ConditionalRequestConflict: S3's answer to a conditional write racing another (retry it).
_TRANSIENT_S3 = {
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "Throttling",
    "ConditionalRequestConflict",
}


def _owner_of(key: str) -> tuple[str | None, str | None]:
    """(table, upload_id) that a pipeline key names; either is None when the key does not say.

    A file copied straight into ``raw/<table>/`` names its table but not its upload id, which
    the split stage derives (and binds) itself.
    """
    for parse in (keys.parse_chunk_key, keys.parse_load_key):
        parsed = parse(key)
        if parsed is not None:
            return parsed[0], parsed[1]
    raw = keys.parse_raw_key(key)
    if raw is not None:
        return raw.table, raw.upload_id
    return None, None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientWarehouseError | BotoConnectionError):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _TRANSIENT_S3
    return False


def run_stage(
    stage: str,
    s3: S3Client,
    bucket: str,
    key: str,
    request_id: str | None,
    work: Callable[[], T],
) -> T | None:
    """Run ``work`` for the object ``key``; apply the retry-or-fail policy to its errors.

    Memory the invocation freed is handed back to the system afterwards (``memory.py``), so a
    warm container does not grow with the invocations it has served.
    """
    table, upload_id = _owner_of(key)
    with (
        memory.per_invocation(),
        bind(stage=stage, upload_id=upload_id, table=table, request_id=request_id, key=key),
    ):
        try:
            return work()
        except Exception as exc:
            if is_transient(exc):
                logger.warning(f"{stage}.retrying", extra={"error": str(exc)})
                raise
            message = (
                exc.message if isinstance(exc, IngestError) else f"{type(exc).__name__}: {exc}"
            )
            logger.exception(f"{stage}.failed", extra={"error": message})
            owner = (table, upload_id) if table is not None and upload_id is not None else None
            _mark_failed(s3, bucket, key, owner, f"{stage}: {message}")
            return None


def _mark_failed(
    s3: S3Client, bucket: str, key: str, owner: tuple[str, str] | None, message: str
) -> None:
    if owner is not None:
        upload = state.read(s3, bucket, owner[0], owner[1])
    else:
        upload = _owner_of_raw(s3, bucket, key)
    if upload is not None and upload.state not in ("loaded", "failed"):
        state.advance(s3, bucket, upload, "failed", error=message)


def _owner_of_raw(s3: S3Client, bucket: str, key: str) -> state.Upload | None:
    """The upload of a file copied straight into raw/ (its id is not in the key), if any."""
    raw = keys.parse_raw_key(key)
    if raw is None:
        return None
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return None  # the object is gone: there is nothing to mark
    return state.owner_of_raw(s3, bucket, raw, head)


def request_id_of(context: Any) -> str | None:
    return getattr(context, "aws_request_id", None)
