"""The Redshift adapter against a recording connection: every statement it sends, in order.

The fake stands in for ``redshift_connector.Connection`` / ``Cursor`` (same method names and
parameters, checked below) and answers from rules; S3 is moto. No network, no mock.patch.
"""

from __future__ import annotations

import inspect
import json
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import redshift_connector
from botocore.exceptions import ClientError
from moto import mock_aws
from redshift_connector.error import IntegrityError, InterfaceError, OperationalError
from redshift_connector.error import ProgrammingError as DriverProgrammingError

from chalicelib import keys
from chalicelib.config import Settings
from chalicelib.errors import (
    PermanentWarehouseError,
    SerializationConflictError,
    TransientWarehouseError,
)
from chalicelib.pipeline import load, runner, state
from chalicelib.pipeline.load import LoadResult
from chalicelib.pipeline.runner import run_stage
from chalicelib.tables import TABLES, get_table
from chalicelib.warehouse import ensure_schema, make_warehouse, sql
from chalicelib.warehouse.redshift import RedshiftWarehouse
from chalicelib.warehouse.redshift_connect import connector, translate
from chalicelib.warehouse.settings import RedshiftSettings
from chalicelib.warehouse.sql import UnsafeIdentifierError
from tests.stage_events import split_and_validate, stage_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

BUCKET = "ingest-unit"
ROLE = "arn:aws:iam::123456789012:role/ingest-copy-unload"
CONFLICT = {
    "S": "ERROR",
    "C": "XX000",
    "M": "1023",
    "D": "Serializable isolation violation on table - 119371, transactions forming the cycle "
    "are: 1745830, 1745762 (pid:15021)",
}


@dataclass
class Sent:
    sql: str
    params: tuple[Any, ...]
    paramstyle: str


@dataclass
class Rule:
    pattern: re.Pattern[str]
    answer: Any  # rows, an exception to raise, or a callable(sql, params) -> rows
    times: int | None = None


class FakeCursor:
    """Records what ``redshift_connector.Cursor.execute`` would send."""

    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.paramstyle = "format"  # the driver's module default
        self.description: list[tuple[str]] | None = None
        self._rows: list[tuple[Any, ...]] = []

    def execute(
        self, operation: str, args: Any = None, stream: Any = None, merge_socket_read: bool = False
    ) -> FakeCursor:
        self.connection.sent.append(Sent(operation, tuple(args or ()), self.paramstyle))
        rows = self.connection.answer(operation, list(args or ()))
        self.description = None if rows is None else [("column",)]
        self._rows = rows or []
        return self

    def fetchall(self) -> tuple[list[Any], ...]:
        return tuple(list(row) for row in self._rows)  # the driver returns rows as lists

    def close(self) -> None:
        pass


@dataclass
class FakeConnection:
    """A ``redshift_connector.Connection`` that answers from rules and records every statement."""

    sent: list[Sent] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    autocommit: bool = False
    closed: bool = False

    def on(self, pattern: str, answer: Any, times: int | None = None) -> FakeConnection:
        self.rules.append(Rule(re.compile(pattern), answer, times))
        return self

    def answer(self, operation: str, params: list[Any]) -> list[tuple[Any, ...]] | None:
        for rule in self.rules:
            if rule.times != 0 and rule.pattern.search(operation):
                if rule.times is not None:
                    rule.times -= 1
                if isinstance(rule.answer, BaseException):
                    raise rule.answer
                return rule.answer(operation, params) if callable(rule.answer) else rule.answer
        return [] if operation.startswith("SELECT") else None

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True

    @property
    def statements(self) -> list[str]:
        return [s.sql for s in self.sent]


@pytest.mark.parametrize(
    ("fake", "real", "methods", "attribute"),
    [
        (FakeConnection, redshift_connector.Connection, ["cursor", "close"], "autocommit"),
        (FakeCursor, redshift_connector.Cursor, ["execute", "fetchall", "close"], "paramstyle"),
    ],
)
def test_fake_connection_matches_driver_signatures(
    fake: type, real: type, methods: list[str], attribute: str
) -> None:
    for name in methods:
        fake_params = list(inspect.signature(getattr(fake, name)).parameters)
        real_params = list(inspect.signature(getattr(real, name)).parameters)
        assert fake_params == real_params[: len(fake_params)], name
    # An instance attribute the adapter sets: the driver assigns it in __init__.
    assert f"self.{attribute}" in inspect.getsource(real.__init__)


# One session for the module: it caches service models, so a client costs milliseconds, not a
# second. Fake credentials, never resolved from the machine.
SESSION = boto3.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
)


@pytest.fixture
def s3() -> Iterator[S3Client]:
    with mock_aws():
        client = SESSION.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def settings() -> Settings:
    redshift = RedshiftSettings(
        host="example.abc123.us-east-1.redshift.amazonaws.com",
        port=5439,
        database="dev",
        user="loader",
        password="not-a-real-password",
        iam_role=ROLE,
    )
    return Settings(bucket=BUCKET, warehouse="redshift", chunk_rows=2, redshift=redshift)


@pytest.fixture
def con() -> FakeConnection:
    return FakeConnection()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def warehouse(con: FakeConnection, s3: S3Client, sleeps: list[float]) -> RedshiftWarehouse:
    return RedshiftWarehouse(lambda: con, ROLE, s3, sleep=sleeps.append)


def validated_upload(s3: S3Client, settings: Settings, table: str, body: bytes) -> str:
    """Split and validate a raw upload, as the S3 handlers would; return its upload id."""
    return split_and_validate(s3, settings, f"raw/{table}/{table}.csv", body)


def expected_load(uid: str) -> list[str]:
    manifest = f"s3://{BUCKET}/manifests/jobs/{uid}/copy.json"
    return [
        "BEGIN",
        'LOCK "jobs", "ingest_loads"',
        'SELECT "rows_loaded", "rows_superseded" FROM "ingest_loads" WHERE "upload_id" = ?',
        'DROP TABLE IF EXISTS "jobs_staging"',
        'DROP TABLE IF EXISTS "jobs_superseded"',
        'CREATE TEMP TABLE "jobs_staging" ("id" BIGINT NOT NULL, "job" VARCHAR(1024) NOT NULL, '
        '"source_row" BIGINT NOT NULL)',
        f'COPY "jobs_staging" ("id", "job", "source_row") FROM \'{manifest}\' '
        f"IAM_ROLE '{ROLE}' MANIFEST FORMAT AS CSV NULL AS '\\000' TIMEFORMAT 'auto' "
        "COMPUPDATE OFF STATUPDATE OFF",
        "SELECT pg_last_copy_count()",
        'CREATE TEMP TABLE "jobs_superseded" AS SELECT s."source_row", d.winner '
        'FROM "jobs_staging" AS s JOIN (SELECT "id", MAX("source_row") AS winner '
        'FROM "jobs_staging" GROUP BY "id" HAVING COUNT(*) > 1) AS d ON s."id" = d."id" '
        'WHERE s."source_row" < d.winner',
        'SELECT "source_row", winner FROM "jobs_superseded" ORDER BY "source_row"',
        'DELETE FROM "jobs_staging" USING "jobs_superseded" '
        'WHERE "jobs_staging"."source_row" = "jobs_superseded"."source_row"',
        'MERGE INTO "jobs" USING "jobs_staging" AS s ON "jobs"."id" = s."id" WHEN MATCHED THEN '
        'UPDATE SET "job" = s."job" WHEN NOT MATCHED THEN INSERT ("id", "job") '
        'VALUES (s."id", s."job")',
        'INSERT INTO "ingest_loads" ("upload_id", "table_name", "rows_loaded", '
        '"rows_superseded", "loaded_at") VALUES (?, ?, ?, ?, ?)',
        'DROP TABLE IF EXISTS "jobs_staging"',
        'DROP TABLE IF EXISTS "jobs_superseded"',
        "COMMIT",
    ]


JOBS_CSV = b"1,Engineer\n2,Manager\n1,Lead Engineer\n"


def load_jobs(
    s3: S3Client, settings: Settings, warehouse: RedshiftWarehouse
) -> tuple[str, LoadResult | None]:
    uid = validated_upload(s3, settings, "jobs", JOBS_CSV)
    return uid, load.load_upload(s3, warehouse, settings, stage_event(keys.load_key("jobs", uid)))


def test_load_upload_sends_one_transaction(
    s3: S3Client, settings: Settings, con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    con.on(r"^SELECT pg_last_copy_count", [(3,)]).on(r'^SELECT "source_row", winner', [(1, 3)])

    uid, result = load_jobs(s3, settings, warehouse)

    assert result == LoadResult(uid, "loaded", rows_loaded=2, rows_superseded=1)
    assert con.statements == expected_load(uid)
    assert con.autocommit is True  # BEGIN/COMMIT are ours, not the driver's implicit ones
    assert {s.paramstyle for s in con.sent} == {"qmark"}
    assert con.sent[2].params == (uid,)
    assert con.sent[12].params[:4] == (uid, "jobs", 2, 1)
    assert isinstance(con.sent[12].params[4], datetime)
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=keys.copy_manifest_key("jobs", uid))["Body"].read()
    )
    assert [e["url"] for e in manifest["entries"]] == [
        f"s3://{BUCKET}/clean/jobs/{uid}/000000.csv",
        f"s3://{BUCKET}/clean/jobs/{uid}/000001.csv",
    ]
    assert all(e["mandatory"] and e["meta"]["content_length"] > 0 for e in manifest["entries"])
    duplicates = s3.get_object(Bucket=BUCKET, Key=keys.duplicates_key("jobs", uid))["Body"].read()
    assert json.loads(duplicates)["errors"] == ["id: duplicate id, superseded by row 3"]


def test_load_upload_without_repeated_ids_deletes_nothing_from_staging(
    s3: S3Client, settings: Settings, con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    con.on(r"^SELECT pg_last_copy_count", [(2,)])
    uid = validated_upload(s3, settings, "jobs", b"1,Engineer\n2,Manager\n")

    result = load.load_upload(s3, warehouse, settings, stage_event(keys.load_key("jobs", uid)))

    assert result == LoadResult(uid, "loaded", rows_loaded=2, rows_superseded=0)
    assert con.statements == [s for s in expected_load(uid) if not s.startswith("DELETE")]
    duplicates = s3.get_object(Bucket=BUCKET, Key=keys.duplicates_key("jobs", uid))["Body"].read()
    assert duplicates == b""


def test_load_upload_already_in_ledger_changes_nothing(
    s3: S3Client, settings: Settings, con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    # The commit went through but the state write did not: the retried load finds the ledger row
    # (and the duplicates report the first attempt wrote before committing).
    con.on(r'FROM "ingest_loads" WHERE', [(2, 1)])
    uid = validated_upload(s3, settings, "jobs", JOBS_CSV)
    s3.put_object(Bucket=BUCKET, Key=keys.duplicates_key("jobs", uid), Body=b"")

    result = load.load_upload(s3, warehouse, settings, stage_event(keys.load_key("jobs", uid)))

    assert result == LoadResult(uid, "loaded", rows_loaded=2, rows_superseded=1)
    assert con.statements == expected_load(uid)[:3] + ["COMMIT"]


def test_load_upload_rolls_back_when_a_statement_fails(
    s3: S3Client, settings: Settings, con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    con.on(r"^SELECT pg_last_copy_count", [(3,)]).on(r'^SELECT "source_row", winner', [(1, 3)])
    con.on(
        r"^MERGE",
        DriverProgrammingError(
            {"S": "ERROR", "C": "42501", "M": "permission denied for relation jobs"}
        ),
    )

    uid, result = load_jobs(s3, settings, warehouse)

    assert result is not None and result.state == "failed"
    merge_at = expected_load(uid).index(
        next(s for s in expected_load(uid) if s.startswith("MERGE"))
    )
    assert con.statements == [*expected_load(uid)[: merge_at + 1], "ROLLBACK"]
    upload = state.read(s3, BUCKET, "jobs", uid)
    assert upload is not None and upload.state == "failed"
    assert upload.error == "redshift: permission denied for relation jobs [42501]"


def test_load_upload_reports_copy_errors_from_sys_load_error_detail(
    s3: S3Client, settings: Settings, con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    con.on(
        r"^COPY",
        DriverProgrammingError(
            {
                "S": "ERROR",
                "C": "XX000",
                "M": "Load into table 'jobs_staging' failed. "
                "Check 'sys_load_error_detail' system table for details.",
            }
        ),
    )
    # Serverless: no STL_LOAD_ERRORS, so SYS_LOAD_ERROR_DETAIL is asked.
    con.on(r"FROM stl_load_errors", DriverProgrammingError({"C": "42P01", "M": "no relation"}))
    con.on(
        r"FROM sys_load_error_detail",
        lambda _sql, _params: [
            (
                f"s3://{BUCKET}/clean/jobs/x/000001.csv   ",
                1,
                "job    ",
                1204,
                "String length exceeds DDL length   ",
            )
        ],
    )

    uid, result = load_jobs(s3, settings, warehouse)

    assert result is not None and result.state == "failed"
    copy_at = 6
    assert con.statements[: copy_at + 1] == expected_load(uid)[: copy_at + 1]
    # No DETAIL with the COPY's query id: the session's latest failed COPY.
    assert con.statements[copy_at + 1 :] == [
        "ROLLBACK",
        sql.load_errors_stl("session"),
        sql.load_errors("session"),
    ]
    upload = state.read(s3, BUCKET, "jobs", uid)
    assert upload is not None and upload.error == (
        f"COPY into jobs_staging failed: s3://{BUCKET}/clean/jobs/x/000001.csv line 1, "
        "column job: String length exceeds DDL length (code 1204)"
    )


def test_copy_error_is_read_from_stl_load_errors_where_there_is_stl(
    con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    con.on(r"^COPY", DriverProgrammingError({"C": "XX000", "M": "Load into table 't' failed."}))
    con.on(r"stl_load_errors", [("s3://b/f.csv", 7, "id", 1207, "Invalid digit")])

    with pytest.raises(PermanentWarehouseError, match="f.csv line 7, column id: Invalid digit"):
        warehouse.copy_from_s3("t", ["id"], f"s3://{BUCKET}/m.json")
    # Outside a transaction there is nothing to roll back.
    assert con.statements[1:] == [sql.load_errors_stl("session")]


@pytest.mark.parametrize("query_line", ["query:     4242", "query:     4242[child_sequence:1]"])
def test_copy_error_is_looked_up_by_the_query_id_redshift_names(
    con: FakeConnection, warehouse: RedshiftWarehouse, query_line: str
) -> None:
    detail = (
        "\n  -----------------------------------------------\n  error:  Invalid digit\n"
        f"  code:      1207\n  context:   id\n  {query_line}\n  location:  f.csv:7\n"
        "  -----------------------------------------------\n"
    )
    con.on(r"^COPY", DriverProgrammingError({"C": "XX000", "M": "Load failed.", "D": detail}))
    con.on(r"stl_load_errors", [("s3://b/f.csv", 7, "id", 1207, "Invalid digit")])
    con.on(r"sys_load_error_detail", [("s3://b/other.csv", 1, "id", 1207, "another COPY")])

    with pytest.raises(PermanentWarehouseError, match="f.csv line 7, column id: Invalid digit"):
        warehouse.copy_from_s3("t", ["id"], f"s3://{BUCKET}/m.json")
    # STL's query is the id the DETAIL names; SYS's query_id is another number.
    assert con.statements[1:] == [sql.load_errors_stl()]
    assert con.sent[-1].params == (4242,)


def test_a_copy_failure_that_is_not_a_data_error_reads_no_earlier_load_error(
    con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    con.on(r"^COPY", DriverProgrammingError({"C": "XX000", "M": "S3ServiceException: denied"}))
    con.on(r"load_error", [("s3://b/earlier.csv", 1, "id", 1207, "an earlier COPY's")])

    with pytest.raises(PermanentWarehouseError) as caught:
        warehouse.copy_from_s3("t", ["id"], f"s3://{BUCKET}/m.json")
    assert "earlier" not in caught.value.message and "S3ServiceException" in caught.value.message
    assert con.statements[1:] == []


def test_load_upload_reruns_a_conflicting_transaction(
    s3: S3Client,
    settings: Settings,
    con: FakeConnection,
    warehouse: RedshiftWarehouse,
    sleeps: list[float],
) -> None:
    con.on(r"^SELECT pg_last_copy_count", [(3,)]).on(r'^SELECT "source_row", winner', [(1, 3)])
    con.on(r"^MERGE", DriverProgrammingError(CONFLICT), times=1)

    uid, result = load_jobs(s3, settings, warehouse)

    assert result is not None and result.state == "loaded"
    first = expected_load(uid)
    merge_at = next(i for i, s in enumerate(first) if s.startswith("MERGE"))
    assert con.statements == [*first[: merge_at + 1], "ROLLBACK", *first]
    assert sleeps == [0.5]


def test_load_upload_gives_up_on_conflicts_and_leaves_the_retry_to_lambda(
    s3: S3Client,
    settings: Settings,
    con: FakeConnection,
    warehouse: RedshiftWarehouse,
    sleeps: list[float],
) -> None:
    con.on(r"^SELECT pg_last_copy_count", [(3,)]).on(r'^SELECT "source_row", winner', [(1, 3)])
    con.on(r"^MERGE", DriverProgrammingError(CONFLICT))

    with pytest.raises(SerializationConflictError):
        load_jobs(s3, settings, warehouse)

    assert sleeps == [0.5, 1.0, 2.0]
    assert con.statements.count("BEGIN") == 4
    assert con.statements.count("ROLLBACK") == 4
    assert "COMMIT" not in con.statements


def test_ensure_schema_runs_ddl_in_autocommit(
    con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    ensure_schema(warehouse, TABLES.values())

    assert con.statements == [sql.create_table(t, "redshift") for t in TABLES.values()] + [
        sql.create_ledger("redshift")
    ]
    assert "BEGIN" not in con.statements


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_connection_lost_inside_a_transaction_is_not_silently_replaced(s3: S3Client) -> None:
    made: list[FakeConnection] = []

    def connect() -> FakeConnection:
        made.append(FakeConnection().on(r"^SELECT 1$", InterfaceError("communication error")))
        return made[-1]

    warehouse = RedshiftWarehouse(connect, ROLE, s3)
    with pytest.raises(TransientWarehouseError), warehouse.transaction():
        warehouse.execute("SELECT 1")
        warehouse.execute("SELECT 2")  # never sent: the connection is gone mid-transaction
    assert len(made) == 1 and made[0].statements == ["BEGIN", "SELECT 1"] and made[0].closed

    warehouse.execute("SELECT 3")  # outside a transaction a new connection is fine
    assert len(made) == 2 and made[1].statements == ["SELECT 3"]


def test_idle_connection_is_checked_and_replaced(s3: S3Client) -> None:
    made: list[FakeConnection] = []
    clock = Clock()

    def connect() -> FakeConnection:
        made.append(FakeConnection())
        return made[-1]

    warehouse = RedshiftWarehouse(connect, ROLE, s3, clock=clock)
    warehouse.execute("SELECT 1")
    made[0].on(r"^SELECT 1$", InterfaceError("connection is closed"))
    clock.now += 3600  # the container was frozen for an hour
    warehouse.execute(sql.count_rows("jobs"))

    assert made[0].statements == ["SELECT 1", "SELECT 1"]
    assert made[1].statements == ['SELECT COUNT(*) FROM "jobs"']


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (DriverProgrammingError(CONFLICT), SerializationConflictError),
        (
            DriverProgrammingError({"C": "40001", "M": "could not serialize access"}),
            SerializationConflictError,
        ),
        (DriverProgrammingError({"C": "40P01", "M": "deadlock detected"}), TransientWarehouseError),
        (
            DriverProgrammingError({"C": "55P03", "M": "could not obtain lock"}),
            TransientWarehouseError,
        ),
        (
            DriverProgrammingError(
                {"C": "57014", "M": "canceling statement due to statement timeout"}
            ),
            TransientWarehouseError,
        ),
        (
            DriverProgrammingError({"C": "08006", "M": "connection failure"}),
            TransientWarehouseError,
        ),
        (
            DriverProgrammingError({"C": "53300", "M": "too many connections"}),
            TransientWarehouseError,
        ),
        (
            InterfaceError("communication error", ConnectionRefusedError(111, "refused")),
            TransientWarehouseError,
        ),
        (InterfaceError("connection is closed"), TransientWarehouseError),
        (OperationalError("connection time out", TimeoutError()), TransientWarehouseError),
        (ConnectionResetError(104, "reset"), TransientWarehouseError),
        (
            ClientError({"Error": {"Code": "ThrottlingException"}}, "GetClusterCredentials"),
            TransientWarehouseError,
        ),
        (
            DriverProgrammingError({"C": "42P01", "M": 'relation "jobs" does not exist'}),
            PermanentWarehouseError,
        ),
        (
            DriverProgrammingError({"C": "XX000", "M": "Load into table 'jobs_staging' failed."}),
            PermanentWarehouseError,
        ),
        (
            InterfaceError({"C": "28000", "M": "password authentication failed for user loader"}),
            PermanentWarehouseError,
        ),
        (IntegrityError({"C": "23505", "M": "duplicate key"}), PermanentWarehouseError),
        (InterfaceError("Server refuses SSL"), PermanentWarehouseError),
        (
            ClientError({"Error": {"Code": "AccessDenied"}}, "GetClusterCredentials"),
            PermanentWarehouseError,
        ),
    ],
)
def test_translate_sorts_driver_errors(exc: BaseException, expected: type) -> None:
    error = translate(exc)
    assert type(error) is expected


def test_translate_keeps_row_values_in_detail_out_of_the_message() -> None:
    exc = DriverProgrammingError({"C": "22001", "M": "value too long", "D": "value: Jane Doe"})
    assert "Jane" not in translate(exc).message


def test_unload_quotes_the_query_and_reads_redshift_manifest(
    s3: S3Client, con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    files = [f"s3://{BUCKET}/backups/jobs/b1/000{i}_part_00.parquet" for i in range(2)]

    def redshift_writes_manifest(_sql: str, _params: list[Any]) -> None:
        manifest = {
            "entries": [
                {"url": f, "meta": {"content_length": 10, "record_count": 2}} for f in files
            ],
            "meta": {"content_length": 20, "record_count": 4},
        }
        s3.put_object(Bucket=BUCKET, Key="backups/jobs/b1/manifest", Body=json.dumps(manifest))

    con.on(r"^UNLOAD", redshift_writes_manifest)
    query = """SELECT "id", "job" FROM "jobs" WHERE "job" = 'O''Brien' OR "job" LIKE 'a\\_%'"""

    result = warehouse.unload_to_parquet(query, f"s3://{BUCKET}/backups/jobs/b1")

    assert con.statements == [
        """UNLOAD ('SELECT "id", "job" FROM "jobs" WHERE "job" = ''O''''Brien'' """
        """OR "job" LIKE ''a\\\\_%''') """
        f"TO 's3://{BUCKET}/backups/jobs/b1/' IAM_ROLE '{ROLE}' "
        "FORMAT AS PARQUET MANIFEST VERBOSE ALLOWOVERWRITE MAXFILESIZE 256 MB"
    ]
    assert result.files == tuple(files)
    assert result.rows == 4
    assert result.manifest_uri == f"s3://{BUCKET}/backups/jobs/b1/manifest"


def test_unload_without_manifest_is_permanent(warehouse: RedshiftWarehouse) -> None:
    with pytest.raises(PermanentWarehouseError, match="no readable manifest"):
        warehouse.unload_to_parquet("SELECT 1", f"s3://{BUCKET}/backups/none/")


def test_restore_copies_a_parquet_backup_into_staging_in_one_transaction(
    con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    jobs = get_table("jobs")
    manifest = f"s3://{BUCKET}/backups/jobs/b1/manifest"
    con.on(r"^SELECT pg_last_copy_count", [(4,)])

    def restore() -> int:
        warehouse.execute(sql.create_restore_staging(jobs, "jobs_restore", "redshift"))
        return warehouse.copy_parquet_from_s3("jobs_restore", ["id", "job"], manifest)

    assert warehouse.run_transaction(restore, lock=["jobs"]) == 4
    assert con.statements == [
        "BEGIN",
        'LOCK "jobs"',
        'CREATE TEMP TABLE "jobs_restore" ("id" BIGINT NOT NULL, "job" VARCHAR(1024) NOT NULL)',
        f"COPY \"jobs_restore\" FROM '{manifest}' IAM_ROLE '{ROLE}' FORMAT AS PARQUET MANIFEST",
        "SELECT pg_last_copy_count()",
        "COMMIT",
    ]


INJECTIONS = [
    'jobs"; DROP TABLE jobs; --',
    "jobs staging",
    "1jobs",
    "",
    "jobs--",
    "jöbs",
    'a"b',
    "x" * 128,
    "jobs\n",
]


@pytest.mark.parametrize("name", INJECTIONS)
def test_unsafe_table_names_never_reach_the_connection(
    name: str, con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    with pytest.raises(UnsafeIdentifierError):
        warehouse.copy_from_s3(name, ["id"], f"s3://{BUCKET}/m.json")
    with pytest.raises(UnsafeIdentifierError):
        warehouse.copy_from_s3("jobs", [name], f"s3://{BUCKET}/m.json")
    with pytest.raises(UnsafeIdentifierError):
        warehouse.copy_parquet_from_s3(name, ["id"], f"s3://{BUCKET}/m.json")
    with pytest.raises(UnsafeIdentifierError):
        warehouse.run_transaction(lambda: None, lock=[name])
    assert con.sent == []


@pytest.mark.parametrize(
    "uri",
    [
        f"s3://{BUCKET}/m.json' IAM_ROLE 'arn:aws:iam::999999999999:role/evil",
        f"s3://{BUCKET}/a\\'b",
        "https://example.com/m.json",
        f"s3://{BUCKET}/x\ny",
    ],
)
def test_unsafe_s3_locations_never_reach_the_connection(
    uri: str, con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    with pytest.raises(UnsafeIdentifierError):
        warehouse.copy_from_s3("jobs", ["id"], uri)
    with pytest.raises(UnsafeIdentifierError):
        warehouse.unload_to_parquet("SELECT 1", uri + "/")
    assert con.sent == []


def test_load_trigger_for_an_unknown_table_sends_nothing(
    s3: S3Client, settings: Settings, con: FakeConnection, warehouse: RedshiftWarehouse
) -> None:
    key = 'loads/jobs"; DROP TABLE jobs; --/20260101T000000Z-0123456789ab.json'
    assert runner.parse_stage_key(key) is None
    assert run_stage("load", s3, settings.bucket, key, None, lambda event: 1 / 0) is None
    assert con.sent == []


def test_adapter_refuses_a_malformed_role(s3: S3Client) -> None:
    with pytest.raises(UnsafeIdentifierError):
        RedshiftWarehouse(FakeConnection, "arn:aws:iam::1:role/x' --", s3)


def test_make_warehouse_builds_redshift_without_connecting(
    s3: S3Client, settings: Settings
) -> None:
    warehouse = make_warehouse(settings, s3)
    assert isinstance(warehouse, RedshiftWarehouse)
    assert warehouse.dialect == "redshift"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeSecrets:
    def __init__(self, value: str) -> None:
        self.value = value
        self.calls: list[str] = []

    def get_secret_value(self, *, SecretId: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append(SecretId)
        return {"SecretString": self.value}


def test_real_driver_connection_refused_is_transient_and_logs_no_secret(
    s3: S3Client, caplog: pytest.LogCaptureFixture
) -> None:
    password = "s3cr3t-Value-never-logged"
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ingest/redshift-AbCdEf"
    secrets = FakeSecrets(json.dumps({"username": "loader", "password": password}))
    redshift = RedshiftSettings(
        host="127.0.0.1",
        port=_closed_port(),
        database="dev",
        user=None,
        password=None,
        iam_role=ROLE,
        auth="secret",
        secret_arn=arn,
    )
    warehouse = RedshiftWarehouse(connector(redshift, secrets), ROLE, s3)
    caplog.set_level("DEBUG")

    with pytest.raises(TransientWarehouseError) as raised:
        warehouse.execute("SELECT 1")

    assert secrets.calls == [arn]
    assert password not in caplog.text
    assert password not in str(raised.value) and password not in repr(redshift)
