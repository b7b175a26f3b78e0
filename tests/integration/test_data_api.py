"""The Data API load path on the local engine, through the local stand-in of the Data API.

boto3's own ``redshift-data`` client reaches the stand-in by ``endpoint_url``; the stand-in runs
each statement on the engine through ``redshift_connector``. Uploads are split and validated by
the real stages; the load is ``pipeline/load_async.py`` as the app runs it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from chalicelib import keys, storage
from chalicelib.api import health, reports
from chalicelib.config import Settings
from chalicelib.errors import PermanentWarehouseError, TransientWarehouseError
from chalicelib.pipeline import load, load_async, state
from chalicelib.tables import TABLES
from chalicelib.warehouse import ensure_schema, sql
from chalicelib.warehouse.redshift_data import DataApi, DataApiWarehouse, Status, Target
from tests.integration.conftest import ENGINE_BUCKET as BUCKET
from tests.stage_events import split_and_validate, stage_event

if TYPE_CHECKING:
    from devstack.redshift_local import LocalRedshift


@pytest.fixture
def settings(redshift_engine: LocalRedshift) -> Settings:
    env = {**redshift_engine.data_api_environment(), "INGEST_BUCKET": BUCKET}
    env["INGEST_CHUNK_ROWS"] = "2"
    return Settings.from_env(env)


@pytest.fixture
def api(redshift_engine: LocalRedshift, settings: Settings, s3: Any) -> DataApi:
    server = redshift_engine.start_data_api()
    client = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("redshift-data", endpoint_url=server.url)
    assert settings.redshift is not None
    made = DataApi(client, Target.of(settings.redshift))
    ensure_schema(DataApiWarehouse(made), TABLES.values())
    return made


def _upload(s3: Any, settings: Settings, table: str, body: bytes) -> str:
    return split_and_validate(s3, settings, f"raw/{table}/{body.hex()[:16]}-{len(body)}.csv", body)


def _load(s3: Any, api: DataApi, settings: Settings, table: str, uid: str) -> load.LoadResult:
    event = stage_event(keys.load_key(table, uid))
    for _ in range(30):  # as the re-queued trigger would deliver it again
        result = load_async.load_upload(s3, api, settings, event)
        if result.skipped != "load statement running":
            return result
    raise AssertionError("the load statement never ended")


def _batches(redshift_engine: LocalRedshift, table: str, uid: str) -> int:
    server = redshift_engine.start_data_api()
    name = load_async.statement_name(table, uid)
    return sum(1 for s in server.statements.values() if s.request.get("StatementName") == name)


def test_data_api_load_merges_reports_duplicates_and_drops_its_tables(
    redshift_engine: LocalRedshift, s3: Any, api: DataApi, settings: Settings
) -> None:
    uid = _upload(s3, settings, "departments", b"901,Sales\n902,Legal\nbad,Row\n901,Sales 2\n")

    result = _load(s3, api, settings, "departments", uid)

    assert (result.state, result.rows_loaded, result.rows_superseded) == ("loaded", 2, 1)
    upload = state.read(s3, BUCKET, "departments", uid)
    assert upload is not None
    assert (upload.rows_total, upload.rows_valid, upload.rows_rejected) == (4, 2, 2)
    rows = api.query('SELECT "id", "department" FROM "departments" WHERE "id" IN (901, 902)')
    assert sorted(rows) == [(901, "Sales 2"), (902, "Legal")]
    body = s3.get_object(Bucket=BUCKET, Key=keys.rejects_key("departments", uid))["Body"].read()
    lines = [json.loads(line) for line in body.splitlines()]
    assert [line["row"] for line in lines] == [1, 3]
    assert "superseded by row 4" in json.dumps(lines[0])
    staging, superseded = sql.load_tables(TABLES["departments"], uid)
    left = api.query(
        "SELECT COUNT(*) FROM pg_tables WHERE tablename IN (?, ?)", [staging, superseded]
    )
    assert left == [(0,)]
    assert api.query(sql.ledger_lookup(), [uid]) == [(2, 1)]


def test_redelivered_trigger_submits_the_batch_once(
    redshift_engine: LocalRedshift, s3: Any, api: DataApi, settings: Settings
) -> None:
    uid = _upload(s3, settings, "jobs", b"911,Welder\n912,Baker\n")
    assert settings.redshift is not None
    quick = Settings.from_env(
        {**redshift_engine.data_api_environment(), "INGEST_BUCKET": BUCKET}
        | {"INGEST_REDSHIFT_DATA_WAIT_SECONDS": "0"}
    )
    event = stage_event(keys.load_key("jobs", uid))

    first = load_async.load_upload(s3, api, quick, event)
    again = _load(s3, api, settings, "jobs", uid)
    after = load_async.load_upload(s3, api, settings, event)

    assert first.state in ("loading", "loaded")
    assert again.state == "loaded" and after.skipped == "upload is loaded"
    assert _batches(redshift_engine, "jobs", uid) == 1
    assert api.query(sql.ledger_lookup(), [uid]) == [(2, 0)]


def test_a_submission_redelivered_before_its_state_was_written_gets_its_first_statement(
    redshift_engine: LocalRedshift,
    s3: Any,
    api: DataApi,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uid = _upload(s3, settings, "jobs", b"931,Welder\n932,Baker\n")
    event = stage_event(keys.load_key("jobs", uid))
    submit = api.submit

    def submit_then_die(*args: Any, **kwargs: Any) -> str:
        submit(*args, **kwargs)
        raise TransientWarehouseError("the invocation ended before it recorded the statement")

    # The first batch waits to start (queued) when the delivery comes again, so the ledger
    # cannot tell it was sent; a second on the clock means a batch rebuilt now would carry
    # another loaded_at, and a ClientToken reused with other parameters is refused.
    redshift_engine.delay(2.5, r"^\s*LOCK")
    try:
        monkeypatch.setattr(api, "submit", submit_then_die)
        with pytest.raises(TransientWarehouseError):
            load_async.load_upload(s3, api, settings, event)
        monkeypatch.undo()
        time.sleep(1.1)
        result = _load(s3, api, settings, "jobs", uid)
    finally:
        redshift_engine.delay(0)

    assert result.state == "loaded"
    assert _batches(redshift_engine, "jobs", uid) == 1
    assert api.query(sql.ledger_lookup(), [uid]) == [(2, 0)]


def test_a_failed_copy_reaches_the_uploads_error(
    redshift_engine: LocalRedshift, s3: Any, api: DataApi, settings: Settings
) -> None:
    uid = _upload(s3, settings, "jobs", b"921,Engineer\n922,Manager\n")
    clean = keys.clean_key("jobs", uid, 0)
    s3.put_object(Bucket=BUCKET, Key=clean, Body=b"921,Engineer,1\nx922,Manager,2\n")

    result = _load(s3, api, settings, "jobs", uid)

    upload = state.read(s3, BUCKET, "jobs", uid)
    assert result.state == "failed" and upload is not None and upload.error is not None
    assert f"s3://{BUCKET}/{clean} line 2, column id:" in upload.error
    assert upload.error.endswith("(code 1207)")
    assert upload.extra.get(load_async.STATEMENT_KEY) is None  # a retry submits afresh
    assert api.query('SELECT COUNT(*) FROM "jobs" WHERE "id" IN (921, 922)') == [(0,)]
    assert api.query(sql.ledger_lookup(), [uid]) == []


def test_reports_and_health_go_through_the_data_api(
    redshift_engine: LocalRedshift, s3: Any, api: DataApi, settings: Settings
) -> None:
    dept = _upload(s3, settings, "departments", b"931,Research\n")
    job = _upload(s3, settings, "jobs", b"931,Chemist\n")
    hires = _upload(s3, settings, "hired_employees", b"931,Ada,2019-05-02T10:00:00Z,931,931\n")
    for table, uid in (("departments", dept), ("jobs", job), ("hired_employees", hires)):
        assert _load(s3, api, settings, table, uid).state == "loaded"
    warehouse = DataApiWarehouse(api)

    rows = reports.hires_by_quarter(warehouse, 2019)
    checked = health.check(s3, settings, lambda: warehouse)

    assert [(r.department, r.job, r.q2) for r in rows if r.department == "Research"] == [
        ("Research", "Chemist", 1)
    ]
    assert checked.to_json()["warehouse"] == {"engine": "redshift", "api": "data", "status": "ok"}


def test_data_api_upload_whose_rows_are_all_rejected_ends_loaded_with_no_rows(
    s3: Any, api: DataApi, settings: Settings
) -> None:
    uid = _upload(s3, settings, "jobs", b"x,Engineer\n0,Manager\n")

    result = _load(s3, api, settings, "jobs", uid)

    assert (result.state, result.rows_loaded) == ("loaded", 0)
    assert api.query(sql.ledger_lookup(), [uid]) == [(0, 0)]


def test_data_api_text_equal_to_the_null_marker_loads_as_text(
    s3: Any, api: DataApi, settings: Settings
) -> None:
    uid = _upload(s3, settings, "departments", b"941,\\N\n")

    result = _load(s3, api, settings, "departments", uid)

    assert result.state == "loaded"
    assert api.query('SELECT "department" FROM "departments" WHERE "id" = 941') == [("\\N",)]


def test_a_failed_copy_without_a_query_id_is_found_by_its_files(
    s3: Any, api: DataApi, settings: Settings
) -> None:
    # Describe may name no query for the failed part: the lookup by the upload's files remains.
    uid = _upload(s3, settings, "jobs", b"951,Engineer\n")
    clean = keys.clean_key("jobs", uid, 0)
    s3.put_object(Bucket=BUCKET, Key=clean, Body=b"x951,Engineer,1\n")
    assert _load(s3, api, settings, "jobs", uid).state == "failed"
    upload = state.read(s3, BUCKET, "jobs", uid)
    assert upload is not None
    status = Status("id", "FAILED", "ERROR: Load into table failed", None, "COPY x")
    error = PermanentWarehouseError("redshift: load failed")

    message = load_async._failure_message(api, BUCKET, TABLES["jobs"], upload, status, error)

    assert f"s3://{BUCKET}/{clean} line 1, column id:" in message


@pytest.mark.parametrize("kind", ["BatchExecuteStatementException", "ExecuteStatementException"])
def test_an_environmental_error_from_the_data_api_is_retried(
    redshift_engine: LocalRedshift, s3: Any, api: DataApi, settings: Settings, kind: str
) -> None:
    uid = _upload(s3, settings, "jobs", b"961,Welder\n")
    operation = kind.removesuffix("Exception")
    redshift_engine.start_data_api().fail_next(operation, kind)

    with pytest.raises(TransientWarehouseError):
        load_async.load_upload(s3, api, settings, stage_event(keys.load_key("jobs", uid)))

    assert _load(s3, api, settings, "jobs", uid).state == "loaded"


def test_a_finished_load_is_found_when_its_event_never_arrives(
    redshift_engine: LocalRedshift, s3: Any, api: DataApi
) -> None:
    # WithEvent on, but the event is lost (EventBridge delivers at best effort): the sweep's
    # recheck must bring the load back and finish it.
    env = {**redshift_engine.data_api_environment(), "INGEST_BUCKET": BUCKET}
    events = Settings.from_env(
        env | {"INGEST_REDSHIFT_DATA_EVENTS": "true", "INGEST_REDSHIFT_DATA_WAIT_SECONDS": "0"}
    )
    uid = _upload(s3, events, "jobs", b"971,Baker\n")
    trigger = keys.load_key("jobs", uid)
    redshift_engine.delay(1.5, r"^\s*COPY")
    try:
        s3.delete_object(Bucket=BUCKET, Key=trigger)
        first = load_async.load_upload(s3, api, events, stage_event(trigger))
    finally:
        redshift_engine.delay(0)
    assert first.skipped == "load statement running"
    assert not storage.exists(s3, BUCKET, trigger)  # no re-queue: an event was asked for
    waiting = state.read(s3, BUCKET, "jobs", uid)
    assert waiting is not None
    statement = waiting.extra[load_async.STATEMENT_KEY]
    for _ in range(100):  # the batch ends; its event never comes
        if api.describe(statement).status == "FINISHED":
            break
        time.sleep(0.1)
    later = datetime.now(UTC) + load_async.RECHECK_AFTER
    assert load_async.recheck_waiting(s3, events, [waiting], later) == [uid]
    assert storage.exists(s3, BUCKET, trigger)
    result = load_async.load_upload(s3, api, events, stage_event(trigger))
    assert result.state == "loaded"
