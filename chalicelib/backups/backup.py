"""Backups of the target tables to S3: UNLOAD to Parquet, then the catalog entry, last.

A backup UNLOADs each table to Parquet under ``backups/<backup_id>/<table>/`` (with a manifest
that records the row count), all from one transaction's snapshot, then writes the catalog entry
``backups/<backup_id>/backup.json`` last, so a listed backup is always complete. ``format=avro``
asks ``avro.py`` for an export instead. Restores live in ``restore.py``; this module does
not load uploads or touch the load ledger.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib import keys, storage
from chalicelib.backups import avro, catalog
from chalicelib.backups.catalog import Backup, TableBackup
from chalicelib.tables import get_table
from chalicelib.warehouse import sql

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.warehouse import Warehouse

logger = logging.getLogger(__name__)


def backup_table(
    s3: S3Client, warehouse: Warehouse, settings: Settings, table: Any, fmt: Any = None
) -> Backup:
    """Back up one table (or ``all``) to a new backup and record it in the catalog.

    Raises:
        InvalidRequestError: unknown table or format.
        WarehouseError: the warehouse failed the UNLOAD.
    """
    names = catalog.parse_tables(table)
    kind = catalog.parse_format(fmt)
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
                files, rows = avro.export_avro(s3, warehouse, bucket, target, prefix)
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
