"""A fault after every write of every stage, then recovery; a warehouse outage, then a retry.

Each write the pipeline makes (S3 puts and copies, each warehouse statement, the commit) is a
fault point: the chunk written, before and after the done marker, inside the load transaction,
after the commit but before the status update. At each point the handler crashes or sees an
error, and the upload is recovered the way production would: Lambda delivering the event again,
or, once retries are exhausted or the upload failed, ``POST /api/v1/uploads/{id}/retry``
(``redrive.retry_upload``). The final state must be the oracle's, with no row lost or doubled.
Each scenario's outcome is recorded before anything is asserted.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.config import Settings
from chalicelib.pipeline import redrive, state
from tests.reliability.corpus import OK_DT
from tests.reliability.fakes3 import FakeS3
from tests.reliability.harness import Bus, FaultPlan
from tests.reliability.oracle import expect
from tests.reliability.verdict import check, fresh_warehouse, observe, outcome

if TYPE_CHECKING:
    from tests.reliability.ledger import Ledger
    from tests.reliability.verdict import Outcome

SETTINGS = Settings(bucket="reliability-bucket", chunk_rows=4)
# A split that hands its planning on after every chunk (splits/... hand-offs between them).
HANDING_ON = replace(SETTINGS, chunk_rows=2, max_invocation_bytes=1)
TABLE = "hired_employees"
KEY = f"raw/{TABLE}/faults.csv"
DATA = (
    f"1,Ada,{OK_DT},1,1\n"
    f'2,"Hopper, Grace",{OK_DT},1,2\n'
    "3,Alan,2021-02-30T10:00:00Z,2,1\n"
    f"4,Edsger,{OK_DT},2,2\n"
    f"1,Ada again,{OK_DT},2,2\n"
    f"5,Bad,{OK_DT},2\n"
    f"6,Barbara,{OK_DT},1,1\n"
).encode()
LATER = datetime.now(UTC) + timedelta(hours=1)


def _run(plan: FaultPlan, settings: Settings = SETTINGS, **knobs: Any) -> tuple[Bus, Any, FakeS3]:
    s3 = FakeS3(settings.bucket)
    warehouse = fresh_warehouse(s3)
    bus = Bus(s3, warehouse, settings, plan=plan, **knobs)
    bus.put(KEY, DATA)
    bus.run()
    return bus, warehouse, s3


def _points(settings: Settings = SETTINGS) -> list[tuple[int, str]]:
    bus, warehouse, _ = _run(FaultPlan(), settings)
    warehouse.close()
    return [(i, step) for i, step in enumerate(bus.plan.steps) if not step.startswith("upload:")]


POINTS = _points()
HANDOFF_POINTS = _points(HANDING_ON)
MODES = {
    "crash, event delivered again": ("crash", {}, False),
    "crash, retries exhausted, then POST retry": ("crash", {"redeliver_crashes": False}, True),
    "error (S3 AccessDenied / warehouse rejects), upload failed, then POST retry": (
        "error",
        {},
        True,
    ),
    "transient error (S3 SlowDown / warehouse unavailable), event retried": (
        "transient",
        {},
        False,
    ),
}


def _uploads(s3: Any) -> list[state.Upload]:
    return [u for u in state.list_uploads(s3, SETTINGS.bucket, TABLE) if u.source_key == KEY]


def _upload(s3: Any) -> state.Upload:
    found = _uploads(s3)
    assert len(found) == 1
    return found[0]


def test_fault_points_cover_every_stage_and_the_commit() -> None:
    steps = [step for _, step in POINTS]
    for stage in ("split", "validate", "load"):
        assert any(s.startswith(f"{stage}:") for s in steps), stage
    assert "load: COMMIT" in steps
    assert any("done/" in s for s in steps) and any(".rec" in s for s in steps)
    assert any(s.startswith("load: sql MERGE") for s in steps)
    handing_on = [step for _, step in HANDOFF_POINTS]
    assert sum("splits/" in s for s in handing_on) == 3  # 7 rows, 2 a chunk: 4 invocations
    assert sum("chunks/" in s for s in handing_on) == 4


def _record(reliability: Ledger, item: str, out: Outcome) -> dict[str, Any]:
    figures = observe(expect(TABLE, DATA), out)
    reliability.add(
        "faults",
        item,
        scenarios=1,
        loaded=int(figures["state"] == "loaded"),
        not_loaded=int(figures["state"] != "loaded"),
        lost=figures["lost"],
        duplicates=figures["duplicates"],
    )
    return figures


Seen = list[tuple[str, str | None, list[state.Upload], "Outcome"]]


def _fault_at_each_point(
    reliability: Ledger, mode: str, settings: Settings, points: list[tuple[int, str]], label: str
) -> Seen:
    """Run the file with a fault at each of ``points`` in turn, recover as ``mode`` says, and
    record each outcome; return (step, the step that fired, the uploads, the outcome) each."""
    kind, knobs, redrive_after = MODES[mode]
    seen: Seen = []
    for index, step in points:
        plan = FaultPlan(at=index, kind=kind)
        bus, warehouse, s3 = _run(plan, settings, **knobs)
        uploads = _uploads(s3)
        if redrive_after and [u.state for u in uploads] not in ([], ["loaded"]):
            redrive.retry_upload(bus.s3, settings, uploads[0].upload_id, now=LATER)
            bus.run()
        out = outcome(s3, warehouse, settings, TABLE, KEY)
        warehouse.close()
        _record(reliability, f"{label}: {step.split(':')[0]}", out)
        seen.append((step, plan.fired, uploads, out))
    return seen


@pytest.mark.parametrize("mode", list(MODES))
def test_a_fault_at_any_write_is_recovered_without_loss_or_duplicates(
    reliability: Ledger, mode: str
) -> None:
    kind, _, redrive_after = MODES[mode]
    expected = expect(TABLE, DATA)
    for step, fired, uploads, out in _fault_at_each_point(
        reliability, mode, SETTINGS, POINTS, mode
    ):
        assert fired == step, (fired, step)
        assert len(uploads) == 1, (step, uploads)
        upload = uploads[0]
        if redrive_after and kind == "error" and upload.state != "loaded":
            # the fault failed the upload readably before the retry
            assert upload.state == "failed" and upload.error, (step, upload)
            assert "injected" in upload.error
        check(expected, out)


# Crashes and transient errors are what a split between two hand-offs meets in production.
HANDOFF_MODES = [m for m in MODES if MODES[m][0] in ("crash", "transient")]


@pytest.mark.parametrize("mode", HANDOFF_MODES)
def test_a_fault_at_any_write_of_a_split_that_hands_on_is_recovered(
    reliability: Ledger, mode: str
) -> None:
    """The same faults, with the split handing its planning on after every chunk: a crash
    between a range and its hand-off, or after the hand-off, plans the same chunks again."""
    expected = expect(TABLE, DATA)
    label = f"{mode}, split handing on"
    for step, fired, _, out in _fault_at_each_point(
        reliability, mode, HANDING_ON, HANDOFF_POINTS, label
    ):
        assert fired == step, (fired, step)
        check(expected, out)
        assert out.upload.detected is not None
        assert out.upload.detected["split_invocations"] == 4, (step, out.upload.detected)


def _failed_by_outage(copies: int = 1, seed: int | None = None) -> tuple[Bus, Any, FakeS3]:
    s3 = FakeS3(SETTINGS.bucket)
    warehouse = fresh_warehouse(s3)
    bus = Bus(s3, warehouse, SETTINGS, copies=copies, seed=seed)
    bus.warehouse.down = True
    bus.put(KEY, DATA)
    bus.run()
    return bus, warehouse, s3


@pytest.mark.parametrize(("copies", "seed"), [(1, None), (2, 1), (2, 2)])
def test_a_warehouse_outage_fails_the_upload_readably_and_a_retry_loads_it(
    reliability: Ledger, copies: int, seed: int | None
) -> None:
    bus, warehouse, s3 = _failed_by_outage(copies, seed)
    upload = _upload(s3)
    rows_while_down = warehouse.execute(f'SELECT COUNT(*) FROM "{TABLE}"')
    bus.warehouse.down = False
    retried = redrive.retry_upload(bus.s3, SETTINGS, upload.upload_id)
    bus.run()
    out = outcome(s3, warehouse, SETTINGS, TABLE, KEY)
    _record(
        reliability,
        "warehouse down for every load attempt, upload failed, back up, POST retry",
        out,
    )
    assert upload.state == "failed" and upload.public_state == "failed"
    assert upload.error is not None
    assert upload.error.startswith("load: warehouse unavailable after 3 attempts")
    assert f"POST /api/v1/uploads/{upload.upload_id}/retry" in upload.error
    assert rows_while_down == [(0,)]
    assert (retried.stage, retried.state) == ("load", "processing")
    check(expect(TABLE, DATA), out)
    assert out.upload.error is None
    again = redrive.retry_upload  # a second retry of a loaded upload is refused, not re-run
    with pytest.raises(Exception, match="already loaded"):
        again(bus.s3, SETTINGS, upload.upload_id)
    warehouse.close()


def test_a_short_outage_is_ridden_out_by_the_event_retries(reliability: Ledger) -> None:
    s3 = FakeS3(SETTINGS.bucket)
    warehouse = fresh_warehouse(s3)
    bus = Bus(s3, warehouse, SETTINGS)
    bus.warehouse.down = True
    bus.put(KEY, DATA)
    while bus.stats["retries"] < 2:  # the first two load attempts hit the outage
        bus._step()
    bus.warehouse.down = False
    bus.run()
    out = outcome(s3, warehouse, SETTINGS, TABLE, KEY)
    warehouse.close()
    _record(reliability, "warehouse down for two load attempts, back for the third", out)
    check(expect(TABLE, DATA), out)
    assert out.upload.extra["load_attempts"] == 3
