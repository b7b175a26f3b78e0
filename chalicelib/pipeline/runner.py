"""Running a pipeline stage for one S3 event, with the project's error policy.

Owns the stages' names, the event a stage runs on (``StageEvent``: an object key parsed once),
and the policy. Binds the log context (stage, upload id, table), runs the stage, and decides
what a failure means:
a transient error is re-raised so the event source (Lambda's, or the emulator's) redelivers it;
any other error marks the upload ``failed`` with a readable message and is not retried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib import keys, memory
from chalicelib.errors import IngestError, InputError, TransientWarehouseError
from chalicelib.logs import bind
from chalicelib.pipeline import state, unrouted

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


# The pipeline's stages, in the order a file goes through them.
Stage = Literal["split", "validate", "load"]
STAGES: tuple[Stage, ...] = get_args(Stage)


@dataclass(frozen=True)
class StageEvent:
    """An object whose creation starts a pipeline stage, its key parsed once.

    ``upload_id`` is None only for a file copied straight into ``raw/<table>/`` (the split
    derives its id); ``chunk`` is set for ``validate``, and for ``split`` either ``filename`` (a
    raw object) or ``plan`` and ``offset`` (a hand-off: plan on from byte ``offset``), or ``plan``
    and ``part`` (plan one part) or ``plan`` and ``chain`` (chain the parts, writing chunks from
    that number on).
    """

    stage: Stage
    key: str
    table: str
    upload_id: str | None
    chunk: int | None = None
    filename: str | None = None
    plan: str | None = None
    offset: int | None = None
    part: int | None = None
    chain: int | None = None

    @property
    def raw(self) -> keys.RawKey:
        """The raw object this ``split`` event names."""
        return keys.RawKey(self.key, self.table, self.upload_id, self.filename or "")


def parse_stage_key(key: str) -> StageEvent | None:
    """The stage that the object ``key`` starts, with what its key says; None if it starts none."""
    chunk = keys.parse_chunk_key(key)
    if chunk is not None:
        return StageEvent("validate", key, chunk[0], chunk[1], chunk=chunk[2])
    load = keys.parse_load_key(key)
    if load is not None:
        return StageEvent("load", key, load[0], load[1])
    work = keys.parse_split_work_key(key)
    if work is not None:
        table, uid, plan, kind, number = work
        if kind == "part":
            return StageEvent("split", key, table, uid, plan=plan, part=number)
        return StageEvent("split", key, table, uid, plan=plan, chain=number)
    handoff = keys.parse_split_handoff_key(key)
    if handoff is not None:
        table, uid, plan, offset = handoff
        return StageEvent("split", key, table, uid, plan=plan, offset=offset)
    raw = keys.parse_raw_key(key)
    if raw is not None:
        return StageEvent("split", key, raw.table, raw.upload_id, filename=raw.filename)
    return None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientWarehouseError | BotoConnectionError):
        return True
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _TRANSIENT_S3
    return False


def run_stage(
    stage: Stage,
    s3: S3Client,
    bucket: str,
    key: str,
    request_id: str | None,
    work: Callable[[StageEvent], T],
) -> T | None:
    """Parse ``key`` once, then run ``work`` on it; apply the retry-or-fail policy to its errors.

    A key that does not start ``stage`` (the handlers' filters are by prefix and suffix only) is
    logged and ignored. Memory the invocation freed is handed back to the system afterwards
    (``memory.py``), so a warm container does not grow with the invocations it has served.
    """
    event = parse_stage_key(key)
    with (
        memory.per_invocation(),
        bind(
            stage=stage,
            upload_id=event.upload_id if event else None,
            table=event.table if event else None,
            request_id=request_id,
            key=key,
        ),
    ):
        if event is None and stage == "split" and key.startswith(keys.RAW):
            unrouted.record_unrouted(s3, bucket, key)  # no table takes it: record it as failed
            return None
        if event is None or event.stage != stage:
            logger.warning(f"{stage}.ignored", extra={"reason": f"not a key {stage} handles"})
            return None
        try:
            return work(event)
        except Exception as exc:
            if is_transient(exc):
                logger.warning(f"{stage}.retrying", extra={"error": str(exc)})
                raise
            message = (
                exc.message if isinstance(exc, IngestError) else f"{type(exc).__name__}: {exc}"
            )
            # A file the user must fix needs no traceback, and no re-drive: it would read the
            # same file and fail the same way. Anything else may need both.
            at_fault = isinstance(exc, InputError)
            log = logger.error if at_fault else logger.exception
            log(f"{stage}.failed", extra={"error": message})
            _mark_failed(s3, bucket, event, f"{stage}: {message}", retryable=not at_fault)
            return None


def _mark_failed(
    s3: S3Client, bucket: str, event: StageEvent, message: str, *, retryable: bool
) -> None:
    if event.upload_id is not None:
        upload = state.read(s3, bucket, event.table, event.upload_id)
    else:
        upload = _owner_of_raw(s3, bucket, event)
    if upload is not None and upload.state not in ("loaded", "failed"):
        state.advance(s3, bucket, upload, "failed", error=message, retryable=retryable)


def _owner_of_raw(s3: S3Client, bucket: str, event: StageEvent) -> state.Upload | None:
    """The upload of a file copied straight into raw/ (its id is not in the key), if any."""
    try:
        head = s3.head_object(Bucket=bucket, Key=event.key)
    except ClientError:
        return None  # the object is gone: there is nothing to mark
    return state.owner_of_raw(s3, bucket, event.raw, head)


def request_id_of(context: Any) -> str | None:
    return getattr(context, "aws_request_id", None)
