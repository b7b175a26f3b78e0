"""Restores: replace a table's rows with a backup's, verified, in one transaction.

A restore COPYs one Parquet backup into a staging table, checks its row count against the
catalog and the manifest, and swaps it in with DELETE + INSERT in the same transaction: on any
failure the table is left as it was. It reads the catalog (``catalog.py``) and never
writes backups.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import keys, storage
from chalicelib.backups import catalog
from chalicelib.backups.catalog import TableOrAll  # noqa: TC001 - read by schema_gen
from chalicelib.errors import BackupMismatchError, BackupNotFoundError, InvalidRequestError
from chalicelib.tables import TABLE_NAMES, TableName, get_table
from chalicelib.warehouse import sql

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_s3 import S3Client

    from chalicelib.backups.catalog import Backup
    from chalicelib.config import Settings
    from chalicelib.tables import Table
    from chalicelib.warehouse import Warehouse

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Restore:
    """What a restore put back, table by table."""

    backup_id: str
    table: TableOrAll
    rows_restored: int
    tables: dict[TableName, int]


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
    backup = catalog.get_backup(s3, settings, backup_id)
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
    label = names[0] if len(names) == 1 else catalog.ALL
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
    return keys.check_backup_id(backup_id), catalog.parse_tables(table)


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
