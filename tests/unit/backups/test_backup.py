"""Backups, the catalog and restores on moto S3 and DuckDB: round trips, verification, atomicity."""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

import fastavro
import pytest

from chalicelib import keys, storage
from chalicelib.backups import avro, backup, catalog, restore
from chalicelib.errors import (
    BackupMismatchError,
    BackupNotFoundError,
    InvalidRequestError,
    PermanentWarehouseError,
)
from chalicelib.pipeline import rows as batch
from chalicelib.tables import TABLE_NAMES

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager

    from chalicelib.config import Settings
    from chalicelib.warehouse import Dialect, UnloadResult
    from chalicelib.warehouse.duckdb import DuckDBWarehouse

NAMES = ["Ada", "Grace, Jr.", 'Quote "Q" Person', "Multi\nLine", "Zoë Ünïcode", " spaced "]


def generated_rows(seed: int, hires: int) -> dict[str, list[list[Any]]]:
    """Departments, jobs and hires with awkward text, made up from a seed (never sample files)."""
    rng = random.Random(seed)
    departments = [[i, f"{rng.choice(NAMES)} dept {i}"] for i in range(1, 13)]
    jobs = [[i, f"{rng.choice(NAMES)} job {i}"] for i in range(1, 31)]
    rows = [
        [
            i,
            f"{rng.choice(NAMES)} {i}",
            f"2021-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z",
            rng.randint(1, 12),
            rng.randint(1, 30),
        ]
        for i in range(1, hires + 1)
    ]
    return {"departments": departments, "jobs": jobs, "hired_employees": rows}


def load_rows(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings, data: dict[str, list[list[Any]]]
) -> None:
    for table, rows in data.items():
        for start in range(0, len(rows), batch.MAX_ROWS):
            page = rows[start : start + batch.MAX_ROWS]
            result = batch.insert_rows(s3, warehouse, settings, table, {"rows": page})
            assert result.rows_rejected == 0


def contents(warehouse: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {t: warehouse.execute(f'SELECT * FROM "{t}" ORDER BY id') for t in TABLE_NAMES}


@pytest.fixture
def loaded(s3: Any, warehouse: DuckDBWarehouse, settings: Settings) -> dict[str, list[Any]]:
    load_rows(s3, warehouse, settings, generated_rows(7, 150))
    return contents(warehouse)


def test_backup_wipe_restore_gives_back_every_row(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    load_rows(s3, warehouse, settings, generated_rows(11, 2500))
    loaded = contents(warehouse)
    made = backup.backup_table(s3, warehouse, settings, "all")
    assert {t: b.rows for t, b in made.tables.items()} == {t: len(r) for t, r in loaded.items()}
    for table in TABLE_NAMES:
        warehouse.execute(f'DELETE FROM "{table}"')
    assert all(not rows for rows in contents(warehouse).values())
    restored = restore.restore_table(
        s3, warehouse, settings, {"backup_id": made.backup_id, "table": "all"}
    )
    assert restored.tables == {t: len(r) for t, r in loaded.items()}
    assert restored.rows_restored == 2500 + 12 + 30
    after = contents(warehouse)
    for table in TABLE_NAMES:
        assert len(after[table]) == len(loaded[table])
        for before_row, after_row in zip(loaded[table], after[table], strict=True):
            assert after_row == before_row


def test_restore_replaces_rows_added_and_changed_since_the_backup(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings, loaded: dict[str, list[Any]]
) -> None:
    made = backup.backup_table(s3, warehouse, settings, "jobs")
    batch.insert_rows(s3, warehouse, settings, "jobs", {"rows": [[1, "changed"], [999, "new"]]})
    location = made.tables["jobs"].location
    restored = restore.restore_table(s3, warehouse, settings, {"s3_location": location})
    assert (restored.table, restored.rows_restored) == ("jobs", 30)
    assert contents(warehouse) == loaded


# One setup for all of these: each refusal must leave the tables as they were.
RESTORE_REFUSALS: list[tuple[dict[str, str], type[Exception], str]] = [
    ({"table": "jobs"}, InvalidRequestError, "give backup_id"),
    ({"backup_id": "nope", "table": "jobs"}, InvalidRequestError, "malformed backup id"),
    ({"backup_id": "{made}"}, InvalidRequestError, "table is required"),
    ({"backup_id": "{made}", "table": "payroll"}, InvalidRequestError, "unknown table"),
    (
        {"backup_id": "20200101T000000Z-0123456789ab", "table": "jobs"},
        BackupNotFoundError,
        "no backup with id",
    ),
    ({"backup_id": "{made}", "table": "departments"}, BackupNotFoundError, "no table"),
    (
        {"backup_id": "{made}", "s3_location": "{location}"},
        InvalidRequestError,
        "not both",
    ),
    (
        {"table": "departments", "s3_location": "{location}"},
        InvalidRequestError,
        "does not match",
    ),
    ({"s3_location": "s3://elsewhere/backups/x/jobs/"}, InvalidRequestError, "s3_location"),
]


def test_restore_refuses_bad_requests(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings, loaded: dict[str, list[Any]]
) -> None:
    made = backup.backup_table(s3, warehouse, settings, "jobs")
    for request_body, error, fragment in RESTORE_REFUSALS:
        filled = {
            k: v.replace("{made}", made.backup_id).replace(
                "{location}", made.tables["jobs"].location
            )
            for k, v in request_body.items()
        }
        with pytest.raises(error, match=fragment):
            restore.restore_table(s3, warehouse, settings, filled)
    assert contents(warehouse) == loaded


T = TypeVar("T")


@dataclass
class FailingWarehouse:
    """A DuckDB warehouse that fails the first statement starting with ``fail_on``."""

    inner: DuckDBWarehouse
    fail_on: str
    seen: list[str] = field(default_factory=list)

    @property
    def dialect(self) -> Dialect:
        return self.inner.dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.seen.append(sql)
        if sql.startswith(self.fail_on):
            raise PermanentWarehouseError(f"injected failure at {sql[:40]!r}")
        return self.inner.execute(sql, params)

    def copy_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        return self.inner.copy_from_s3(table, columns, manifest_uri)

    def copy_parquet_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        return self.inner.copy_parquet_from_s3(table, columns, manifest_uri)

    def unload_to_parquet(self, query: str, prefix_uri: str) -> UnloadResult:
        return self.inner.unload_to_parquet(query, prefix_uri)

    def transaction(self) -> AbstractContextManager[None]:
        return self.inner.transaction()

    def run_transaction(self, work: Callable[[], T], lock: Sequence[str] = ()) -> T:
        return self.inner.run_transaction(work, lock)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize(
    "fail_on",
    [
        'INSERT INTO "hired_employees"',  # after the DELETE: the table is empty at that moment
        'DELETE FROM "hired_employees"',
        'INSERT INTO "jobs"',  # a later table of an "all" restore fails after earlier swaps
    ],
)
def test_a_restore_that_fails_half_way_leaves_every_table_unchanged(
    s3: Any,
    warehouse: DuckDBWarehouse,
    settings: Settings,
    loaded: dict[str, list[Any]],
    fail_on: str,
) -> None:
    made = backup.backup_table(s3, warehouse, settings, "all")
    batch.insert_rows(s3, warehouse, settings, "jobs", {"rows": [[1, "since the backup"]]})
    batch.insert_rows(
        s3,
        warehouse,
        settings,
        "hired_employees",
        {"rows": [[5000, "New", "2022-01-01T00:00:00Z", 1, 1]]},
    )
    before = contents(warehouse)
    failing = FailingWarehouse(warehouse, fail_on)
    with pytest.raises(PermanentWarehouseError, match="injected failure"):
        restore.restore_table(s3, failing, settings, {"backup_id": made.backup_id, "table": "all"})
    assert any(sql.startswith('DELETE FROM "departments"') for sql in failing.seen)
    assert contents(warehouse) == before


def test_a_backup_whose_files_do_not_match_its_record_is_refused(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings, loaded: dict[str, list[Any]]
) -> None:
    made = backup.backup_table(s3, warehouse, settings, "jobs")
    batch.insert_rows(s3, warehouse, settings, "jobs", {"rows": [[100, "a"], [101, "b"]]})
    other = backup.backup_table(s3, warehouse, settings, "jobs")
    before = contents(warehouse)
    # Swap the first backup's files for the second's (32 rows, not 30), manifest and all.
    for name in ("0000_part_00.parquet", "manifest"):
        s3.copy_object(
            Bucket=settings.bucket,
            Key=keys.backup_prefix(made.backup_id, "jobs") + name,
            CopySource={
                "Bucket": settings.bucket,
                "Key": keys.backup_prefix(other.backup_id, "jobs") + name,
            },
        )
    request = {"backup_id": made.backup_id, "table": "jobs"}
    with pytest.raises(BackupMismatchError, match="manifest says 32 rows, the catalog 30"):
        restore.restore_table(s3, warehouse, settings, request)
    # Even a manifest that agrees with the catalog does not hide the files' true count.
    manifest_key = keys.backup_manifest_key(made.backup_id, "jobs")
    manifest = storage.get_json(s3, settings.bucket, manifest_key)
    manifest["meta"]["record_count"] = 30
    storage.put_json(s3, settings.bucket, manifest_key, manifest)
    with pytest.raises(BackupMismatchError, match="holds 32 rows, its record says 30"):
        restore.restore_table(s3, warehouse, settings, request)
    assert contents(warehouse) == before


def test_avro_export_holds_every_row_and_cannot_be_restored(
    s3: Any,
    warehouse: DuckDBWarehouse,
    settings: Settings,
    loaded: dict[str, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(avro, "AVRO_PAGE_ROWS", 37)  # many pages, the last one partial
    made = backup.backup_table(s3, warehouse, settings, "hired_employees", "avro")
    exported = made.tables["hired_employees"]
    assert (made.format, exported.rows) == ("avro", 150)
    bucket, key = keys.parse_s3_uri(exported.files[0])
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    records = list(fastavro.reader(io.BytesIO(body)))
    as_rows = [
        (
            r["id"],
            r["name"],
            r["datetime"].astimezone(UTC).replace(tzinfo=None),
            *list(r.values())[3:],
        )
        for r in records
    ]
    assert as_rows == loaded["hired_employees"]
    with pytest.raises(InvalidRequestError, match="AVRO export"):
        restore.restore_table(
            s3, warehouse, settings, {"backup_id": made.backup_id, "table": "hired_employees"}
        )


def test_backup_refuses_bad_requests(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    for table, fmt, fragment in [
        (None, None, "table is required"),
        ("payroll", None, "unknown table"),
        (["jobs"], None, "table is required"),
        ("jobs", "csv", "format must be one of parquet, avro"),
    ]:
        with pytest.raises(InvalidRequestError, match=fragment):
            backup.backup_table(s3, warehouse, settings, table, fmt)
    assert catalog.list_backups(s3, settings) == []


def test_the_catalog_lists_complete_backups_newest_first(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings, loaded: dict[str, list[Any]]
) -> None:
    made = [backup.backup_table(s3, warehouse, settings, t) for t in ("jobs", "departments", "all")]
    # Files of a backup that died before its record was written are not a backup.
    s3.put_object(
        Bucket=settings.bucket,
        Key="backups/29990101T000000Z-0123456789ab/jobs/manifest",
        Body=b"{}",
    )
    listed = catalog.list_backups(s3, settings)
    assert [b.backup_id for b in listed] == [m.backup_id for m in reversed(made)]
    assert listed[0] == made[-1]
    record = storage.get_json(s3, settings.bucket, keys.backup_record_key(made[0].backup_id))
    assert json.loads(json.dumps(made[0].to_json())) == record


def test_duckdb_copies_back_what_it_unloaded(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings, loaded: dict[str, list[Any]]
) -> None:
    unloaded = warehouse.unload_to_parquet(
        'SELECT "id", "job" FROM "jobs" ORDER BY "id"', f"s3://{settings.bucket}/backups/t/jobs/"
    )
    warehouse.execute('CREATE TEMP TABLE "copy_target" ("id" BIGINT, "job" VARCHAR)')
    copied = warehouse.copy_parquet_from_s3("copy_target", ["id", "job"], unloaded.manifest_uri)
    assert copied == unloaded.rows == 30
    assert warehouse.execute('SELECT * FROM "copy_target" ORDER BY "id"') == loaded["jobs"]
