"""The SQL of a load run as one Data API batch: no reads between its statements.

BatchExecuteStatement runs its statements in one transaction and returns nothing until it ends,
so the load's staging and superseded tables are ordinary per-upload tables (read after the commit,
then dropped), and the "already in the ledger" check is part of the SQL: a second run of the same
upload's batch merges nothing and records nothing. The batch takes no parameters, so the upload id
is written as a literal after its shape is checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib import keys
from chalicelib.warehouse.sql.ddl import (
    LEDGER_TABLE,
    create_staging,
    drop_table,
    lock,
    staging_columns,
)
from chalicelib.warehouse.sql.quoting import ident, string_literal
from chalicelib.warehouse.sql.s3io import copy_csv
from chalicelib.warehouse.sql.upsert import create_superseded, delete_superseded, merge

if TYPE_CHECKING:
    from datetime import datetime

    from chalicelib.tables import Table


def load_tables(table: Table, upload_id: str) -> tuple[str, str]:
    """The (staging, superseded) table names of one upload's load.

    >>> load_tables(get_table("jobs"), "20211126T031500Z-0123456789ab")
    ('jobs_load_20211126t031500z_0123456789ab', 'jobs_sup_20211126t031500z_0123456789ab')
    """
    suffix = keys.check_upload_id(upload_id).lower().replace("-", "_")
    return f"{table.name}_load_{suffix}", f"{table.name}_sup_{suffix}"


def _upload_literal(upload_id: str) -> str:
    return string_literal(keys.check_upload_id(upload_id))


def skip_if_loaded(staging: str, upload_id: str) -> str:
    """Empty staging when the ledger already holds the upload, so the MERGE after it is a no-op.

    >>> print(skip_if_loaded("jobs_load_x", "20211126T031500Z-0123456789ab"))
    DELETE FROM "jobs_load_x" WHERE EXISTS (SELECT 1 FROM "ingest_loads" WHERE "upload_id" = '20211126T031500Z-0123456789ab')
    """  # noqa: E501
    return (
        f"DELETE FROM {ident(staging)} WHERE EXISTS (SELECT 1 FROM {ident(LEDGER_TABLE)} "
        f'WHERE "upload_id" = {_upload_literal(upload_id)})'
    )


def ledger_insert_counted(
    table: Table, staging: str, superseded: str, upload_id: str, loaded_at: datetime
) -> str:
    """Record the upload in the ledger with the rows left in staging and the superseded count,
    unless it is there already.

    >>> print(ledger_insert_counted(get_table("jobs"), "s", "x", "20211126T031500Z-0123456789ab", datetime(2021, 1, 2, 3, 4, 5)))
    INSERT INTO "ingest_loads" ("upload_id", "table_name", "rows_loaded", "rows_superseded", "loaded_at") SELECT '20211126T031500Z-0123456789ab', 'jobs', c.n, (SELECT COUNT(*) FROM "x"), CAST('2021-01-02 03:04:05' AS TIMESTAMP) FROM (SELECT COUNT(*) AS n FROM "s") AS c WHERE NOT EXISTS (SELECT 1 FROM "ingest_loads" WHERE "upload_id" = '20211126T031500Z-0123456789ab')
    """  # noqa: E501
    uid, ledger = _upload_literal(upload_id), ident(LEDGER_TABLE)
    stamp = string_literal(loaded_at.strftime("%Y-%m-%d %H:%M:%S"))
    return (
        f'INSERT INTO {ledger} ("upload_id", "table_name", "rows_loaded", "rows_superseded", '
        f'"loaded_at") SELECT {uid}, {string_literal(table.name)}, c.n, '
        f"(SELECT COUNT(*) FROM {ident(superseded)}), CAST({stamp} AS TIMESTAMP) "
        f"FROM (SELECT COUNT(*) AS n FROM {ident(staging)}) AS c "
        f'WHERE NOT EXISTS (SELECT 1 FROM {ledger} WHERE "upload_id" = {uid})'
    )


def load_batch(
    table: Table, upload_id: str, manifest_uri: str | None, iam_role: str, loaded_at: datetime
) -> list[str]:
    """The statements of one upload's load, for one BatchExecuteStatement (one transaction).

    The lock comes first, as in the connector's transaction: a lock taken after the snapshot
    would not prevent the serialization conflict it is there for. The per-upload tables stay
    after the commit: the load reads the superseded pairs from them, then drops both. Without a
    manifest (no file holds a valid row) there is no COPY: Redshift's COPY fails when it finds
    no file, and the empty staging table records the upload with 0 rows.

    Raises:
        UnsafeIdentifierError: an unsafe location or role.
        InvalidRequestError: a malformed upload id.
    """
    staging, superseded = load_tables(table, upload_id)
    copy = (
        [copy_csv(staging, staging_columns(table), manifest_uri, iam_role)] if manifest_uri else []
    )
    return [
        lock([table.name, LEDGER_TABLE]),
        drop_table(staging),
        drop_table(superseded),
        create_staging(table, staging, "redshift", temporary=False),
        *copy,
        create_superseded(table, staging, superseded, temporary=False),
        skip_if_loaded(staging, upload_id),
        delete_superseded(staging, superseded),
        merge(table, staging),
        ledger_insert_counted(table, staging, superseded, upload_id, loaded_at),
    ]


def drop_load_tables(table: Table, upload_id: str) -> list[str]:
    """Drop one upload's staging and superseded tables (after its rejects file is written)."""
    return [drop_table(name) for name in load_tables(table, upload_id)]
