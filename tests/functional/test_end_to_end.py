"""End to end over HTTP and S3 on the local stack: presigned upload → loaded → reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests

from chalicelib.pipeline.triggers import TRIGGERS

if TYPE_CHECKING:
    from devstack.client import ApiClient
    from devstack.stack import LocalStack

Write = Callable[[str, str], Path]

DEPARTMENTS = "1,Sales\n2,Engineering\n3,Legal\n"
JOBS = "1,Dev\r\n2,Manager\r\n"
HIRES = (
    "1,A,2021-01-10T00:00:00Z,1,1\n"
    "2,B,2021-03-31T23:59:59Z,1,1\n"
    "3,C,2021-04-01T00:00:00Z,1,2\n"
    "4,D,2021-12-31T23:59:59Z,2,1\n"
    "5,E,2020-12-31T23:59:59Z,2,1\n"
    '6,"F, Jr.",2021-07-15T12:00:00Z,1,1\n'
    "7,G,2021-08-15T12:00:00Z,9,1\n"
    "8,H,2021-09-15T12:00:00Z,3,2\n"
    "9,I,2021-05-15T12:00:00Z,1,xx\n"
    "10,J,2021-02-15T12:00:00Z,2,2\n"
    "3,C2,2021-06-01T00:00:00Z,2,2\n"
)
# Worked out by hand from the rows above: id 3 moves to Engineering/Manager (row 11 wins),
# id 5 is in 2020, id 7's department is not loaded, row 9 is rejected.
EXPECTED_BY_QUARTER = [
    {"department": "Engineering", "job": "Dev", "q1": 0, "q2": 0, "q3": 0, "q4": 1},
    {"department": "Engineering", "job": "Manager", "q1": 1, "q2": 1, "q3": 0, "q4": 0},
    {"department": "Legal", "job": "Manager", "q1": 0, "q2": 0, "q3": 1, "q4": 0},
    {"department": "Sales", "job": "Dev", "q1": 2, "q2": 0, "q3": 1, "q4": 0},
]
EXPECTED_ABOVE_MEAN = {
    "year": 2021,
    "mean": pytest.approx(7 / 3),
    "rows": [
        {"id": 2, "department": "Engineering", "hired": 3},
        {"id": 1, "department": "Sales", "hired": 3},
    ],
}


@pytest.fixture(scope="module")
def loaded(
    stack: LocalStack, api: ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("files")
    statuses = {}
    for table, text in (("departments", DEPARTMENTS), ("jobs", JOBS), ("hired_employees", HIRES)):
        path = folder / f"{table}.csv"
        path.write_text(text, encoding="utf-8", newline="")
        statuses[table] = api.wait(api.upload(table, path))
    return statuses


def test_uploads_load_with_exact_counts(loaded: dict[str, dict[str, Any]]) -> None:
    hires = loaded["hired_employees"]
    assert {t: s["state"] for t, s in loaded.items()} == dict.fromkeys(loaded, "loaded")
    assert (hires["rows_total"], hires["rows_valid"], hires["rows_rejected"]) == (11, 9, 2)
    assert (hires["chunks_total"], hires["chunks_done"]) == (3, 3)
    assert loaded["departments"]["rows_valid"] == 3


def test_reports_match_hand_computed_values(loaded: object, api: ApiClient) -> None:
    assert api.report("hires-by-quarter", 2021) == {"year": 2021, "rows": EXPECTED_BY_QUARTER}
    assert api.report("departments-above-mean", 2021) == EXPECTED_ABOVE_MEAN
    assert api.report("hires-by-quarter", 2019) == {"year": 2019, "rows": []}


def test_rejected_rows_carry_line_numbers_and_reasons(loaded: dict[str, dict[str, Any]]) -> None:
    url = loaded["hired_employees"]["rejected_url"]
    lines = requests.get(url, timeout=10).text.splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "row": 3,
            "raw": "3,C,2021-04-01T00:00:00Z,1,2",
            "errors": ["id: duplicate id, superseded by row 11"],
        },
        {
            "row": 9,
            "raw": "9,I,2021-05-15T12:00:00Z,1,xx",
            "errors": ["job_id: 'xx' is not an integer"],
        },
    ]


def _without_url(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k != "rejected_url"}  # its signature expires


def test_replayed_s3_events_change_nothing(
    stack: LocalStack, api: ApiClient, loaded: dict[str, dict[str, Any]]
) -> None:
    uid = loaded["hired_employees"]["upload_id"]
    before = (api.report("hires-by-quarter", 2021), _without_url(api.status(uid)))
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    bucket = "ingest-local"
    # Every object the pipeline wrote for this upload (raw file, chunks, load trigger), again.
    replayed = [
        k["Key"]
        for prefix in ("raw/hired_employees/", "chunks/hired_employees/", "loads/")
        for k in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        if uid in k["Key"]
    ]
    assert len(replayed) == 5  # raw + 3 chunks + load trigger
    template = (Path(__file__).parents[1] / "events" / "s3_object_created.json").read_text()
    for key in replayed:
        event = template.replace("{bucket}", bucket).replace("{key}", key)
        (queue,) = [stack.queues[t.stage] for t in TRIGGERS if t.matches(key)]
        sqs.send_message(QueueUrl=queue.url, MessageBody=event)
        sqs.send_message(QueueUrl=queue.url, MessageBody=event)
    stack.wait_idle()
    after = (api.report("hires-by-quarter", 2021), _without_url(api.status(uid)))
    assert after == before


def test_reuploading_a_file_duplicates_nothing(
    api: ApiClient, loaded: object, write: Write
) -> None:
    status = api.wait(api.upload("hired_employees", write("again.csv", HIRES)))
    assert (status["state"], status["rows_valid"]) == ("loaded", 9)
    assert api.report("hires-by-quarter", 2021)["rows"] == EXPECTED_BY_QUARTER


def test_a_file_copied_straight_into_raw_is_processed_and_listed(
    stack: LocalStack, api: ApiClient, loaded: object
) -> None:
    boto3.client("s3").put_object(
        Bucket="ingest-local", Key="raw/jobs/exports/jobs 2.csv", Body=b"3,Analyst\n"
    )
    stack.wait_idle()
    listed = api._call("GET", "/api/v1/uploads", params={"table": "jobs"})["uploads"]
    newest = listed[0]
    assert (newest["filename"], newest["state"], newest["rows_valid"]) == (
        "jobs 2.csv",
        "loaded",
        1,
    )
    assert [u["created_at"] for u in listed] == sorted(
        (u["created_at"] for u in listed), reverse=True
    )
    assert {u["table"] for u in listed} == {"jobs"}
