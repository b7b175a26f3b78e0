"""Routes of backups: make one, list the catalog, restore one (and the seed's two aliases)."""

from __future__ import annotations

from dataclasses import replace

from chalicelib import providers
from chalicelib.api import bodies, openapi_requests
from chalicelib.api.routing import Operation, Reply, Routes
from chalicelib.backups import backup, catalog, restore

routes = Routes(__name__)

_BACKUP = Operation(
    "Back up one table, or all, to Parquet (or export AVRO)",
    Reply(201, catalog.Backup, "Written and recorded in the catalog"),
    body="BackupRequest",
    parameters=(openapi_requests.BACKUP_FORMAT,),
)
_RESTORE = Operation(
    "Replace a table with a backup's rows, verified, atomically",
    Reply(200, restore.Restore, "Restored; the row count matched the backup's record"),
    (400, (404, "No such backup, or it does not hold the table"), 422),
    body="RestoreRequest",
)


def _backup() -> catalog.Backup:
    given = bodies.params(routes.request, ("table", "format"))
    return backup.backup_table(
        providers.s3(),
        providers.warehouse(),
        providers.settings(),
        given.get("table"),
        given.get("format"),
    )


def _restore() -> restore.Restore:
    given = bodies.params(routes.request, ("backup_id", "table", "s3_location"))
    return restore.restore_table(providers.s3(), providers.warehouse(), providers.settings(), given)


@routes.post("/api/v1/backups", _BACKUP, any_content=True)
def create_backup() -> catalog.Backup:
    return _backup()


@routes.get(
    "/api/v1/backups",
    Operation("The backup catalog, newest first", Reply(200, catalog.BackupList, "Backups"), ()),
)
def list_backups() -> catalog.BackupList:
    return catalog.BackupList(catalog.list_backups(providers.s3(), providers.settings()))


@routes.post("/api/v1/restores", _RESTORE, any_content=True)
def create_restore() -> restore.Restore:
    return _restore()


# The original service's backup routes, kept for its clients: the same work as the two above.
@routes.post(
    "/api/v1/create_backup",
    replace(
        _BACKUP,
        summary="Seed-compatible POST /api/v1/backups (table in body or query)",
        parameters=(openapi_requests.BACKUP_FORMAT, openapi_requests.BACKUP_TABLE),
        body_required=False,
    ),
    any_content=True,
)
def create_backup_seed() -> catalog.Backup:
    return _backup()


@routes.post(
    "/api/v1/upload_parquet_backup",
    replace(_RESTORE, summary="Seed-compatible POST /api/v1/restores (table, s3_location)"),
    any_content=True,
)
def upload_parquet_backup() -> restore.Restore:
    return _restore()
