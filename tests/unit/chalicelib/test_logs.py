"""Stage completion lines carry what a Logs Insights query needs: ids, table, counts, time."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import keys, logs
from chalicelib.pipeline import load, split, validate
from chalicelib.pipeline.runner import run_stage

if TYPE_CHECKING:
    from collections.abc import Iterator

    from chalicelib.config import Settings
    from chalicelib.warehouse.duckdb import DuckDBWarehouse

JOBS = b"1,Dev\n2,Manager\nx,Bad\n3,Analyst\n4,Writer\n"
COMPLETED = {
    "split.completed": ("chunks", "records"),
    "validate.completed": ("rows_in", "rows_valid", "rows_rejected"),
    "load.completed": ("rows_in", "rows_valid", "rows_rejected", "rows_loaded"),
}


class ListHandler(logging.Handler):
    """Keeps every formatted line, as CloudWatch would receive it."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logs.JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def captured() -> Iterator[ListHandler]:
    handler = ListHandler()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _deliver(s3: Any, warehouse: DuckDBWarehouse, settings: Settings, raw_key: str) -> str:
    """Run every stage for ``raw_key`` the way the S3 handlers do; return the upload id."""
    made = run_stage(
        "split", s3, settings.bucket, raw_key, "req-split",
        lambda event: split.split_upload(s3, settings, event),
    )  # fmt: skip
    assert made is not None and made.upload_id and made.table
    table, uid = made.table, made.upload_id
    for n in range(made.chunks):
        key = keys.chunk_key(table, uid, n)
        run_stage(
            "validate", s3, settings.bucket, key, f"req-v{n}",
            lambda event: validate.validate_chunk(s3, settings, event),
        )  # fmt: skip
    key = keys.load_key(table, uid)
    run_stage(
        "load", s3, settings.bucket, key, "req-load",
        lambda event: load.load_upload(s3, warehouse, settings, event),
    )  # fmt: skip
    return uid


@pytest.mark.parametrize(
    "raw_key",
    ["raw/jobs/20261126T031500Z-0123456789ab/jobs.csv", "raw/jobs/copied/jobs.csv"],
    ids=["presigned-upload", "copied-into-raw"],
)
def test_stage_completion_lines_carry_upload_table_counts_and_duration(
    s3: Any,
    warehouse: DuckDBWarehouse,
    settings: Settings,
    captured: ListHandler,
    raw_key: str,
) -> None:
    s3.put_object(Bucket=settings.bucket, Key=raw_key, Body=JOBS)
    uid = _deliver(s3, warehouse, settings, raw_key)
    done = [line for line in captured.lines if line["event"] in COMPLETED]
    assert sorted({line["event"] for line in done}) == sorted(COMPLETED)
    assert sum(1 for line in done if line["event"] == "validate.completed") == 2  # 5 rows by 4
    for line in done:
        assert (line["upload_id"], line["table"]) == (uid, "jobs"), line
        assert line["stage"] == line["event"].split(".")[0]
        assert line["request_id"].startswith("req-")
        assert isinstance(line["duration_ms"], int) and line["duration_ms"] >= 0
        for field in COMPLETED[line["event"]]:
            assert isinstance(line[field], int), (line["event"], field)
    loaded = next(line for line in done if line["event"] == "load.completed")
    assert (loaded["rows_in"], loaded["rows_valid"], loaded["rows_rejected"]) == (5, 4, 1)
    assert {"ts", "level", "upload_id", "table", "stage", "request_id"} <= set(loaded)


def test_every_line_has_the_base_keys_even_outside_a_stage(captured: ListHandler) -> None:
    logging.getLogger("chalicelib.test").info("thing.happened", extra={"n": 1})
    (line,) = captured.lines
    assert {k: line[k] for k in ("upload_id", "table", "stage", "request_id")} == dict.fromkeys(
        ("upload_id", "table", "stage", "request_id")
    )
    assert (line["event"], line["n"], line["level"]) == ("thing.happened", 1, "info")
