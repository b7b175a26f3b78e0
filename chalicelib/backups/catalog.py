"""The backup catalog: what a backup holds, and reading it back.

A backup's catalog entry ``backups/<backup_id>/backup.json`` is written last, so a listed backup
is always complete. This module parses what requests name (tables, format) and reads entries; it
neither writes backups (``backup.py``) nor restores them (``restore.py``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from chalicelib import keys, storage
from chalicelib.errors import BackupNotFoundError, InvalidRequestError
from chalicelib.tables import TABLE_NAMES, TableName, get_table

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings

logger = logging.getLogger(__name__)


Format = Literal["parquet", "avro"]


FORMATS: tuple[Format, ...] = ("parquet", "avro")


ALL = "all"
# What a request or a restore names: one table, or every table.
TableOrAll = Annotated[str, (*TABLE_NAMES, ALL)]


@dataclass(frozen=True)
class TableBackup:
    """One table in a backup: its folder, its row count, its data files."""

    location: Annotated[str, "s3://<bucket>/backups/<backup_id>/<table>/"]
    rows: int
    files: tuple[str, ...]


@dataclass(frozen=True)
class Backup:
    """A catalog entry: every table a backup holds."""

    backup_id: str
    created_at: str
    format: Format
    tables: dict[TableName, TableBackup]

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
class BackupList:
    """The backup catalog, newest first."""

    backups: list[Backup]


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
