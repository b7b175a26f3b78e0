"""The Redshift adapter on the local engine where one connection is not enough, and the engine's
emulation of Redshift behaviour the adapter relies on (manifests, load errors, copy ids).

Every warehouse here is made from settings as the app makes it, through the real driver.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import keys
from chalicelib.config import Settings
from chalicelib.errors import PermanentWarehouseError, TransientWarehouseError
from chalicelib.pipeline import load
from chalicelib.tables import TABLES, get_table
from chalicelib.warehouse import Warehouse, ensure_schema, make_warehouse, redshift_connect, sql
from tests.integration.conftest import ENGINE_BUCKET as BUCKET
from tests.stage_events import split_and_validate, stage_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from devstack.redshift_local import LocalRedshift


@pytest.fixture
def connect(redshift_engine: LocalRedshift, s3: Any) -> Iterator[Callable[[], Warehouse]]:
    """Opens adapters on one scratch schema (each its own connection and session)."""
    schema = f"redshift_local_{secrets.token_hex(4)}"
    env = {**redshift_engine.environment(), "INGEST_BUCKET": BUCKET, "INGEST_CHUNK_ROWS": "2"}
    settings = Settings.from_env(env)
    opened: list[Warehouse] = []

    def open_one() -> Warehouse:
        warehouse = make_warehouse(settings, s3)
        if not opened:
            warehouse.execute(f"CREATE SCHEMA {sql.ident(schema)}")
        warehouse.execute(f"SET search_path TO {sql.ident(schema)}")
        opened.append(warehouse)
        return warehouse

    first = open_one()
    ensure_schema(first, TABLES.values())
    yield open_one
    first.execute(f"DROP SCHEMA {sql.ident(schema)} CASCADE")
    for warehouse in opened:
        warehouse.close()


def _settings(redshift_engine: LocalRedshift) -> Settings:
    env = {**redshift_engine.environment(), "INGEST_BUCKET": BUCKET, "INGEST_CHUNK_ROWS": "2"}
    return Settings.from_env(env)


def _upload(s3: Any, settings: Settings, table: str, body: bytes, name: str) -> str:
    return split_and_validate(s3, settings, f"raw/{table}/{name}.csv", body)


def _put_manifest(s3: Any, name: str, files: dict[str, bytes | None], mandatory: bool) -> str:
    entries = []
    for key, body in files.items():
        if body is not None:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        entries.append({"url": f"s3://{BUCKET}/{key}", "mandatory": mandatory})
    s3.put_object(Bucket=BUCKET, Key=name, Body=json.dumps({"entries": entries}).encode())
    return f"s3://{BUCKET}/{name}"


def test_concurrent_loads_into_one_table_lose_and_duplicate_nothing(
    redshift_engine: LocalRedshift, s3: Any, connect: Callable[[], Warehouse]
) -> None:
    settings = _settings(redshift_engine)
    bodies = [b"".join(b"%d,Job %d\n" % (i, i) for i in range(k, 40, 4)) for k in range(1, 5)]
    uploads = [_upload(s3, settings, "jobs", body, f"part{n}") for n, body in enumerate(bodies)]
    warehouses = [connect() for _ in uploads]
    errors: list[BaseException] = []

    def run(warehouse: Warehouse, uid: str) -> None:
        try:
            result = load.load_upload(
                s3, warehouse, settings, stage_event(keys.load_key("jobs", uid))
            )
            assert result.state == "loaded", result
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=pair) for pair in zip(warehouses, uploads, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    rows = warehouses[0].execute(sql.select_all(get_table("jobs")))
    assert rows == [(i, f"Job {i}") for i in range(1, 40)]
    ledger = warehouses[0].execute(f'SELECT COUNT(*) FROM "{sql.LEDGER_TABLE}"')
    assert ledger == [(4,)]


def test_a_serialization_conflict_is_rerun(connect: Callable[[], Warehouse]) -> None:
    # Without a LOCK, two serializable transactions that read what the other writes conflict:
    # PostgreSQL aborts one with SQLSTATE 40001 (Redshift: error 1023); the adapter reruns it.
    first, second = connect(), connect()
    both_read = threading.Barrier(2, timeout=20)
    attempts = {"a": 0, "b": 0}

    def work(warehouse: Warehouse, name: str) -> None:
        attempts[name] += 1
        count = warehouse.execute(f'SELECT COUNT(*) FROM "{sql.LEDGER_TABLE}"')[0][0]
        if attempts[name] == 1:
            both_read.wait()
        warehouse.execute(sql.ledger_insert(), [f"{name}{count}", "jobs", 1, 0, "2024-01-01"])

    threads = [
        threading.Thread(target=lambda w=w, n=n: w.run_transaction(lambda: work(w, n)))
        for w, n in ((first, "a"), (second, "b"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    ids = sorted(r[0] for r in first.execute(f'SELECT "upload_id" FROM "{sql.LEDGER_TABLE}"'))
    assert len(ids) == 2 and sorted(attempts.values()) == [1, 2]
    assert ids[0][1:] != ids[1][1:]  # the rerun saw the other's row: counts 0 and 1


def test_missing_mandatory_file_fails_the_copy_and_optional_ones_are_skipped(
    s3: Any, connect: Callable[[], Warehouse]
) -> None:
    warehouse = connect()
    table = get_table("jobs")
    files: dict[str, bytes | None] = {"m/a.csv": b"1,Engineer,1\n", "m/gone.csv": None}

    def copy(manifest: str) -> int:
        warehouse.execute(sql.drop_table("jobs_m"))
        warehouse.execute(sql.create_staging(table, "jobs_m", "redshift"))
        return warehouse.copy_from_s3("jobs_m", sql.staging_columns(table), manifest)

    assert (
        warehouse.run_transaction(lambda: copy(_put_manifest(s3, "m/opt.json", files, False))) == 1
    )
    with pytest.raises(PermanentWarehouseError, match=r"m/gone\.csv.*mandatory"):
        warehouse.run_transaction(lambda: copy(_put_manifest(s3, "m/req.json", files, True)))
    assert warehouse.execute("SELECT pg_last_copy_count()") == [(1,)]


def test_load_errors_outlive_the_rollback_in_both_system_views(
    s3: Any, connect: Callable[[], Warehouse]
) -> None:
    warehouse, other = connect(), connect()
    table = get_table("jobs")
    manifest = _put_manifest(s3, "e/m.json", {"e/a.csv": b"1,A,1\n2,B,2\n3,C,x\n"}, True)
    last_id = warehouse.execute("SELECT pg_last_copy_id()")[0][0]

    def work() -> None:
        warehouse.execute(sql.drop_table("jobs_e"))
        warehouse.execute(sql.create_staging(table, "jobs_e", "redshift"))
        warehouse.copy_from_s3("jobs_e", sql.staging_columns(table), manifest)

    with pytest.raises(PermanentWarehouseError, match="e/a.csv line 3, column source_row"):
        warehouse.run_transaction(work)
    # A failed COPY leaves pg_last_copy_id() as it was: the lookup must not rely on it.
    assert warehouse.execute("SELECT pg_last_copy_id()") == [(last_id,)]
    stl = other.execute(
        "SELECT TRIM(filename), line_number, TRIM(colname), err_code FROM stl_load_errors "
        "WHERE TRIM(filename) = ?",
        [f"s3://{BUCKET}/e/a.csv"],
    )
    sys_rows = other.execute(
        "SELECT line_number, TRIM(column_name) FROM sys_load_error_detail "
        "WHERE TRIM(file_name) = ?",
        [f"s3://{BUCKET}/e/a.csv"],
    )
    assert stl == [(f"s3://{BUCKET}/e/a.csv", 3, "source_row", 1207)]
    assert sys_rows == [(3, "source_row")]


def test_each_failed_copy_on_one_connection_reports_its_own_file(
    s3: Any, connect: Callable[[], Warehouse]
) -> None:
    # STL's query and SYS's query_id are different numbers for one COPY; the DETAIL names the
    # first as "query: <id>[child_sequence:1]". Looked up in the wrong view, or by this
    # session's latest error, a failure is reported with another COPY's file.
    warehouse = connect()
    table = get_table("jobs")

    def copy(manifest: str) -> None:
        def work() -> None:
            warehouse.execute(sql.drop_table("jobs_q"))
            warehouse.execute(sql.create_staging(table, "jobs_q", "redshift"))
            warehouse.copy_from_s3("jobs_q", sql.staging_columns(table), manifest)

        warehouse.run_transaction(work)

    first = _put_manifest(s3, "q/1.json", {"q/first.csv": b"x,A,1\n"}, True)
    second = _put_manifest(s3, "q/2.json", {"q/second.csv": b"1,A,1\ny,B,2\n"}, True)
    third = _put_manifest(s3, "q/3.json", {"q/missing.csv": None}, True)

    with pytest.raises(PermanentWarehouseError, match="q/first.csv line 1"):
        copy(first)
    with pytest.raises(PermanentWarehouseError) as second_error:
        copy(second)
    with pytest.raises(PermanentWarehouseError) as third_error:
        copy(third)

    assert "q/second.csv line 2, column id" in second_error.value.message
    assert "q/missing.csv" in third_error.value.message
    assert "second.csv" not in third_error.value.message


def test_a_statement_longer_than_the_connect_timeout_still_completes(
    redshift_engine: LocalRedshift,
    connect: Callable[[], Warehouse],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The connect is bounded; a statement is not cut off by a socket timeout on reads.
    monkeypatch.setattr(redshift_connect, "CONNECT_TIMEOUT_S", 1)
    warehouse = connect()
    redshift_engine.delay(2.0, r"^\s*SELECT 42")
    try:
        assert warehouse.execute("SELECT 42") == [(42,)]
    finally:
        redshift_engine.delay(0)


def test_statement_time_is_bounded_by_the_database(
    redshift_engine: LocalRedshift, s3: Any, connect: Callable[[], Warehouse]
) -> None:
    env = {**redshift_engine.environment(), "INGEST_BUCKET": BUCKET}
    settings = Settings.from_env(env | {"INGEST_REDSHIFT_STATEMENT_TIMEOUT_SECONDS": "1"})
    warehouse = make_warehouse(settings, s3)
    redshift_engine.delay(3.0, r"^\s*SELECT 43")
    started = time.monotonic()
    try:
        with pytest.raises(TransientWarehouseError, match="57014"):
            warehouse.execute("SELECT 43")
    finally:
        redshift_engine.delay(0)
        warehouse.close()
    assert time.monotonic() - started < 2.5
