"""One behavioural suite for every warehouse adapter: DuckDB, Redshift on the local engine, and
Redshift live when configured.

Each test drives the real pipeline stages (split, validate, load) and the ``Warehouse`` protocol,
and checks only what a caller can see: rows, counts, errors. DuckDB runs on moto S3 in memory.
The Redshift adapter runs, through the real driver, on the local engine (devstack/redshift_local:
PostgreSQL 15 behind a Redshift translation proxy, on moto S3), and against a live cluster or
workgroup and a scratch bucket when INGEST_REDSHIFT_* and INGEST_CONTRACT_BUCKET are set (see
docs/deploy.md, "Running the contract suite"); each test inside a schema created for it.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import keys, storage
from chalicelib.api import reports
from chalicelib.backups import backup, restore
from chalicelib.config import Settings
from chalicelib.errors import PermanentWarehouseError
from chalicelib.pipeline import load, state
from chalicelib.tables import TABLES, get_table
from chalicelib.warehouse import Warehouse, ensure_schema, make_warehouse, sql
from devstack import redshift_local
from tests.stage_events import split_and_validate, stage_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

CONTRACT_BUCKET = "INGEST_CONTRACT_BUCKET"
# A live run needs somewhere to connect, the role COPY/UNLOAD assume, and a bucket that role can
# use. The bucket must not be the deployed one: its notifications would start the real pipeline.
_LIVE_NEEDS = ("INGEST_REDSHIFT_DATABASE", "INGEST_REDSHIFT_IAM_ROLE", CONTRACT_BUCKET)
_LIVE_ENDPOINT = ("INGEST_REDSHIFT_HOST", "INGEST_REDSHIFT_CLUSTER_ID", "INGEST_REDSHIFT_WORKGROUP")


def _live_missing() -> list[str]:
    missing = [name for name in _LIVE_NEEDS if not os.environ.get(name)]
    if not any(os.environ.get(name) for name in _LIVE_ENDPOINT):
        missing.append(" or ".join(_LIVE_ENDPOINT))
    return missing


# The Redshift adapter always runs on the local engine (PostgreSQL behind devstack/redshift_local,
# through the real driver); against a live cluster too when one is configured.
REDSHIFT_LOCAL = pytest.param(
    "redshift-local",
    marks=pytest.mark.skipif(
        not redshift_local.available(),
        reason=f"local Redshift engine unavailable: {redshift_local.INSTALL_HINT}",
    ),
    id="redshift-local",
)
REDSHIFT_LIVE = pytest.param("redshift-live", marks=pytest.mark.integration, id="redshift-live")
PARAMS = ["duckdb", REDSHIFT_LOCAL, *([] if _live_missing() else [REDSHIFT_LIVE])]


@dataclass
class Target:
    """A warehouse under test with its S3 bucket and the settings the stages need."""

    name: str
    warehouse: Warehouse
    s3: S3Client
    settings: Settings
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    written: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)  # more objects to delete after a live run

    @property
    def bucket(self) -> str:
        return self.settings.bucket

    def upload(self, table: str, body: bytes) -> str:
        """Put a raw CSV, split and validate it as the handlers would; return the upload id."""
        key = f"raw/{table}/contract-{self.token}-{len(self.written)}.csv"
        self.written.append(key)
        return split_and_validate(self.s3, self.settings, key, body)

    def load(self, table: str, uid: str) -> load.LoadResult:
        return load.load_upload(
            self.s3, self.warehouse, self.settings, stage_event(keys.load_key(table, uid))
        )

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        return self.warehouse.execute(sql.select_all(get_table(table)))

    def put_csv(self, name: str, lines: list[str]) -> str:
        key = f"contract/{self.token}/{name}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body="".join(lines).encode())
        return keys.s3_uri(self.bucket, key)

    def put_manifest(self, name: str, urls: list[str]) -> str:
        entries = []
        for url in urls:
            _, key = keys.parse_s3_uri(url)
            size = self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
            entries.append({"url": url, "mandatory": True, "meta": {"content_length": size}})
        key = f"contract/{self.token}/{name}"
        storage.put_json(self.s3, self.bucket, key, {"entries": entries})
        return keys.s3_uri(self.bucket, key)


SESSION = boto3.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
)


@pytest.fixture(params=PARAMS)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "redshift-live":
        env = {**os.environ, "INGEST_BUCKET": os.environ[CONTRACT_BUCKET]}
        yield from _redshift(env, boto3.client("s3"), "redshift")
        return
    with mock_aws():
        s3 = SESSION.client("s3")
        s3.create_bucket(Bucket="ingest-contract")
        if request.param == "redshift-local":
            engine = request.getfixturevalue("redshift_engine")
            engine.use_s3(s3)
            env = {**engine.environment(), "INGEST_BUCKET": "ingest-contract"}
            yield from _redshift(env, s3, "redshift-local", cleanup=False)
            return
        settings = Settings(bucket="ingest-contract", chunk_rows=2)
        warehouse = make_warehouse(settings, s3)
        ensure_schema(warehouse, TABLES.values())
        yield Target("duckdb", warehouse, s3, settings)
        warehouse.close()


def _redshift(
    env: dict[str, str], s3: S3Client, name: str, *, cleanup: bool = True
) -> Iterator[Target]:
    """The Redshift adapter, made from settings as the app makes it, in a scratch schema."""
    settings = Settings.from_env({**env, "INGEST_WAREHOUSE": "redshift", "INGEST_CHUNK_ROWS": "2"})
    warehouse = make_warehouse(settings, s3)
    schema = sql.ident(f"ingest_contract_{secrets.token_hex(4)}")
    warehouse.execute(f"CREATE SCHEMA {schema}")
    # Session-wide: the suite's tables, ledger included, live in the scratch schema.
    warehouse.execute(f"SET search_path TO {schema}")
    ensure_schema(warehouse, TABLES.values())
    target = Target(name, warehouse, s3, settings)
    try:
        yield target
    finally:
        warehouse.execute(f"DROP SCHEMA {schema} CASCADE")
        warehouse.close()
        if cleanup:
            _delete_objects(target)


def _delete_objects(target: Target) -> None:
    prefixes = [f"contract/{target.token}/", f"backups/contract-{target.token}/", *target.prefixes]
    for raw in target.written:
        table = raw.split("/")[1]
        for upload in state.list_uploads(target.s3, target.bucket, table, limit=1000):
            if upload.source_key == raw:
                uid = upload.upload_id
                prefixes += [
                    f"{folder}{table}/{uid}"
                    for folder in (
                        keys.CHUNKS,
                        keys.CLEAN,
                        keys.REJECTED,
                        keys.UPLOADS,
                        keys.MANIFESTS,
                        keys.LOADS,
                    )
                ]
        prefixes.append(raw)
    for prefix in prefixes:
        for key in list(storage.list_keys(target.s3, target.bucket, prefix)):
            target.s3.delete_object(Bucket=target.bucket, Key=key)


def test_schema_creation_is_idempotent(target: Target) -> None:
    ensure_schema(target.warehouse, TABLES.values())
    for name in (*TABLES, sql.LEDGER_TABLE):
        assert target.warehouse.execute(sql.count_rows(name)) == [(0,)]


def test_copy_from_manifest_parses_quoting_and_timestamps(target: Target) -> None:
    table = get_table("hired_employees")
    first = target.put_csv(
        "a.csv",
        [
            '1,"Doe, Jane",2021-07-27T16:02:08Z,1,2,1\n',
            '2,"Line\nBreak",2021-12-31T23:59:59Z,1,2,2\n',
        ],
    )
    second = target.put_csv(
        "b.csv",
        ['3,"Say ""hi""",2022-01-01T00:00:00Z,3,4,4\n', "5,Ada,2020-02-29T12:00:00Z,3,4,5\n"],
    )
    manifest = target.put_manifest("copy.json", [first, second])
    staging = "hired_employees_contract"

    def work() -> tuple[int, list[tuple[Any, ...]]]:
        target.warehouse.execute(sql.drop_table(staging))
        target.warehouse.execute(sql.create_staging(table, staging, target.warehouse.dialect))
        copied = target.warehouse.copy_from_s3(staging, sql.staging_columns(table), manifest)
        rows = target.warehouse.execute(
            f'SELECT "id", "name", "datetime", "source_row" FROM {sql.ident(staging)} ORDER BY 1'
        )
        target.warehouse.execute(sql.drop_table(staging))
        return copied, rows

    copied, rows = target.warehouse.run_transaction(work)

    assert copied == 4
    assert rows == [
        (1, "Doe, Jane", datetime(2021, 7, 27, 16, 2, 8), 1),
        (2, "Line\nBreak", datetime(2021, 12, 31, 23, 59, 59), 2),
        (3, 'Say "hi"', datetime(2022, 1, 1, 0, 0, 0), 4),
        (5, "Ada", datetime(2020, 2, 29, 12, 0, 0), 5),
    ]


def test_copy_of_bad_data_fails_permanently_and_changes_nothing(target: Target) -> None:
    table = get_table("jobs")
    bad = target.put_csv("bad.csv", ["1,Engineer,1\n", "not-a-number,Manager,2\n"])
    manifest = target.put_manifest("bad.json", [bad])

    def work() -> None:
        target.warehouse.execute(sql.drop_table("jobs_contract"))
        target.warehouse.execute(
            sql.create_staging(table, "jobs_contract", target.warehouse.dialect)
        )
        target.warehouse.copy_from_s3("jobs_contract", sql.staging_columns(table), manifest)
        target.warehouse.execute(sql.merge(table, "jobs_contract"))

    with pytest.raises(PermanentWarehouseError):
        target.warehouse.run_transaction(work, lock=["jobs"])
    assert target.rows("jobs") == []


def test_load_merges_by_id_and_replays_are_no_ops(target: Target) -> None:
    first = target.upload("jobs", b"1,Engineer\n2,Manager\n1,Lead Engineer\n3,Analyst\n")
    assert target.load("jobs", first).rows_loaded == 3
    second = target.upload("jobs", b"2,Director\n4,Recruiter\n")
    assert target.load("jobs", second).rows_loaded == 2

    expected = [(1, "Lead Engineer"), (2, "Director"), (3, "Analyst"), (4, "Recruiter")]
    assert target.rows("jobs") == expected
    assert target.load("jobs", first).skipped == "upload is loaded"

    # A crash after COMMIT but before the state write: the retried load finds the ledger row.
    upload = state.read(target.s3, target.bucket, "jobs", second)
    assert upload is not None
    storage.put_json(
        target.s3,
        target.bucket,
        keys.state_key("jobs", second),
        {**upload.__dict__, "state": "loading"},
    )
    replay = target.load("jobs", second)
    assert (replay.state, replay.rows_loaded) == ("loaded", 2)
    assert target.rows("jobs") == expected
    ledger = target.warehouse.execute(sql.ledger_lookup(), [second])
    assert ledger == [(2, 0)]


def test_failed_transaction_leaves_tables_unchanged(target: Target) -> None:
    target.load("jobs", target.upload("jobs", b"1,Engineer\n"))

    def work() -> None:
        target.warehouse.execute(sql.ledger_insert(), ["x", "jobs", 1, 0, datetime(2024, 1, 1)])
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        target.warehouse.run_transaction(work, lock=["jobs", sql.LEDGER_TABLE])
    assert target.warehouse.execute(sql.ledger_lookup(), ["x"]) == []
    assert target.rows("jobs") == [(1, "Engineer")]


def test_unload_then_parquet_copy_round_trips(target: Target) -> None:
    target.load("jobs", target.upload("jobs", b"1,Engineer\n2,O'Brien's desk\n3,Analyst\n"))
    jobs = get_table("jobs")
    # A literal in the query: UNLOAD takes the query as a quoted string.
    query = 'SELECT "id", "job" FROM "jobs" WHERE "job" <> \'nobody\''
    prefix = keys.s3_uri(target.bucket, f"backups/contract-{target.token}/jobs/")

    result = target.warehouse.unload_to_parquet(query, prefix)

    assert result.rows == 3
    assert result.manifest_uri == f"{prefix}manifest"
    _, manifest_key = keys.parse_s3_uri(result.manifest_uri)
    manifest = json.loads(
        target.s3.get_object(Bucket=target.bucket, Key=manifest_key)["Body"].read()
    )
    assert [e["url"] for e in manifest["entries"]] == list(result.files)
    assert all(e["meta"]["content_length"] > 0 for e in manifest["entries"])

    def restore() -> tuple[int, list[tuple[Any, ...]]]:
        target.warehouse.execute(sql.drop_table("jobs_restore"))
        target.warehouse.execute(
            sql.create_restore_staging(jobs, "jobs_restore", target.warehouse.dialect)
        )
        copied = target.warehouse.copy_parquet_from_s3(
            "jobs_restore", ["id", "job"], result.manifest_uri
        )
        rows = target.warehouse.execute('SELECT "id", "job" FROM "jobs_restore" ORDER BY "id"')
        target.warehouse.execute(sql.drop_table("jobs_restore"))
        return copied, rows

    copied, rows = target.warehouse.run_transaction(restore, lock=["jobs"])
    assert copied == 3
    assert rows == target.rows("jobs")


def test_reports_count_hires_by_quarter_and_department(target: Target) -> None:
    target.load("departments", target.upload("departments", b"1,Sales\n2,Staff\n3,Idle\n"))
    target.load("jobs", target.upload("jobs", b"1,Engineer\n2,Manager\n"))
    hires = (
        b"1,Ann,2021-01-10T08:00:00Z,1,1\n2,Bob,2021-04-10T08:00:00Z,1,1\n"
        b"3,Cid,2021-12-31T23:59:59Z,1,2\n4,Dee,2021-07-01T00:00:00Z,2,2\n"
        b"5,Eve,2020-12-31T23:59:59Z,2,2\n6,Fay,2022-01-01T00:00:00Z,1,1\n"
    )
    target.load("hired_employees", target.upload("hired_employees", hires))

    by_quarter = reports.hires_by_quarter(target.warehouse, 2021)
    mean, above = reports.departments_above_mean(target.warehouse, 2021)

    assert [(r.department, r.job, r.q1, r.q2, r.q3, r.q4) for r in by_quarter] == [
        ("Sales", "Engineer", 1, 1, 0, 0),
        ("Sales", "Manager", 0, 0, 0, 1),
        ("Staff", "Manager", 0, 0, 1, 0),
    ]
    assert mean == pytest.approx(2.0)
    assert [(d.id, d.department, d.hired) for d in above] == [(1, "Sales", 3)]


@pytest.mark.parametrize("name", ['jobs"; DROP TABLE "jobs"; --', "jobs\n", ""])
def test_unsafe_names_are_refused_before_any_work(target: Target, name: str) -> None:
    calls: list[str] = []
    with pytest.raises(sql.UnsafeIdentifierError):
        target.warehouse.run_transaction(lambda: calls.append("ran"), lock=[name])
    with pytest.raises(sql.UnsafeIdentifierError):
        target.warehouse.copy_from_s3(name, ["id"], f"s3://{target.bucket}/x.json")
    assert calls == []


def test_copy_failure_names_file_line_and_reason_in_the_upload(target: Target) -> None:
    uid = target.upload("jobs", b"1,Engineer\n2,Manager\n")
    # A cleaned file that is not what validation wrote (storage fault, hand edit): the COPY fails.
    clean = keys.clean_key("jobs", uid, 0)
    target.s3.put_object(Bucket=target.bucket, Key=clean, Body=b"1,Engineer,1\nx2,Manager,2\n")

    result = target.load("jobs", uid)

    upload = state.read(target.s3, target.bucket, "jobs", uid)
    assert result.state == "failed" and upload is not None and upload.error is not None
    if target.name != "duckdb":  # DuckDB's own message names neither file nor line
        assert f"s3://{target.bucket}/{clean} line 2, column id:" in upload.error
        assert upload.error.endswith("(code 1207)")  # Redshift's code for an invalid digit
    assert target.rows("jobs") == []


def test_backup_then_restore_swaps_the_table_back(target: Target) -> None:
    target.load("jobs", target.upload("jobs", b"1,Engineer\n2,Manager\n3,O'Brien\n"))
    made = backup.backup_table(target.s3, target.warehouse, target.settings, "jobs")
    target.prefixes.append(f"backups/{made.backup_id}/")
    target.load("jobs", target.upload("jobs", b"2,Director\n4,Recruiter\n"))

    restored = restore.restore_table(
        target.s3, target.warehouse, target.settings, {"backup_id": made.backup_id, "table": "jobs"}
    )

    assert restored.rows_restored == 3
    assert target.rows("jobs") == [(1, "Engineer"), (2, "Manager"), (3, "O'Brien")]


def test_an_upload_whose_rows_are_all_rejected_loads_nothing_and_ends_loaded(
    target: Target,
) -> None:
    uid = target.upload("jobs", b"x,Engineer\n0,Manager\n-3,Analyst\n")

    result = target.load("jobs", uid)

    upload = state.read(target.s3, target.bucket, "jobs", uid)
    assert (result.state, result.rows_loaded) == ("loaded", 0)
    assert upload is not None and (upload.rows_valid, upload.rows_rejected) == (0, 3)
    assert target.warehouse.execute(sql.ledger_lookup(), [uid]) == [(0, 0)]
    assert target.rows("jobs") == []


def test_text_equal_to_the_null_marker_loads_as_text_and_reaches_the_reports(
    target: Target,
) -> None:
    target.load("departments", target.upload("departments", b"1,\\N\n2,NULL\n"))
    target.load("jobs", target.upload("jobs", b"1,\\N\n"))
    target.load(
        "hired_employees", target.upload("hired_employees", b"1,Ann,2021-01-10T08:00:00Z,1,1\n")
    )

    rows = reports.hires_by_quarter(target.warehouse, 2021)

    assert target.rows("departments") == [(1, "\\N"), (2, "NULL")]
    assert [(r.department, r.job, r.q1) for r in rows] == [("\\N", "\\N", 1)]
