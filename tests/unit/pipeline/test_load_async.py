"""The Data API load's decisions on moto S3, with the Data API replaced by a scripted fake:
waiting, re-queueing, resubmitting a rolled-back batch, giving up, and the completion event."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import keys
from chalicelib.pipeline import load_async, state
from chalicelib.warehouse.redshift_data import DataApi, Target
from chalicelib.warehouse.settings import RedshiftSettings
from tests.conftest import load_event
from tests.stage_events import split_and_validate, stage_event

if TYPE_CHECKING:
    from collections.abc import Mapping

    from chalicelib.config import Settings

ROLE = "arn:aws:iam::123456789012:role/r"


class FakeDataApi:
    """Batches end as ``outcomes`` says, one per submission ("STARTED" stays running); a
    finished batch puts its upload in the ledger. Other statements answer from the ledger."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes
        self.batches: dict[str, dict[str, Any]] = {}
        self.ledger: dict[str, tuple[int, int]] = {}
        self.queries: dict[str, list[list[dict[str, Any]]]] = {}

    def batch_execute_statement(self, **kwargs: Any) -> Mapping[str, Any]:
        for known, batch in self.batches.items():
            if batch["ClientToken"] == kwargs["ClientToken"]:
                return {"Id": known}
        statement_id = f"b-{len(self.batches) + 1}"
        self.batches[statement_id] = {**kwargs, "Status": self.outcomes.pop(0)}
        return {"Id": statement_id}

    def finish(self, statement_id: str) -> None:
        self.batches[statement_id]["Status"] = "FINISHED"

    def execute_statement(self, **kwargs: Any) -> Mapping[str, Any]:
        sql, values = kwargs["Sql"], [p["value"] for p in kwargs.get("Parameters", [])]
        rows: list[list[dict[str, Any]]] = []
        if '"ingest_loads"' in sql and values:
            found = self.ledger.get(values[0])
            rows = [[{"longValue": found[0]}, {"longValue": found[1]}]] if found else []
        statement_id = f"q-{len(self.queries) + 1}"
        self.queries[statement_id] = rows
        return {"Id": statement_id}

    def describe_statement(self, **kwargs: Any) -> Mapping[str, Any]:
        statement_id = kwargs["Id"]
        if statement_id.startswith("q-"):
            return {"Id": statement_id, "Status": "FINISHED", "HasResultSet": True}
        batch = self.batches[statement_id]
        if batch["Status"] == "FINISHED":
            uid = batch["StatementName"].rsplit(":", 1)[1]
            self.ledger.setdefault(uid, (2, 0))
        error = {"Error": "ERROR: 1023 Serializable isolation violation"}
        return {
            "Id": statement_id,
            "Status": batch["Status"],
            **(error if batch["Status"] == "FAILED" else {}),
        }

    def get_statement_result(self, **kwargs: Any) -> Mapping[str, Any]:
        return {"Records": self.queries[kwargs["Id"]]}


def _settings(base: Settings, events: bool, attempts: int = 3) -> Settings:
    redshift = RedshiftSettings(
        host=None, port=5439, database="dev", user="u", password=None, iam_role=ROLE,
        auth="iam", cluster_identifier="c", api="data", data_events=events, data_wait_s=0,
    )  # fmt: skip
    return replace(base, warehouse="redshift", redshift=redshift, load_attempts=attempts)


def _validated(s3: Any, settings: Settings) -> str:
    return split_and_validate(s3, settings, "raw/jobs/jobs.csv", b"1,Welder\n2,Baker\n")


def _triggered(s3: Any, settings: Settings) -> bool:
    return "Contents" in s3.list_objects_v2(Bucket=settings.bucket, Prefix="loads/")


def _upload(s3: Any, settings: Settings, uid: str) -> state.Upload:
    found = state.read(s3, settings.bucket, "jobs", uid)
    assert found is not None
    return found


@pytest.mark.parametrize("events", [True, False])
def test_a_running_batch_is_re_queued_only_when_no_event_will_come(
    s3: Any, settings: Settings, events: bool
) -> None:
    settings = _settings(settings, events)
    uid = _validated(s3, settings)
    fake = FakeDataApi(["STARTED"])
    api = DataApi(fake, Target("dev", "c", db_user="u"))
    s3.delete_object(Bucket=settings.bucket, Key=keys.load_key("jobs", uid))
    event = stage_event(keys.load_key("jobs", uid))

    first = load_async.load_upload(s3, api, settings, event)
    requeued = _triggered(s3, settings)
    second = load_async.load_upload(s3, api, settings, event)

    assert first.skipped == second.skipped == "load statement running"
    # With events on the completion event finishes it (and the sweep makes up for a lost one);
    # without, the trigger is the only way back.
    assert requeued is not events
    assert list(fake.batches) == ["b-1"]  # the redelivered trigger waited on it
    assert _upload(s3, settings, uid).extra[load_async.STATEMENT_KEY] == "b-1"


def test_the_sweep_asks_again_about_a_load_whose_event_may_be_lost(
    s3: Any, settings: Settings
) -> None:
    settings = _settings(settings, events=True)
    uid = _validated(s3, settings)
    fake = FakeDataApi(["STARTED"])
    api = DataApi(fake, Target("dev", "c", db_user="u"))
    s3.delete_object(Bucket=settings.bucket, Key=keys.load_key("jobs", uid))
    event = stage_event(keys.load_key("jobs", uid))
    assert load_async.load_upload(s3, api, settings, event).skipped == "load statement running"
    waiting = _upload(s3, settings, uid)
    changed = datetime.strptime(waiting.updated_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    soon = load_async.recheck_waiting(s3, settings, [waiting], changed + timedelta(minutes=1))
    assert soon == [] and not _triggered(s3, settings)  # the event may still be on its way
    later = changed + load_async.RECHECK_AFTER + timedelta(seconds=1)
    assert load_async.recheck_waiting(s3, settings, [waiting], later) == [uid]
    assert _triggered(s3, settings)
    # The batch ended meanwhile, its event lost: the rewritten trigger finishes the load.
    fake.batches["b-1"]["Status"] = "FINISHED"
    assert load_async.load_upload(s3, api, settings, event).state == "loaded"
    assert load_async.recheck_waiting(s3, settings, [_upload(s3, settings, uid)], later) == []


def test_the_completion_event_finishes_only_the_recorded_statement(
    s3: Any, settings: Settings
) -> None:
    settings = _settings(settings, events=True)
    uid = _validated(s3, settings)
    fake = FakeDataApi(["STARTED"])
    api = DataApi(fake, Target("dev", "c", db_user="u"))
    event = stage_event(keys.load_key("jobs", uid))
    load_async.load_upload(s3, api, settings, event)
    fake.finish("b-1")

    other = load_async.on_statement_event(s3, api, settings, event, "b-9")
    done = load_async.on_statement_event(s3, api, settings, event, "b-1")
    late = load_async.on_statement_event(s3, api, settings, event, "b-1")

    assert other.skipped == "not its load statement"
    assert (done.state, done.rows_loaded) == ("loaded", 2)
    assert late.skipped == "upload is loaded"
    upload = _upload(s3, settings, uid)
    assert (upload.state, upload.rows_valid, upload.rows_rejected) == ("loaded", 2, 0)


def test_a_rolled_back_batch_is_submitted_again_with_a_new_token(
    s3: Any, settings: Settings
) -> None:
    settings = _settings(settings, events=True)
    uid = _validated(s3, settings)
    fake = FakeDataApi(["FAILED", "FINISHED"])
    api = DataApi(fake, Target("dev", "c", db_user="u"))
    event = stage_event(keys.load_key("jobs", uid))
    s3.delete_object(Bucket=settings.bucket, Key=keys.load_key("jobs", uid))

    first = load_async.load_upload(s3, api, settings, event)
    requeued = _triggered(s3, settings)
    second = load_async.load_upload(s3, api, settings, event)

    assert first.skipped == "load statement rolled back" and requeued
    assert second.state == "loaded"
    assert [b["ClientToken"] for b in fake.batches.values()] == [f"{uid}-1", f"{uid}-2"]


def test_a_batch_rolled_back_on_the_last_attempt_fails_the_upload(
    s3: Any, settings: Settings
) -> None:
    settings = _settings(settings, events=True, attempts=1)
    uid = _validated(s3, settings)
    api = DataApi(FakeDataApi(["ABORTED"]), Target("dev", "c", db_user="u"))

    result = load_async.load_upload(s3, api, settings, stage_event(keys.load_key("jobs", uid)))

    upload = _upload(s3, settings, uid)
    assert result.state == "failed" and upload.state == "failed"
    assert upload.error is not None and "after 1 attempts" in upload.error
    assert f"/api/v1/uploads/{uid}/retry" in upload.error


def test_the_apps_rule_matches_the_completion_event_of_a_load() -> None:
    from chalice.app import CloudWatchEventConfig

    from app import app

    (rule,) = [s for s in app.event_sources if isinstance(s, CloudWatchEventConfig)]
    event = load_event(
        "redshift_data_statement_status_change",
        statement_name=load_async.statement_name("jobs", "20211126T031500Z-0123456789ab"),
        statement_id="dd2e1ec9-2ee3-49a0-819f-905fa7d75a4a",
        state="FINISHED",
    )
    pattern = rule.event_pattern
    assert event["source"] in pattern["source"]
    assert event["detail-type"] in pattern["detail-type"]
    (prefix,) = pattern["detail"]["statementName"]
    assert event["detail"]["statementName"].startswith(prefix["prefix"])
    assert load_async.statement_of(event["detail"]) == (
        "jobs",
        "20211126T031500Z-0123456789ab",
        "dd2e1ec9-2ee3-49a0-819f-905fa7d75a4a",
    )
