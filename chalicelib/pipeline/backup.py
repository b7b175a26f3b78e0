"""Backups of the target tables to S3, their catalog, and verified restores.

A backup UNLOADs each table to Parquet under ``backups/<backup_id>/<table>/`` (with a manifest
that records the row count), then writes the catalog entry ``backups/<backup_id>/backup.json``
last, so a listed backup is always complete. A restore COPYs one backup into a staging table,
checks its row count against the catalog and the manifest, and swaps it in with DELETE + INSERT
in the same transaction: on any failure the table is left as it was. AVRO exports
(``format=avro``) are written by this module itself, since Redshift cannot UNLOAD AVRO; they are
exports, not restorable backups. It does not load uploads or touch the load ledger.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import fastavro

from chalicelib import keys, storage
from chalicelib.errors import BackupMismatchError, BackupNotFoundError, InvalidRequestError
from chalicelib.tables import TABLE_NAMES, get_table
from chalicelib.warehouse import sql

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.tables import Table
    from chalicelib.warehouse import Warehouse

logger = logging.getLogger(__name__)

Format = Literal["parquet", "avro"]
FORMATS: tuple[Format, ...] = ("parquet", "avro")
ALL = "all"
# Rows read per query while writing an AVRO export, so a large table never sits in memory whole.
AVRO_PAGE_ROWS = 50_000
_AVRO_TYPES = {
    "integer": "long",
    "text": "string",
    "timestamp": {"type": "long", "logicalType": "timestamp-micros"},
}


@dataclass(frozen=True)
class TableBackup:
    """One table in a backup: its folder, its row count, its data files."""

    location: str
    rows: int
    files: tuple[str, ...]


@dataclass(frozen=True)
class Backup:
    """A catalog entry: every table a backup holds."""

    backup_id: str
    created_at: str
    format: Format
    tables: dict[str, TableBackup]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Backup:
        tables = {
            name: TableBackup(t["location"], int(t["rows"]), tuple(t["files"]))
            for name, t in data["tables"].items()
        }
        return cls(data["backup_id"], data["created_at"], data["format"], tables)


@dataclass(frozen=True)
class Restore:
    """What a restore put back, table by table."""

    backup_id: str
    table: str
    rows_restored: int
    tables: dict[str, int]


def parse_tables(value: Any) -> tuple[str, ...]:
    """The tables a request names: one table, or ``all`` for every table.

    Raises:
        InvalidRequestError: missing or unknown.
    """
    if value == ALL:
        return TABLE_NAMES
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"table is required: one of {', '.join(TABLE_NAMES)} or {ALL!r}", parameter="table"
        )
    return (get_table(value).name,)


def parse_format(value: Any) -> Format:
    """The backup format asked for (Parquet unless said otherwise).

    Raises:
        InvalidRequestError: not a known format.
    """
    if value is None or value == "":
        return "parquet"
    for known in FORMATS:
        if value == known:
            return known
    raise InvalidRequestError(
        f"format must be one of {', '.join(FORMATS)}, got {value!r}", parameter="format"
    )


def backup_table(
    s3: S3Client, warehouse: Warehouse, settings: Settings, table: Any, fmt: Any = None
) -> Backup:
    """Back up one table (or ``all``) to a new backup and record it in the catalog.

    Raises:
        InvalidRequestError: unknown table or format.
        WarehouseError: the warehouse failed the UNLOAD.
    """
    names = parse_tables(table)
    kind = parse_format(fmt)
    now = datetime.now(UTC)
    backup_id = keys.new_upload_id(now)
    bucket = settings.bucket
    started = time.monotonic()
    tables: dict[str, TableBackup] = {}
    # One transaction: every table is read from the same snapshot.
    with warehouse.transaction():
        for name in names:
            target = get_table(name)
            prefix = keys.backup_prefix(backup_id, name)
            if kind == "parquet":
                unloaded = warehouse.unload_to_parquet(
                    sql.select_all(target), keys.s3_uri(bucket, prefix)
                )
                files, rows = unloaded.files, unloaded.rows
            else:
                files, rows = _export_avro(s3, warehouse, bucket, target, prefix)
            tables[name] = TableBackup(keys.s3_uri(bucket, prefix), rows, files)
    # Milliseconds, so the catalog orders backups made within one second.
    created_at = f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"
    backup = Backup(backup_id, created_at, kind, tables)
    storage.put_json(s3, bucket, keys.backup_record_key(backup_id), backup.to_json())
    logger.info(
        "backup.created",
        extra={
            "backup_id": backup_id,
            "format": kind,
            "rows": {name: t.rows for name, t in tables.items()},
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    return backup


def _pages(warehouse: Warehouse, table: Table) -> Iterator[dict[str, Any]]:
    """Every row of ``table`` as a record, in key order, one page per query."""
    names = table.column_names
    key_index = names.index(table.primary_key)
    last = 0  # primary keys are at least 1 (the schemas say so)
    while True:
        page = warehouse.execute(sql.select_page(table, AVRO_PAGE_ROWS), [last])
        yield from (dict(zip(names, row, strict=True)) for row in page)
        if len(page) < AVRO_PAGE_ROWS:
            return
        last = page[-1][key_index]


def _export_avro(
    s3: S3Client, warehouse: Warehouse, bucket: str, table: Table, prefix: str
) -> tuple[tuple[str, ...], int]:
    """Write ``table`` as one AVRO file with a manifest like UNLOAD's; return (files, rows)."""
    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": table.name,
            "fields": [{"name": c.name, "type": _AVRO_TYPES[c.kind]} for c in table.columns],
        }
    )
    rows = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal rows
        for record in _pages(warehouse, table):
            rows += 1
            yield record

    key = f"{prefix}0000_part_00.avro"
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as out:
        fastavro.writer(out, schema, counted(), codec="deflate")
        size = out.tell()
        out.seek(0)
        s3.upload_fileobj(out, bucket, key, ExtraArgs={"ContentType": "application/avro"})
    meta = {"content_length": size, "record_count": rows}
    manifest = {"entries": [{"url": keys.s3_uri(bucket, key), "meta": meta}], "meta": meta}
    storage.put_json(s3, bucket, f"{prefix}{keys.BACKUP_MANIFEST}", manifest)
    return (keys.s3_uri(bucket, key),), rows


def list_backups(s3: S3Client, settings: Settings, limit: int = 100) -> list[Backup]:
    """The catalog, newest first (backup ids start with their creation time, to the second)."""
    ids = sorted(storage.list_folders(s3, settings.bucket, keys.BACKUPS), reverse=True)
    backups = []
    for backup_id in ids[:limit]:
        data = storage.get_json(s3, settings.bucket, keys.backup_record_key(backup_id))
        if data is not None:  # a backup still being written, or one that failed half way
            backups.append(Backup.from_json(data))
    return sorted(backups, key=lambda b: (b.created_at, b.backup_id), reverse=True)


def get_backup(s3: S3Client, settings: Settings, backup_id: str) -> Backup:
    """One catalog entry.

    Raises:
        InvalidRequestError: malformed id.
        BackupNotFoundError: no such backup.
    """
    keys.check_backup_id(backup_id)
    data = storage.get_json(s3, settings.bucket, keys.backup_record_key(backup_id))
    if data is None:
        raise BackupNotFoundError(f"no backup with id {backup_id!r}", backup_id=backup_id)
    return Backup.from_json(data)


def restore_table(
    s3: S3Client, warehouse: Warehouse, settings: Settings, request: Mapping[str, Any]
) -> Restore:
    """Replace a table (or ``all``) with its contents in a backup, verified, in one transaction.

    ``request`` holds ``table`` and either ``backup_id`` or ``s3_location`` (a backup folder of
    this deployment, as the catalog lists it).

    Raises:
        InvalidRequestError: missing or malformed fields, a location outside ``backups/``, or an
            AVRO export.
        BackupNotFoundError: no such backup, or it does not hold the table.
        BackupMismatchError: the backup's files do not hold the rows its record says.
        WarehouseError: the warehouse failed; nothing was changed.
    """
    backup_id, names = _restore_target(settings, request)
    backup = get_backup(s3, settings, backup_id)
    if backup.format != "parquet":
        raise InvalidRequestError(
            f"backup {backup_id} is an {backup.format.upper()} export; only Parquet backups "
            "can be restored",
            backup_id=backup_id,
        )
    if names == TABLE_NAMES:
        names = tuple(n for n in TABLE_NAMES if n in backup.tables)
    missing = [n for n in names if n not in backup.tables]
    if missing:
        raise BackupNotFoundError(f"backup {backup_id} holds no table {missing[0]!r}")
    started = time.monotonic()

    def swap_all() -> dict[str, int]:
        return {name: _swap_in(s3, warehouse, settings, backup, get_table(name)) for name in names}

    # One transaction for every table, each locked against loads while it is swapped.
    restored = warehouse.run_transaction(swap_all, lock=names)
    logger.info(
        "backup.restored",
        extra={
            "backup_id": backup_id,
            "rows": restored,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    label = names[0] if len(names) == 1 else ALL
    return Restore(backup_id, label, sum(restored.values()), restored)


def _restore_target(settings: Settings, request: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """(backup_id, tables) a restore request names.

    Raises:
        InvalidRequestError: see ``restore_table``.
    """
    table = request.get("table")
    location = request.get("s3_location")
    backup_id = request.get("backup_id")
    if location is not None and backup_id is not None:
        raise InvalidRequestError("give backup_id or s3_location, not both")
    if location is not None:
        backup_id, located = keys.parse_backup_location(location, settings.bucket)
        if table is not None and table != located:
            raise InvalidRequestError(
                f"table {table!r} does not match the backup folder of {located!r}",
                parameter="table",
            )
        return backup_id, (located,)
    if backup_id is None:
        raise InvalidRequestError("give backup_id (with table) or s3_location")
    return keys.check_backup_id(backup_id), parse_tables(table)


def _swap_in(
    s3: S3Client, warehouse: Warehouse, settings: Settings, backup: Backup, table: Table
) -> int:
    """Inside the caller's transaction: stage the backup, verify it, replace the table's rows."""
    expected = backup.tables[table.name].rows
    manifest_key = keys.backup_manifest_key(backup.backup_id, table.name)
    manifest = storage.get_json(s3, settings.bucket, manifest_key)
    if manifest is None:
        raise BackupNotFoundError(f"backup {backup.backup_id} has no manifest for {table.name}")
    recorded = int(manifest.get("meta", {}).get("record_count", -1))
    if recorded != expected:
        raise BackupMismatchError(
            f"backup {backup.backup_id}: the {table.name} manifest says {recorded} rows, "
            f"the catalog {expected}; nothing was restored"
        )
    staging = sql.staging_name(table, "restore")
    warehouse.execute(sql.drop_table(staging))
    warehouse.execute(sql.create_restore_staging(table, staging, warehouse.dialect))
    warehouse.copy_parquet_from_s3(
        staging, table.column_names, keys.s3_uri(settings.bucket, manifest_key)
    )
    staged = int(warehouse.execute(sql.count_rows(staging))[0][0])
    if staged != expected:
        raise BackupMismatchError(
            f"backup {backup.backup_id}: {table.name} holds {staged} rows, its record says "
            f"{expected}; nothing was restored"
        )
    warehouse.execute(sql.delete_all(table))
    warehouse.execute(sql.insert_from(table, staging))
    warehouse.execute(sql.drop_table(staging))
    return staged
