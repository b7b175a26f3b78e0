"""The rest of the API over HTTP on the local stack: seed-compatible form uploads, batch rows,
backups and restores (and their seed aliases), and the OpenAPI document."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from openapi_spec_validator import validate

from chalicelib import providers
from chalicelib.api.formdata import MAX_FORM_BYTES
from chalicelib.tables import TABLE_NAMES

if TYPE_CHECKING:
    from pathlib import Path

    from devstack.client import ApiClient
    from devstack.stack import LocalStack

BUCKET = "ingest-local"


def post(api: ApiClient, path: str, **kwargs: Any) -> requests.Response:
    return requests.post(
        f"{api.base_url}{path}", headers={"x-api-key": api.api_key}, timeout=30, **kwargs
    )


def get(api: ApiClient, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(
        f"{api.base_url}{path}", headers={"x-api-key": api.api_key}, timeout=30, **kwargs
    )


def error_of(reply: requests.Response, status: int) -> dict[str, str]:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return dict(body["error"])


def contents(stack: LocalStack) -> dict[str, list[tuple[Any, ...]]]:
    assert stack.app_module is not None
    warehouse = providers.warehouse()
    return {t: warehouse.execute(f'SELECT * FROM "{t}" ORDER BY id') for t in TABLE_NAMES}


def wipe(stack: LocalStack) -> None:
    assert stack.app_module is not None
    warehouse = providers.warehouse()
    for table in TABLE_NAMES:
        warehouse.execute(f'DELETE FROM "{table}"')


# --- seed-compatible form uploads -------------------------------------------------------------

SEED_FILES = [
    ("upload_departments", "departments", "1,Sales\n2,Engineering\n3,Legal\n", 3, 0),
    ("upload_jobs", "jobs", "1,Dev\r\n2,Manager\r\nid,job\r\n", 2, 1),
    (
        "hired_employees",
        "hired_employees",
        '1,"Lovelace, Ada",2021-01-10T00:00:00Z,1,1\n2,B,2021-02-30T00:00:00Z,1,1\n'
        "3,C,2021-04-01T00:00:00Z,2,2\n",
        2,
        1,
    ),
]


@pytest.mark.parametrize(("route", "table", "text", "valid", "rejected"), SEED_FILES)
def test_seed_upload_routes_take_the_form_requests_sends(
    api: ApiClient,
    tmp_path: Path,
    route: str,
    table: str,
    text: str,
    valid: int,
    rejected: int,
) -> None:
    path = tmp_path / f"{table}.csv"
    path.write_bytes(text.encode())
    with path.open("rb") as handle:  # what `curl -F file=@departments.csv` sends
        reply = post(api, f"/api/v1/{route}", files={"file": handle})
    assert reply.status_code == 202, reply.text
    accepted = reply.json()
    assert set(accepted) == {"upload_id", "status_url"}
    assert accepted["status_url"] == f"{api.base_url}/api/v1/uploads/{accepted['upload_id']}"
    status = api.wait(accepted["upload_id"])
    assert (status["table"], status["filename"], status["state"]) == (table, path.name, "loaded")
    assert (status["rows_valid"], status["rows_rejected"]) == (valid, rejected)
    followed = requests.get(accepted["status_url"], headers={"x-api-key": api.api_key}, timeout=10)
    assert followed.json()["upload_id"] == accepted["upload_id"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl command")
def test_seed_upload_route_takes_exactly_what_curl_sends(api: ApiClient, tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_bytes(b"41,Curl Job\n42,Other Job\n")
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-F",
            f"file=@{path}",
            "-H",
            f"x-api-key: {api.api_key}",
            f"{api.base_url}/api/v1/upload_jobs",
        ],
        capture_output=True,
        check=True,
        timeout=30,
    )
    status = api.wait(json.loads(out.stdout)["upload_id"])
    assert (status["filename"], status["state"], status["rows_valid"]) == ("jobs.csv", "loaded", 2)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"json": {"file": "1,Sales"}}, "'application/json' is not a form"),
        ({"data": b"1,Sales\n", "headers_extra": {"content-type": "text/csv"}}, "is not a form"),
        ({}, "is not a form"),
        ({"files": {"upload": ("departments.csv", b"1,Sales\n")}}, "has no field 'file'"),
        ({"files": {"file": ("departments.csv", b"")}}, "is empty"),
    ],
)
def test_seed_upload_routes_refuse_what_is_not_a_form_with_a_file(
    api: ApiClient, kwargs: dict[str, Any], fragment: str
) -> None:
    headers = {"x-api-key": api.api_key, **kwargs.pop("headers_extra", {})}
    reply = requests.post(
        f"{api.base_url}/api/v1/upload_departments", headers=headers, timeout=30, **kwargs
    )
    error = error_of(reply, 400)
    assert error["code"] == "invalid_request"
    assert fragment in error["message"]


def test_seed_upload_routes_refuse_a_form_over_the_limit(api: ApiClient) -> None:
    reply = post(api, "/api/v1/hired_employees", files={"file": ("big.csv", b"x" * MAX_FORM_BYTES)})
    error = error_of(reply, 413)
    assert error["code"] == "payload_too_large"
    assert "POST /api/v1/uploads" in error["message"]


# --- batch rows -------------------------------------------------------------------------------


def test_batch_rows_load_now_and_explain_the_rejects(api: ApiClient, stack: LocalStack) -> None:
    rows = [[501, "Batch Dev"], ["502", "Batch Ops"], [503], [504, None], [501, "Batch Dev 2"]]
    reply = post(api, "/api/v1/tables/jobs/rows", json={"rows": rows})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["rows_valid"], body["rows_rejected"]) == (2, 3)
    assert [(r["row"], r["errors"]) for r in body["rejected"]] == [
        (1, ["id: duplicate id, superseded by row 5"]),
        (3, ["record: expected 2 fields, got 1"]),
        (4, ["job: missing value"]),
    ]
    jobs = dict(contents(stack)["jobs"])
    assert (jobs[501], jobs[502], 503 in jobs, 504 in jobs) == (
        "Batch Dev 2",
        "Batch Ops",
        False,
        False,
    )
    status = api.status(body["upload_id"])
    assert (status["state"], status["rows_total"], status["rows_rejected"]) == ("loaded", 5, 3)


@pytest.mark.parametrize(
    ("path", "kwargs", "fragment"),
    [
        ("/api/v1/tables/jobs/rows", {"json": {"rows": []}}, "got 0 rows"),
        ("/api/v1/tables/jobs/rows", {"json": {"rows": [[1, "a"]] * 1001}}, "got 1001 rows"),
        ("/api/v1/tables/jobs/rows", {"json": [[1, "a"]]}, "no rows list"),
        ("/api/v1/tables/jobs/rows", {"data": "{nope"}, "not valid JSON"),
        ("/api/v1/tables/jobs/rows", {}, "no rows list"),
        ("/api/v1/tables/payroll/rows", {"json": {"rows": [[1, "a"]]}}, "unknown table"),
    ],
)
def test_batch_rows_refuse_bad_requests(
    api: ApiClient, path: str, kwargs: dict[str, Any], fragment: str
) -> None:
    error = error_of(post(api, path, **kwargs), 400)
    assert fragment in error["message"]


# --- backups and restores ---------------------------------------------------------------------


def generated(seed: int, hires: int) -> dict[str, list[list[Any]]]:
    rng = random.Random(seed)
    names = ["Ada", "Smith, Jr.", 'Quote "Q"', "Multi\nLine", "Zoë", " padded "]
    return {
        "departments": [[i, f"{rng.choice(names)} dept {i}"] for i in range(1, 9)],
        "jobs": [[i, f"{rng.choice(names)} job {i}"] for i in range(1, 21)],
        "hired_employees": [
            [
                i,
                f"{rng.choice(names)} {i}",
                f"2021-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
                rng.randint(1, 8),
                rng.randint(1, 20),
            ]
            for i in range(1, hires + 1)
        ],
    }


@pytest.fixture(scope="module")
def seeded(api: ApiClient, stack: LocalStack) -> dict[str, list[tuple[Any, ...]]]:
    wipe(stack)
    for table, rows in generated(5, 1800).items():
        for start in range(0, len(rows), 1000):
            reply = post(
                api, f"/api/v1/tables/{table}/rows", json={"rows": rows[start : start + 1000]}
            )
            assert reply.json()["rows_rejected"] == 0
    return contents(stack)


def test_backup_wipe_restore_over_http_gives_back_every_row(
    api: ApiClient, stack: LocalStack, seeded: dict[str, list[tuple[Any, ...]]]
) -> None:
    reply = post(api, "/api/v1/backups", json={"table": "all"})
    assert reply.status_code == 201, reply.text
    made = reply.json()
    assert set(made) == {"backup_id", "created_at", "format", "tables"}
    assert {t: b["rows"] for t, b in made["tables"].items()} == {
        t: len(rows) for t, rows in seeded.items()
    }
    for table, entry in made["tables"].items():
        assert entry["location"] == f"s3://{BUCKET}/backups/{made['backup_id']}/{table}/"
        assert entry["files"] and all(f.startswith(entry["location"]) for f in entry["files"])
    assert get(api, "/api/v1/backups").json()["backups"][0] == made

    wipe(stack)
    assert all(not rows for rows in contents(stack).values())
    reply = post(api, "/api/v1/restores", json={"backup_id": made["backup_id"], "table": "all"})
    assert reply.status_code == 200, reply.text
    restored = reply.json()
    assert restored["rows_restored"] == sum(len(rows) for rows in seeded.values()) == 1828
    after = contents(stack)
    compared = 0
    for table in TABLE_NAMES:
        assert len(after[table]) == len(seeded[table])
        for before_row, after_row in zip(seeded[table], after[table], strict=True):
            assert after_row == before_row
            compared += 1
    assert compared == 1828


def test_seed_aliases_back_up_and_restore_one_table(
    api: ApiClient, stack: LocalStack, seeded: dict[str, list[tuple[Any, ...]]]
) -> None:
    by_query = post(api, "/api/v1/create_backup?table=jobs")
    by_body = post(api, "/api/v1/create_backup", json={"table": "departments"})
    assert (by_query.status_code, by_body.status_code) == (201, 201)
    assert list(by_query.json()["tables"]) == ["jobs"]
    assert list(by_body.json()["tables"]) == ["departments"]
    post(api, "/api/v1/tables/jobs/rows", json={"rows": [[1, "changed"], [900, "added"]]})
    location = by_query.json()["tables"]["jobs"]["location"]
    reply = post(
        api, "/api/v1/upload_parquet_backup", json={"table": "jobs", "s3_location": location}
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["table"], reply.json()["rows_restored"]) == ("jobs", 20)
    assert contents(stack)["jobs"] == seeded["jobs"]


def test_avro_export_is_written_and_listed_but_not_restorable(
    api: ApiClient, seeded: dict[str, list[tuple[Any, ...]]]
) -> None:
    reply = post(api, "/api/v1/backups?format=avro", json={"table": "hired_employees"})
    assert reply.status_code == 201, reply.text
    made = reply.json()
    exported = made["tables"]["hired_employees"]
    assert (made["format"], exported["rows"]) == ("avro", 1800)
    assert exported["files"][0].endswith(".avro")
    restore = post(
        api, "/api/v1/restores", json={"backup_id": made["backup_id"], "table": "hired_employees"}
    )
    assert "AVRO export" in error_of(restore, 400)["message"]


def test_a_restore_that_does_not_verify_changes_nothing(
    api: ApiClient, stack: LocalStack, seeded: dict[str, list[tuple[Any, ...]]]
) -> None:
    made = post(api, "/api/v1/backups", json={"table": "departments"}).json()
    key = f"backups/{made['backup_id']}/backup.json"
    s3 = boto3.client("s3")
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    record["tables"]["departments"]["rows"] += 1
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(record).encode())
    before = contents(stack)
    reply = post(
        api, "/api/v1/restores", json={"backup_id": made["backup_id"], "table": "departments"}
    )
    assert error_of(reply, 422)["code"] == "backup_mismatch"
    assert contents(stack) == before


BID = "20200101T000000Z-0123456789ab"


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/api/v1/backups", {}, 400, "table is required"),
        ("/api/v1/backups", {"table": "payroll"}, 400, "unknown table"),
        ("/api/v1/backups?format=csv", {"table": "jobs"}, 400, "format must be"),
        ("/api/v1/backups", [1], 400, "JSON object"),
        ("/api/v1/create_backup", None, 400, "table is required"),
        ("/api/v1/restores", {"table": "jobs"}, 400, "give backup_id"),
        ("/api/v1/restores", {"backup_id": "x", "table": "jobs"}, 400, "malformed backup id"),
        ("/api/v1/restores", {"backup_id": BID, "table": "jobs"}, 404, "no backup with id"),
        (
            "/api/v1/restores",
            {"s3_location": f"s3://other/backups/{BID}/jobs/"},
            400,
            "s3_location",
        ),
        ("/api/v1/restores", {"s3_location": f"s3://{BUCKET}/raw/jobs/a.csv"}, 400, "s3_location"),
        (
            "/api/v1/upload_parquet_backup",
            {"table": "jobs", "s3_location": f"s3://{BUCKET}/backups/{BID}/%2e%2e/jobs/"},
            400,
            "s3_location",
        ),
        (
            "/api/v1/upload_parquet_backup",
            {"table": "jobs", "s3_location": f"s3://{BUCKET}/backups/{BID}/../../raw/jobs/"},
            400,
            "s3_location",
        ),
        (
            "/api/v1/upload_parquet_backup",
            {"table": "jobs", "s3_location": f"s3://{BUCKET}/backups/{BID}/jobs/"},
            404,
            "no backup with id",
        ),
    ],
)
def test_backup_routes_refuse_bad_requests(
    api: ApiClient, path: str, body: Any, status: int, fragment: str
) -> None:
    reply = post(api, path, json=body) if body is not None else post(api, path)
    assert fragment in error_of(reply, status)["message"]


# --- OpenAPI ----------------------------------------------------------------------------------


def test_openapi_describes_exactly_the_registered_routes(api: ApiClient, stack: LocalStack) -> None:
    reply = get(api, "/api/v1/openapi.json")
    assert reply.status_code == 200
    document = reply.json()
    validate(document)
    assert stack.app_module is not None
    # The API's routes; the console's page and files (outside /api/) are not part of it.
    registered = {
        (path, method.lower())
        for path, entries in stack.app_module.app.routes.items()
        for method in entries
        if path.startswith("/api/")
    }
    described = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert described == registered
    assert len(registered) == 23
