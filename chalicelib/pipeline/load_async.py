"""Stage 3 over the Redshift Data API: a load that can outlast the Lambda that starts it.

The load trigger submits the whole load (COPY into a per-upload staging table, de-duplicate,
MERGE, ledger row) as one BatchExecuteStatement and records the statement id in the upload's
state; whoever learns that the statement ended finishes the load: the Data API's EventBridge
event (``on_statement_event``), or the trigger again (the load re-queues itself while the
statement runs, in case the event is lost). Finishing reads the superseded pairs and the ledger
row after the commit, writes the rejects file, drops the per-upload tables and marks the upload
loaded; every step may run twice. The SQL is in ``warehouse/sql/batchload.py``; the manifest,
counts and rejects are ``load.py``'s.
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib import keys, storage
from chalicelib.config import event_queue_prefix
from chalicelib.errors import (
    ConfigError,
    PermanentWarehouseError,
    TransientWarehouseError,
    WarehouseError,
)
from chalicelib.logs import bind
from chalicelib.pipeline import completion, load, rejects, state
from chalicelib.tables import get_table
from chalicelib.warehouse import sql

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.pipeline.runner import StageEvent
    from chalicelib.pipeline.state import Upload
    from chalicelib.tables import Table
    from chalicelib.warehouse.redshift_data import DataApi, Status
    from chalicelib.warehouse.settings import RedshiftSettings

logger = logging.getLogger(__name__)

# Statement names start with this, so the EventBridge rule matches only this stage's loads: the
# stage's queue prefix (csv-ingest-dev) names it, read at import as Chalice reads it when it
# writes the rule's pattern.
STATEMENT_PREFIX = f"{event_queue_prefix()}-load:"
STATEMENT_KEY = "load_statement"
# A submission's number and time, written before the batch is sent: a delivery that finds them
# without a statement id sends the very same batch again (same ClientToken, same parameters,
# loaded_at included), which the Data API answers with the first statement, where a batch
# rebuilt with another time would be refused for reusing the token.
SUBMISSION_KEY = "load_submission"
# How long a load waits on its batch's completion event before the sweep asks again. Longer than
# the event's usual delay (seconds), short enough that a lost event costs minutes, not hours.
RECHECK_AFTER = timedelta(minutes=5)


def statement_name(table: str, upload_id: str) -> str:
    """The StatementName of an upload's load batch (the completion event carries it back)."""
    return f"{STATEMENT_PREFIX}{table}:{upload_id}"


def parse_statement_name(name: str) -> tuple[str, str] | None:
    """(table, upload id) of a load batch's StatementName, or None for any other statement."""
    if not name.startswith(STATEMENT_PREFIX):
        return None
    table, _, upload_id = name[len(STATEMENT_PREFIX) :].partition(":")
    return keys.parse_load_key(keys.load_key(table, upload_id)) if upload_id else None


def _redshift(settings: Settings) -> RedshiftSettings:
    if settings.redshift is None or settings.redshift.api != "data":
        raise ConfigError("the Data API load needs INGEST_REDSHIFT_API=data")
    return settings.redshift


def load_upload(
    s3: S3Client, api: DataApi, settings: Settings, event: StageEvent
) -> load.LoadResult:
    """Start, or carry on with, the load the trigger ``event`` names.

    Submits the batch once (a statement id already in the state is waited on instead), waits up
    to ``INGEST_REDSHIFT_DATA_WAIT_SECONDS`` and finishes the load if it ended; otherwise leaves
    it to the completion event, or re-queues the trigger when events are off.

    Raises:
        TransientWarehouseError: the Data API or Redshift may recover and attempts remain.
    """
    redshift = _redshift(settings)
    table_name, upload_id = event.table, event.upload_id or ""
    bucket = settings.bucket
    pending = load.pending_load(s3, bucket, event)
    if isinstance(pending, load.LoadResult):
        return pending
    upload, done = pending
    table = get_table(table_name)
    statement = upload.extra.get(STATEMENT_KEY)
    if statement:
        return _settle(s3, api, settings, table, upload, api.wait(statement, redshift.data_wait_s))
    upload, attempt = state.begin_load_attempt(s3, bucket, upload)
    try:
        if api.query(sql.ledger_lookup(), [upload_id]):
            # Committed before, its state not updated (a crash): finish, do not load again.
            return _finish(s3, api, settings, table, upload)
        upload = _submit(s3, api, redshift, bucket, table, upload, done)
        status = api.wait(upload.extra[STATEMENT_KEY], redshift.data_wait_s)
    except PermanentWarehouseError as exc:
        return _fail(s3, bucket, upload, exc.message)
    except TransientWarehouseError as exc:
        return _gave_up_or_raise(s3, settings, upload, exc, attempt)
    return _settle(s3, api, settings, table, upload, status)


def on_statement_event(
    s3: S3Client, api: DataApi, settings: Settings, event: StageEvent, statement_id: str
) -> load.LoadResult:
    """Finish the load whose batch ``statement_id`` ended (the Data API's EventBridge event).

    An event for a statement the upload no longer waits on (a finished or replaced one) is
    ignored.
    """
    _redshift(settings)
    upload = state.read(s3, settings.bucket, event.table, event.upload_id or "")
    if upload is None or upload.state != "loading":
        reason = "unknown upload" if upload is None else f"upload is {upload.state}"
        return load.LoadResult(event.upload_id, upload.state if upload else None, skipped=reason)
    if upload.extra.get(STATEMENT_KEY) != statement_id:
        return load.LoadResult(upload.upload_id, upload.state, skipped="not its load statement")
    table = get_table(event.table)
    return _settle(s3, api, settings, table, upload, api.describe(statement_id), requeue=False)


def recheck_waiting(
    s3: S3Client, settings: Settings, uploads: Iterable[Upload], now: datetime | None = None
) -> list[str]:
    """Ask again about loads whose batch may have ended without its event reaching us.

    For each upload still ``loading`` on a statement and unchanged for ``RECHECK_AFTER``, the
    load trigger is written again: the load function describes the statement and finishes the
    load if it ended (or leaves it running). Safe at any time: finishing is once only. Returns
    the upload ids asked about.
    """
    now = now or datetime.now(UTC)
    asked = []
    for upload in uploads:
        if upload.state != "loading" or not upload.extra.get(STATEMENT_KEY):
            continue
        updated = datetime.strptime(upload.updated_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if now - updated < RECHECK_AFTER:
            continue
        completion.request_load(s3, settings.bucket, upload)
        asked.append(upload.upload_id)
        with bind(upload_id=upload.upload_id, table=upload.table):
            logger.info("load.rechecked", extra={"statement_id": upload.extra[STATEMENT_KEY]})
    return asked


def _submit(
    s3: S3Client,
    api: DataApi,
    redshift: RedshiftSettings,
    bucket: str,
    table: Table,
    upload: Upload,
    done: list[state.ChunkDone],
) -> Upload:
    """Write the COPY manifest, submit the batch and record its id in the upload's state."""
    manifest_key = keys.copy_manifest_key(table.name, upload.upload_id)
    manifest = load.copy_manifest(s3, bucket, table, upload, done)
    storage.put_json(s3, bucket, manifest_key, manifest)
    pending = upload.extra.get(SUBMISSION_KEY)
    if pending is None:
        pending = {
            "number": int(upload.extra.get("load_submissions", 0)) + 1,
            "at": datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat(),
        }
        extra = {**upload.extra, SUBMISSION_KEY: pending}
        upload = state.advance(s3, bucket, upload, "loading", extra=extra)
    statements = sql.load_batch(
        table,
        upload.upload_id,
        keys.s3_uri(bucket, manifest_key) if manifest["entries"] else None,
        redshift.iam_role,
        datetime.fromisoformat(pending["at"]),
    )
    statement_id = api.submit(
        statements,
        name=statement_name(table.name, upload.upload_id),
        # The same submission delivered twice gets the first statement back, not a second one.
        token=f"{upload.upload_id}-{pending['number']}",
        with_event=redshift.data_events,
    )
    logger.info("load.submitted", extra={"statement_id": statement_id, "table": table.name})
    extra = {**upload.extra, STATEMENT_KEY: statement_id, "load_submissions": pending["number"]}
    return state.advance(s3, bucket, upload, "loading", extra=extra)


def _settle(
    s3: S3Client,
    api: DataApi,
    settings: Settings,
    table: Table,
    upload: Upload,
    status: Status,
    *,
    requeue: bool = True,
) -> load.LoadResult:
    bucket = settings.bucket
    if status.running:
        # With events on, the completion event finishes it; a lost event (EventBridge delivers
        # at best effort) is made up for by the sweep (``recheck_waiting``), not by an
        # invocation every few seconds for as long as the batch runs.
        if requeue and not _redshift(settings).data_events:
            completion.request_load(s3, bucket, upload)
        logger.info("load.waiting", extra={"statement_id": status.statement_id})
        return load.LoadResult(upload.upload_id, upload.state, skipped="load statement running")
    if status.status == "FINISHED":
        try:
            return _finish(s3, api, settings, table, upload)
        except PermanentWarehouseError as exc:
            current = state.read(s3, bucket, table.name, upload.upload_id)
            if current is not None and current.state == "loaded":
                # Another finisher (the event and the trigger both came) got there first.
                return load.LoadResult(upload.upload_id, "loaded", skipped="finished elsewhere")
            return _fail(s3, bucket, upload, exc.message)
    # The batch rolled back: forget it, so the next delivery submits a new one.
    upload = state.advance(
        s3,
        bucket,
        upload,
        "loading",
        extra={**upload.extra, STATEMENT_KEY: None, SUBMISSION_KEY: None},
    )
    error = status.failure()
    if isinstance(error, PermanentWarehouseError):
        message = _failure_message(api, bucket, table, upload, status, error)
        return _fail(s3, bucket, upload, message)
    attempt = max(upload.load_attempts, 1)  # a statement ran, so at least one attempt
    if attempt >= settings.load_attempts:
        return _gave_up_or_raise(s3, settings, upload, error, attempt)
    # Not a re-raise: a redelivered completion event would find no statement to finish. A new
    # trigger submits again (a serialization conflict, an aborted batch).
    logger.warning("load.resubmitting", extra={"error": error.message, "attempt": attempt})
    completion.request_load(s3, bucket, upload)
    return load.LoadResult(upload.upload_id, "loading", skipped="load statement rolled back")


def _failure_message(
    api: DataApi, bucket: str, table: Table, upload: Upload, status: Status, error: WarehouseError
) -> str:
    """The upload's error: for a failed COPY, where and why, from the load-error system views.

    RedshiftQueryId is STL's query id; SYS's query_id is another number, so SYS is asked by it
    only where there is no STL (Serverless). Without an id, the upload's own files name it.
    """
    is_copy = (status.failed_sql or "").lstrip().upper().startswith("COPY")
    if not is_copy and "load into table" not in (status.error or "").lower():
        return error.message
    staging, _ = sql.load_tables(table, upload.upload_id)
    rows: list[tuple[object, ...]] = []
    if status.failed_query_id:
        try:
            rows = api.query(sql.load_errors_stl(), [status.failed_query_id])
        except WarehouseError:  # Serverless has no STL_LOAD_ERRORS
            rows = _rows_or_none(api, sql.load_errors(), [status.failed_query_id])
    if not rows:
        rows = _rows_or_none(api, sql.load_errors_by_file(), [_clean_files(bucket, table, upload)])
    if not rows:
        return f"COPY into {staging} failed: {error.message}"
    reason = "; ".join(
        f"{str(f).strip()} line {line}, column {str(col).strip() or '?'}: "
        f"{str(why).strip()} (code {code})"
        for f, line, col, code, why in rows
    )
    return f"COPY into {staging} failed: {reason}"


def _rows_or_none(api: DataApi, query: str, params: list[object]) -> list[tuple[object, ...]]:
    try:
        return api.query(query, params)
    except WarehouseError:
        return []


def _clean_files(bucket: str, table: Table, upload: Upload) -> str:
    """A LIKE pattern for the full location (``s3://bucket/clean/...``) of the upload's cleaned
    files, as the load-error views record it; ``_`` and ``%`` in it match only themselves."""
    folder = keys.clean_key(table.name, upload.upload_id, 0).rsplit("/", 1)[0] + "/"
    location = keys.s3_uri(bucket, folder)
    return location.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"


def _finish(
    s3: S3Client, api: DataApi, settings: Settings, table: Table, upload: Upload
) -> load.LoadResult:
    """After the commit: duplicates and rejects files, drop the per-upload tables, loaded."""
    started = time.monotonic()
    bucket, upload_id = settings.bucket, upload.upload_id
    recorded = api.query(sql.ledger_lookup(), [upload_id])
    if not recorded:
        raise PermanentWarehouseError("the load statement finished but left no ledger row")
    loaded, superseded = int(recorded[0][0]), int(recorded[0][1])
    duplicates = keys.duplicates_key(table.name, upload_id)
    if not storage.exists(s3, bucket, duplicates):
        _, superseded_table = sql.load_tables(table, upload_id)
        pairs = (
            [(int(r), int(w)) for r, w in api.query(sql.superseded_rows(superseded_table))]
            if superseded
            else []
        )
        with tempfile.SpooledTemporaryFile(max_size=rejects.SPOOL_BYTES) as out:
            rejects.write_duplicates(s3, bucket, table, upload_id, pairs, out)
            out.seek(0)
            s3.upload_fileobj(out, bucket, duplicates, Config=rejects.ONE_PART)
    done = completion.read_done(s3, bucket, table.name, upload_id)
    result = load.finish_loaded(s3, bucket, upload, done, loaded, superseded, started)
    for statement in sql.drop_load_tables(table, upload_id):
        try:
            api.query(statement)
        except WarehouseError as exc:  # left behind, harmless: the next load drops it first
            logger.warning("load.drop_failed", extra={"error": exc.message})
    return result


def _fail(s3: S3Client, bucket: str, upload: Upload, message: str) -> load.LoadResult:
    logger.error("load.failed", extra={"error": message})
    state.advance(s3, bucket, upload, "failed", error=message)
    return load.LoadResult(upload.upload_id, "failed")


def _gave_up_or_raise(
    s3: S3Client, settings: Settings, upload: Upload, exc: WarehouseError, attempt: int
) -> load.LoadResult:
    if attempt < settings.load_attempts:
        raise exc
    message = (
        f"load: warehouse unavailable after {attempt} attempts ({exc.message}); once it is "
        f"back, retry with POST /api/v1/uploads/{upload.upload_id}/retry"
    )
    logger.error("load.gave_up", extra={"error": exc.message, "attempts": attempt})
    state.advance(s3, settings.bucket, upload, "failed", error=message)
    return load.LoadResult(upload.upload_id, "failed")


def statement_of(detail: Mapping[str, object]) -> tuple[str, str, str] | None:
    """(table, upload id, statement id) of a ``Redshift Data Statement Status Change`` event's
    detail, or None when it is not one of this service's loads."""
    name, statement_id = detail.get("statementName"), detail.get("statementId")
    if not isinstance(name, str) or not isinstance(statement_id, str):
        return None
    parsed = parse_statement_name(name)
    return (*parsed, statement_id) if parsed else None
