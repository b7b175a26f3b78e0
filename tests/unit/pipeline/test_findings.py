"""An upload that loaded little or nothing says so: its warnings, from its counts and rejects."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.api import uploads
from chalicelib.csvfile.options import FileOptions
from chalicelib.pipeline import findings
from tests.stage_events import upload_file
from tests.unit.pipeline.test_load import run_pipeline

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.warehouse.duckdb import DuckDBWarehouse

DEPARTMENTS_SEMICOLON = "".join(f"{n};Department {n}\n" for n in range(1, 13)).encode()


def _codes(upload: Any) -> list[str]:
    return [w["code"] for w in upload.warnings or []]


def test_a_semicolon_file_read_with_the_defaults_names_the_delimiter_option(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    key = upload_file(s3, settings, "departments", DEPARTMENTS_SEMICOLON)
    upload = run_pipeline(s3, warehouse, settings, key)
    assert (upload.state, upload.rows_total, upload.rows_rejected) == ("loaded", 12, 12)
    assert _codes(upload) == ["all_rows_rejected", "most_rows_rejected"]
    most = upload.warnings[1]
    assert most["option"] == {"delimiter": ";"}
    assert "delimiter ';'" in most["message"]
    assert "12 of 12 rows" in most["message"]
    assert "record: expected 2 fields, got 1" in most["message"]
    status = uploads.status(s3, settings, upload.upload_id)
    assert [w.code for w in status.warnings] == ["all_rows_rejected", "most_rows_rejected"]
    assert status.warnings[1].option == {"delimiter": ";"}


@pytest.mark.parametrize(
    ("body", "option"),
    [
        (b"1\tSales\n2\tHR\n3,Ops\n", {"delimiter": "\t"}),
        (b"1|Sales\n2|HR\n", {"delimiter": "|"}),
        (b'1;"Sales; West"\n2;HR\n', {"delimiter": ";"}),
    ],
)
def test_the_delimiter_hint_names_the_one_that_splits_the_rows(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings, body: bytes, option: dict[str, str]
) -> None:
    upload = run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "departments", body))
    hinted = [w for w in upload.warnings or [] if w["option"]]
    assert [w["option"] for w in hinted] == [option]


def test_a_comma_file_read_as_semicolons_is_told_to_use_commas(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    # Read with delimiter ';', each comma row is one field: the rejected text is that field.
    body = b"1,Sales\n2,HR\n3,Ops\n"
    key = upload_file(s3, settings, "departments", body)
    s3.copy_object(
        Bucket=settings.bucket,
        Key=key,
        CopySource={"Bucket": settings.bucket, "Key": key},
        Metadata={"delimiter": ";"},
        MetadataDirective="REPLACE",
    )
    upload = run_pipeline(s3, warehouse, settings, key)
    assert upload.rows_rejected == 3
    assert [w["option"] for w in upload.warnings or [] if w["option"]] == [{"delimiter": ","}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"id,department\n", "a header line and no data rows"),
        (b"id,department\r\n\r\n\n", "a header line and no data rows"),
        (b"\n\n\r\n", "no data rows"),
        (b"", "no data rows"),
    ],
)
def test_a_file_without_data_rows_says_so(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings, body: bytes, message: str
) -> None:
    upload = run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "departments", body))
    assert (upload.state, upload.rows_total) == ("loaded", 0)
    assert _codes(upload) == ["no_data_rows"]
    assert message in upload.warnings[0]["message"]


def test_every_row_rejected_for_several_reasons_says_so_without_a_common_one(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    body = b"x,Sales\n2,\n3\n0,Ops\n"
    upload = run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "departments", body))
    assert (upload.rows_total, upload.rows_valid) == (4, 0)
    assert _codes(upload) == ["all_rows_rejected"]
    assert "4 rows" in upload.warnings[0]["message"]


def test_most_rows_rejected_for_one_reason_is_named_without_a_delimiter_hint(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    body = b"1,Sales\n2,2021-01-01\nx,HR\ny,Ops\nz,Legal\n"
    upload = run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "departments", body))
    assert (upload.rows_valid, upload.rows_rejected) == (2, 3)
    assert _codes(upload) == ["most_rows_rejected"]
    assert upload.warnings[0]["option"] is None
    assert "3 of 5 rows" in upload.warnings[0]["message"]
    assert "id: … is not an integer" in upload.warnings[0]["message"]


def test_a_clean_or_mostly_clean_upload_has_no_warnings(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    body = b"1,Sales\n2,HR\nx,Ops\n"
    upload = run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "departments", body))
    assert upload.warnings == []
    assert uploads.status(s3, settings, upload.upload_id).warnings == []


def _line(row: int, raw: str, *errors: str) -> bytes:
    return json.dumps({"row": row, "raw": raw, "errors": list(errors)}).encode()


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        ("id: 'xx' is not an integer", "id: 'y' is not an integer", "id: … is not an integer"),
        ("id: 0 is out of range [1, 99]", "id: -3 is out of range [1, 99]",
         "id: … is out of range [1, 99]"),
        ("id: duplicate id, superseded by row 3210", "id: duplicate id, superseded by row 4",
         "id: duplicate id, superseded by row N"),
        ("record: not valid UTF-8 (byte 0xff at position 3)",
         "record: not valid UTF-8 (byte 0x81 at position 0)", "record: not valid UTF-8"),
        ("record: expected 5 fields, got 3", "record: expected 5 fields, got 3",
         "record: expected 5 fields, got 3"),
    ],
)  # fmt: skip
def test_reasons_group_without_the_rows_own_values(first: str, second: str, reason: str) -> None:
    tally = findings.Tally("departments", FileOptions())
    tally.add(_line(1, "x", first))
    tally.add(_line(2, "y", second))
    assert tally.reasons.most_common(1) == [(reason, 2)]


def test_of_reasons_as_common_as_each_other_the_rows_shape_is_named() -> None:
    tally = findings.Tally("departments", FileOptions())
    for n in (1, 2):
        tally.add(_line(n, f"{n};x", "record: expected 2 fields, got 1", f"id: '{n};x' is bad"))
    assert tally.reasons.most_common(1) == [("record: expected 2 fields, got 1", 2)]


def test_the_delimiter_trial_stops_after_its_sample() -> None:
    tally = findings.Tally("departments", FileOptions())
    for n in range(findings.DELIMITER_SAMPLE + 50):
        tally.add(_line(n + 1, f"{n};Sales", "record: expected 2 fields, got 1"))
    assert sum(tally.splits.values()) == findings.DELIMITER_SAMPLE
    assert tally.reasons["record: expected 2 fields, got 1"] == findings.DELIMITER_SAMPLE + 50


def test_reasons_of_a_very_large_rejects_file_are_counted_on_its_first_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(findings, "REASON_SAMPLE", 10)
    tally = findings.Tally("departments", FileOptions())
    for n in range(1, 31):
        tally.add(_line(n, f"{n};x", "record: expected 2 fields, got 1"))
    assert (tally.rows, tally.lines, tally.sampled) == (10, 30, True)
    (warning,) = findings.warnings_of(40, 10, False, tally)
    assert warning.code == "most_rows_rejected"
    assert "10 of the first 10 rejected rows (30 of the file's 40 rows were rejected)" in (
        warning.message
    )
    assert warning.option == {"delimiter": ";"}
    # 10 of the first 10 stand for 30 of 70: not most rows.
    assert findings.warnings_of(70, 40, False, tally) == []
