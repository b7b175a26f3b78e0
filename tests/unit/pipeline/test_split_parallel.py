"""The split by parts, on moto S3: the same chunks and manifest as one reader, whatever the
order and number of deliveries of the parts' events."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import keys, storage
from chalicelib.csvfile.parallel import PartSummary
from chalicelib.pipeline import load, split, state, triggers, validate
from chalicelib.pipeline.budget import Budget
from tests.stage_events import split_outputs, stage_event

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.warehouse.duckdb import DuckDBWarehouse

TABLE = "hired_employees"


def _outputs(s3: Any, settings: Settings, upload_id: str) -> dict[str, Any]:
    return split_outputs(s3, settings, TABLE, upload_id, pointers=True)


def _rows(count: int, seed: int = 3) -> bytes:
    """Rows with quoted commas, quoted line breaks (some long), doubled quotes, CRLF, bad rows,
    a header and blank lines."""
    rng = random.Random(seed)
    lines = ["id,name,datetime,department_id,job_id", ""]
    for n in range(1, count + 1):
        name = rng.choice(
            [f"Name {n}", f'"Doe, J{n}"', f'"Multi\nLine {n}"', '"' + "long\n" * 30 + '"', '"a""b"']
        )
        day = "2021-02-30" if n % 17 == 0 else "2021-03-01"
        lines.append(f"{n},{name},{day}T10:00:00Z,{n % 5 + 1},{n % 7 + 1}")
        if n % 41 == 0:
            lines.append("")
    return "\r\n".join(lines).encode()


def _pending(s3: Any, settings: Settings, upload_id: str, seen: set[str]) -> list[str]:
    prefix = f"{keys.SPLITS}{TABLE}/{upload_id}/"
    return [
        k
        for k in storage.list_keys(s3, settings.bucket, prefix)
        if triggers.starts("split", k) and k not in seen
    ]


def _split_all(
    s3: Any, settings: Settings, key: str, *, shuffle: int | None = None, twice: bool = False
) -> tuple[str, int]:
    """Split ``key`` and run every task it leaves (as their S3 events would: in a shuffled
    order, each delivered twice, if asked), then validate each chunk; the upload id and the
    number of split invocations."""
    made = split.split_upload(s3, settings, stage_event(key), Budget())
    assert made.upload_id is not None
    rng = random.Random(shuffle)
    invocations, seen = 1, set()
    while pending := _pending(s3, settings, made.upload_id, seen):
        if shuffle is not None:
            rng.shuffle(pending)
        for task in pending * (2 if twice else 1):
            seen.add(task)
            split.split_upload(s3, settings, stage_event(task), Budget())
            invocations += 1
    upload = state.read(s3, settings.bucket, TABLE, made.upload_id)
    assert upload is not None and upload.chunks_total is not None
    for n in range(upload.chunks_total):
        validate.validate_chunk(s3, settings, stage_event(keys.chunk_key(TABLE, made.upload_id, n)))
    return made.upload_id, invocations


@pytest.fixture
def small(settings: Settings) -> Settings:
    return replace(settings, chunk_rows=40, chunk_bytes=700, plan_range_bytes=1500)


def _same_file_twice(s3: Any, settings: Settings, data: bytes) -> tuple[str, str]:
    """Keys of two copies of ``data``: the same bytes, so the same ETag and chunk pointers."""
    a, b = f"raw/{TABLE}/one.csv", f"raw/{TABLE}/two.csv"
    for key in (a, b):
        s3.put_object(Bucket=settings.bucket, Key=key, Body=data)
    return a, b


def _without_source(outputs: dict[str, Any]) -> dict[str, Any]:
    """The pointers name their raw key: compare them with it taken out."""
    return {
        **outputs,
        "pointers": [
            p.replace(b"one.csv", b"?").replace(b"two.csv", b"?") for p in outputs["pointers"]
        ],
    }


def test_a_large_plain_file_is_planned_by_parts_into_the_sequential_plan(
    s3: Any, small: Settings
) -> None:
    data = _rows(400)
    by_parts, one_reader = _same_file_twice(s3, small, data)
    parallel, invocations = _split_all(s3, small, by_parts)
    sequential_settings = replace(small, plan_range_bytes=len(data))
    sequential, once = _split_all(s3, sequential_settings, one_reader)
    upload = state.read(s3, small.bucket, TABLE, parallel)
    assert upload is not None and upload.detected is not None
    parts = -(-len(data) // small.part_bytes)
    assert upload.detected["planning"] == "parallel" and upload.detected["parts"] == parts
    assert upload.detected["split_invocations"] == invocations == 1 + parts + 1
    assert once == 1
    got = _without_source(_outputs(s3, small, parallel))
    assert got == _without_source(_outputs(s3, sequential_settings, sequential))
    assert len(got["chunks"]) > parts  # chunks by records and by the grid, across the parts
    # Some part starts inside a quoted field: its true hypothesis is not the boundary one.
    summaries = [
        PartSummary.from_json(storage.get_json(s3, small.bucket, k))
        for k in storage.list_keys(s3, small.bucket, f"{keys.SPLITS}{TABLE}/{parallel}/")
        if k.endswith(".summary")
    ]
    assert len(summaries) == parts
    assert any(s.boundary.ends_quoted for s in summaries[:-1])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_redelivered_and_reordered_part_events_change_nothing(
    s3: Any, small: Settings, seed: int
) -> None:
    data = _rows(300, seed)
    in_order, shuffled = _same_file_twice(s3, small, data)
    expected, _ = _split_all(s3, small, in_order)
    got, _ = _split_all(s3, small, shuffled, shuffle=seed, twice=True)
    assert _without_source(_outputs(s3, small, got)) == _without_source(
        _outputs(s3, small, expected)
    )


def test_the_chain_writes_chunks_by_slices_at_once_and_hands_each_on_when_out_of_budget(
    s3: Any, small: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.pipeline import split_parallel

    monkeypatch.setattr(split_parallel, "WRITE_BATCH", 3)
    monkeypatch.setattr(split_parallel, "SLICE", 7)
    data = _rows(300)
    handed, whole = _same_file_twice(s3, small, data)
    expected, _ = _split_all(s3, small, whole)
    made = split.split_upload(s3, small, stage_event(handed), Budget())
    assert made.upload_id is not None
    seen: set[str] = set()
    chains = 0
    while pending := _pending(s3, small, made.upload_id, seen):
        for task in pending:
            seen.add(task)
            chains += "/chain/" in task
            split.split_upload(s3, small, stage_event(task), Budget(max_bytes=0))
    upload = state.read(s3, small.bucket, TABLE, made.upload_id)
    assert upload is not None and upload.chunks_total is not None and upload.detected
    total = upload.chunks_total
    slices = [min(7, total - a) for a in range(0, total, 7)]
    assert len(slices) > 2
    assert chains == sum(-(-size // 3) for size in slices)  # a batch of 3 an invocation
    parts = upload.detected["parts"]
    assert upload.detected["split_invocations"] == 1 + parts + len(slices)
    for n in range(upload.chunks_total):
        validate.validate_chunk(s3, small, stage_event(keys.chunk_key(TABLE, made.upload_id, n)))
    assert _without_source(_outputs(s3, small, made.upload_id)) == _without_source(
        _outputs(s3, small, expected)
    )


def test_a_task_delivered_again_later_changes_nothing(
    s3: Any, small: Settings, warehouse: DuckDBWarehouse
) -> None:
    data = _rows(200)
    key, _ = _same_file_twice(s3, small, data)
    upload_id, _ = _split_all(s3, small, key)
    prefix = f"{keys.SPLITS}{TABLE}/{upload_id}/"
    tasks = [k for k in storage.list_keys(s3, small.bucket, prefix) if triggers.starts("split", k)]

    def objects() -> dict[str, str]:
        return {
            item["Key"]: item["ETag"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=small.bucket)
            for item in page.get("Contents", [])
            if not item["Key"].startswith(keys.UPLOADS)  # the state's time changes
        }

    before = objects()
    for task in tasks:  # while validating: the parts are ignored, the chain writes the same
        made = split.split_upload(s3, small, stage_event(task), Budget())
        assert ("/parts/" in task) == (made.skipped == "nothing to do")
    assert objects() == before
    load.load_upload(s3, warehouse, small, stage_event(keys.load_key(TABLE, upload_id)))
    loaded = objects()
    for task in tasks:  # once loaded: every task is ignored
        assert split.split_upload(s3, small, stage_event(task), Budget()).skipped
    assert objects() == loaded


def test_a_large_utf16_file_is_planned_by_parts_into_the_sequential_plan(
    s3: Any, small: Settings
) -> None:
    text = _rows(300).decode().replace("Name", "Nàme😀")
    data = "\ufeff".encode("utf-16-be") + text.encode("utf-16-be")
    by_parts, one_reader = _same_file_twice(s3, small, data)
    parallel, _ = _split_all(s3, small, by_parts)
    sequential_settings = replace(small, plan_range_bytes=len(data))
    sequential, _ = _split_all(s3, sequential_settings, one_reader)
    upload = state.read(s3, small.bucket, TABLE, parallel)
    assert upload is not None and upload.detected is not None
    assert (upload.detected["planning"], upload.detected["encoding"]) == ("parallel", "utf-16")
    assert upload.detected["parts"] > 3
    assert _without_source(_outputs(s3, small, parallel)) == _without_source(
        _outputs(s3, sequential_settings, sequential)
    )
