"""Batch inserts: JSON rows judged like CSV lines, loaded through the same MERGE as files."""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import keys
from chalicelib.csvfile import boundaries
from chalicelib.csvfile.rowcheck import RowChecker
from chalicelib.errors import InvalidRequestError, PermanentWarehouseError
from chalicelib.pipeline import rows as batch
from chalicelib.pipeline import state
from chalicelib.tables import get_table
from tests.properties import examples

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.warehouse.duckdb import DuckDBWarehouse

HIRE = [1, "Ada", "2021-01-05T10:00:00Z", 1, 1]


class Untouchable:
    """Stands in for S3 and the warehouse where a request must be refused before either is used."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a refused request used {name!r}")


def table_rows(warehouse: DuckDBWarehouse, table: str) -> list[tuple[Any, ...]]:
    return warehouse.execute(f'SELECT * FROM "{table}" ORDER BY id')


def csv_verdict(table: str, fields: list[str]) -> tuple[Any, ...] | None:
    """What the file pipeline decides about the CSV line these fields make."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(fields)
    record = next(boundaries.iter_records(io.BytesIO(out.getvalue().encode())))
    verdict = RowChecker(get_table(table)).check_record(record)
    assert verdict is not None
    return verdict.values if verdict.values is not None else verdict.errors


JSON_VALUE = st.one_of(
    st.none(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.text(max_size=12),
    st.sampled_from(["7", "007", "+7", "2021-07-27T16:02:08Z", "2021-02-30T00:00:00Z", " "]),
)


@settings(max_examples=examples(200), deadline=None)
@given(table=st.sampled_from(["jobs", "hired_employees"]), row=st.lists(JSON_VALUE, max_size=6))
def test_a_json_row_gets_the_verdict_of_the_csv_line_it_stands_for(
    table: str, row: list[Any]
) -> None:
    fields = ["" if v is None else str(v) for v in row]
    if len(fields) < 2 and (not fields or fields[0] == ""):
        return  # an empty CSV line is not a row at all; a JSON row of nothing is a bad row
    values, errors = batch.judge(get_table(table), row)
    assert (tuple(values) if values is not None else tuple(errors)) == csv_verdict(table, fields)


@pytest.mark.parametrize(
    ("row", "errors"),
    [
        ([1.0, "Dev"], ["id: 1.0 is not a string, an integer or null"]),
        ([True, "Dev"], ["id: true is not a string, an integer or null"]),
        ([1, {"a": 1}], ['job: {"a": 1} is not a string, an integer or null']),
        ({"id": 1, "job": "Dev"}, ["record: expected an array of 2 values, got dict"]),
        ([1], ["record: expected 2 fields, got 1"]),
        ([], ["record: expected 2 fields, got 0"]),
        ([None, "Dev"], ["id: missing value"]),
        (["7.0", "Dev"], ["id: '7.0' is not an integer"]),
    ],
)
def test_judge_explains_rows_that_are_not_valid(row: Any, errors: list[str]) -> None:
    assert batch.judge(get_table("jobs"), row) == (None, errors)


def test_insert_rows_loads_valid_rows_and_explains_the_rest(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    rows = [
        HIRE,
        ["2", 'Grace, "Amazing"\nHopper', "2021-04-05T10:00:00Z", "1", "2"],
        [3, "Alan", "2021-02-30T10:00:00Z", 2, 1],
        [1, "Ada Again", "2021-12-31T23:59:59Z", 2, 2],
        [4, "Bad", "2021-10-05T10:00:00Z", 2],
    ]
    result = batch.insert_rows(s3, warehouse, settings, "hired_employees", {"rows": rows})
    assert (result.rows_valid, result.rows_rejected) == (2, 3)
    assert [(r.row, r.errors) for r in result.rejected] == [
        (1, ("id: duplicate id, superseded by row 4",)),
        (3, ("datetime: '2021-02-30T10:00:00Z' is not a real date and time",)),
        (5, ("record: expected 5 fields, got 4",)),
    ]
    assert [(r[0], r[1]) for r in table_rows(warehouse, "hired_employees")] == [
        (1, "Ada Again"),
        (2, 'Grace, "Amazing"\nHopper'),
    ]
    ledger = warehouse.execute(
        'SELECT "upload_id", "rows_loaded", "rows_superseded" FROM ingest_loads'
    )
    assert ledger == [(result.upload_id, 2, 1)]
    upload = state.read(s3, settings.bucket, "hired_employees", result.upload_id)
    assert upload is not None
    assert (upload.state, upload.rows_total, upload.rows_valid, upload.rows_rejected) == (
        "loaded",
        5,
        2,
        3,
    )
    report = s3.get_object(
        Bucket=settings.bucket, Key=keys.rejects_key("hired_employees", result.upload_id)
    )["Body"].read()
    assert [json.loads(line)["row"] for line in report.splitlines()] == [1, 3, 5]


def test_insert_rows_updates_rows_by_id_like_a_later_upload(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    batch.insert_rows(s3, warehouse, settings, "jobs", {"rows": [[1, "Dev"], [2, "Ops"]]})
    batch.insert_rows(s3, warehouse, settings, "jobs", {"rows": [[2, "SRE"], [3, "QA"]]})
    assert table_rows(warehouse, "jobs") == [(1, "Dev"), (2, "SRE"), (3, "QA")]


def test_insert_rows_gives_the_copy_manifest_the_cleaned_chunk_size_in_bytes(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    # Names outside ASCII: a size counted in characters would be short of the object's.
    rows = [[1, "Zoë"], [2, "Renée Ørsted"], [3, "开发"]]
    result = batch.insert_rows(s3, warehouse, settings, "jobs", {"rows": rows})
    manifest = json.loads(
        s3.get_object(Bucket=settings.bucket, Key=keys.copy_manifest_key("jobs", result.upload_id))[
            "Body"
        ].read()
    )
    clean = keys.clean_key("jobs", result.upload_id, 0)
    size = s3.head_object(Bucket=settings.bucket, Key=clean)["ContentLength"]
    assert [e["meta"]["content_length"] for e in manifest["entries"]] == [size]
    assert table_rows(warehouse, "jobs") == [(1, "Zoë"), (2, "Renée Ørsted"), (3, "开发")]


def test_insert_rows_with_no_valid_row_loads_nothing(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    result = batch.insert_rows(s3, warehouse, settings, "jobs", {"rows": [["x", "Dev"]]})
    assert (result.rows_valid, result.rows_rejected) == (0, 1)
    assert table_rows(warehouse, "jobs") == []
    assert warehouse.execute("SELECT * FROM ingest_loads") == []


def test_insert_rows_takes_exactly_the_maximum(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    rows = [[i, f"job {i}"] for i in range(1, batch.MAX_ROWS + 1)]
    result = batch.insert_rows(s3, warehouse, settings, "jobs", {"rows": rows})
    assert (result.rows_valid, result.rows_rejected) == (batch.MAX_ROWS, 0)
    assert len(table_rows(warehouse, "jobs")) == batch.MAX_ROWS


@pytest.mark.parametrize(
    ("table", "body", "fragment"),
    [
        ("jobs", {"rows": []}, "got 0 rows"),
        (
            "jobs",
            {"rows": [[1, "a"]] * (batch.MAX_ROWS + 1)},
            f"got {batch.MAX_ROWS + 1} rows",
        ),
        ("jobs", {"rows": "1,a"}, "no rows list"),
        ("jobs", [[1, "a"]], "no rows list"),
        ("jobs", None, "no rows list"),
        ("payroll", {"rows": [[1, "a"]]}, "unknown table 'payroll'"),
    ],
)
def test_insert_rows_refuses_bad_requests(
    settings: Settings, table: str, body: Any, fragment: str
) -> None:
    untouched = Untouchable()
    with pytest.raises(InvalidRequestError) as caught:
        batch.insert_rows(untouched, untouched, settings, table, body)  # type: ignore[arg-type]
    assert fragment in caught.value.message


def test_rejected_rows_are_logged_by_number_and_reason_never_by_content(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Private Person Name"
    with caplog.at_level(logging.INFO):
        batch.insert_rows(s3, warehouse, settings, "hired_employees", {"rows": [HIRE, [2, secret]]})
    rejected = [r for r in caplog.records if r.getMessage() == "batch.rows_rejected"]
    assert len(rejected) == 1
    assert rejected[0].rejected == [{"row": 2, "errors": ["record: expected 5 fields, got 2"]}]
    assert all(secret not in str(vars(r)) for r in caplog.records)


def test_a_warehouse_that_rejects_the_batch_fails_it_readably(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    warehouse.execute('DROP TABLE "jobs"')
    with pytest.raises(PermanentWarehouseError):
        batch.insert_rows(s3, warehouse, settings, "jobs", {"rows": [[1, "Dev"]]})
    uploads = state.list_uploads(s3, settings.bucket, "jobs")
    assert [(u.state, u.error is not None and "jobs" in u.error) for u in uploads] == [
        ("failed", True)
    ]
