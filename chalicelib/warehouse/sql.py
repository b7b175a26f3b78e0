"""Pure functions that build SQL text for the warehouse adapters.

Nothing here talks to a database, so every statement can be tested as a string. Identifiers go
through ``ident()``, which refuses anything outside ``[A-Za-z0-9_]``; values are always passed as
``?`` parameters. Where DuckDB and Redshift differ, a builder takes the dialect.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from chalicelib.errors import IngestError

if TYPE_CHECKING:
    from chalicelib.tables import Column, Table

Dialect = Literal["duckdb", "redshift"]

LEDGER_TABLE = "ingest_loads"
SOURCE_ROW = "source_row"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,126}$")


class UnsafeIdentifierError(IngestError):
    """An identifier would have to be quoted; only plain names reach SQL."""


def ident(name: str) -> str:
    """Return ``name`` quoted as an identifier.

    Raises:
        UnsafeIdentifierError: ``name`` has characters outside ``[A-Za-z0-9_]``.
    """
    if not isinstance(name, str) or not _IDENT.match(name):
        raise UnsafeIdentifierError(f"unsafe SQL identifier {name!r}")
    return f'"{name}"'


def column_type(column: Column, dialect: Dialect) -> str:
    if column.kind == "integer":
        return "BIGINT"
    if column.kind == "timestamp":
        return "TIMESTAMP"
    if dialect == "redshift":
        # Redshift VARCHAR lengths are bytes, not characters: allow 4 bytes per UTF-8 character.
        return f"VARCHAR({min(4 * (column.max_length or 256), 65535)})"
    return "VARCHAR"


def _column_defs(table: Table, dialect: Dialect) -> str:
    return ", ".join(f"{ident(c.name)} {column_type(c, dialect)} NOT NULL" for c in table.columns)


def _columns(table: Table, prefix: str = "") -> str:
    return ", ".join(f"{prefix}{ident(c)}" for c in table.column_names)


def create_table(table: Table, dialect: Dialect) -> str:
    """DDL for a target table; on Redshift it declares the primary key.

    Redshift does not enforce primary keys (the planner uses them); the load keeps ids unique by
    de-duplicating and merging. DuckDB would enforce one with an in-memory index that grows with
    the table (10M rows do not fit a 256 MB handler), so it stands in for Redshift without it.

    >>> create_table(get_table("jobs"), "duckdb")
    'CREATE TABLE IF NOT EXISTS "jobs" ("id" BIGINT NOT NULL, "job" VARCHAR NOT NULL)'
    >>> create_table(get_table("jobs"), "redshift")
    'CREATE TABLE IF NOT EXISTS "jobs" ("id" BIGINT NOT NULL, "job" VARCHAR(1024) NOT NULL, PRIMARY KEY ("id"))'
    """
    key = f", PRIMARY KEY ({ident(table.primary_key)})" if dialect == "redshift" else ""
    return f"CREATE TABLE IF NOT EXISTS {ident(table.name)} ({_column_defs(table, dialect)}{key})"


def create_ledger() -> str:
    """DDL for the load ledger: one row per loaded upload, written in the load's transaction."""
    return (
        f"CREATE TABLE IF NOT EXISTS {ident(LEDGER_TABLE)} ("
        '"upload_id" VARCHAR(64) NOT NULL, "table_name" VARCHAR(64) NOT NULL, '
        '"rows_loaded" BIGINT NOT NULL, "rows_superseded" BIGINT NOT NULL, '
        '"loaded_at" TIMESTAMP NOT NULL, PRIMARY KEY ("upload_id"))'
    )


def ledger_lookup() -> str:
    return (
        f'SELECT "rows_loaded", "rows_superseded" FROM {ident(LEDGER_TABLE)} WHERE "upload_id" = ?'
    )


def ledger_insert() -> str:
    return (
        f"INSERT INTO {ident(LEDGER_TABLE)} "
        '("upload_id", "table_name", "rows_loaded", "rows_superseded", "loaded_at") '
        "VALUES (?, ?, ?, ?, ?)"
    )


def staging_name(table: Table, role: str) -> str:
    return f"{table.name}_{role}"


def drop_table(name: str) -> str:
    return f"DROP TABLE IF EXISTS {ident(name)}"


def create_staging(table: Table, name: str, dialect: Dialect) -> str:
    """A temp table with the target's columns plus the row number each row came from."""
    return (
        f"CREATE TEMP TABLE {ident(name)} ({_column_defs(table, dialect)}, "
        f"{ident(SOURCE_ROW)} BIGINT NOT NULL)"
    )


def staging_columns(table: Table) -> list[str]:
    return [*table.column_names, SOURCE_ROW]


def superseded_rows(table: Table, staging: str) -> str:
    """Rows whose id appears again later in the same upload: (row, the row that wins)."""
    pk, row = ident(table.primary_key), ident(SOURCE_ROW)
    return (
        f"SELECT {row}, winner FROM (SELECT {row}, MAX({row}) OVER (PARTITION BY {pk}) AS winner "
        f"FROM {ident(staging)}) AS t WHERE {row} < winner ORDER BY {row}"
    )


def create_deduplicated(table: Table, staging: str, name: str) -> str:
    """A temp table holding, for each id, only the last row of the upload (the last row wins)."""
    pk, row = ident(table.primary_key), ident(SOURCE_ROW)
    cols = _columns(table)
    return (
        f"CREATE TEMP TABLE {ident(name)} AS SELECT {cols} FROM (SELECT {cols}, "
        f"ROW_NUMBER() OVER (PARTITION BY {pk} ORDER BY {row} DESC) AS rn "
        f"FROM {ident(staging)}) AS t WHERE rn = 1"
    )


def merge(table: Table, source: str) -> str:
    """Upsert ``source`` into the table by primary key.

    >>> merge(get_table("jobs"), "jobs_dedup")
    'MERGE INTO "jobs" USING "jobs_dedup" AS s ON "jobs"."id" = s."id" WHEN MATCHED THEN UPDATE SET "job" = s."job" WHEN NOT MATCHED THEN INSERT ("id", "job") VALUES (s."id", s."job")'
    """
    target, pk = ident(table.name), ident(table.primary_key)
    updates = ", ".join(
        f"{ident(c)} = s.{ident(c)}" for c in table.column_names if c != table.primary_key
    )
    return (
        f"MERGE INTO {target} USING {ident(source)} AS s ON {target}.{pk} = s.{pk} "
        f"WHEN MATCHED THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({_columns(table)}) VALUES ({_columns(table, 's.')})"
    )


def count_rows(name: str) -> str:
    return f"SELECT COUNT(*) FROM {ident(name)}"


def select_all(table: Table) -> str:
    """Every row of a table, in primary-key order."""
    return f"SELECT {_columns(table)} FROM {ident(table.name)} ORDER BY {ident(table.primary_key)}"


_HIRES_IN_YEAR = (
    'FROM "hired_employees" h JOIN "departments" d ON d."id" = h."department_id" '
    'JOIN "jobs" j ON j."id" = h."job_id" '
    'WHERE h."datetime" >= ? AND h."datetime" < ?'
)


def hires_by_quarter() -> str:
    """Hires per department and job in [start, end), one column per calendar quarter."""
    quarters = ", ".join(
        f'SUM(CASE WHEN EXTRACT(QUARTER FROM h."datetime") = {q} THEN 1 ELSE 0 END) AS q{q}'
        for q in range(1, 5)
    )
    return (
        f'SELECT d."department", j."job", {quarters} {_HIRES_IN_YEAR} '
        'GROUP BY d."department", j."job" ORDER BY d."department", j."job"'
    )


def hires_per_department() -> str:
    """Hires per department in [start, end), for departments with at least one hire."""
    return (
        f'SELECT d."id", d."department", COUNT(*) AS hired {_HIRES_IN_YEAR} '
        'GROUP BY d."id", d."department"'
    )


def departments_above_mean() -> str:
    """Departments that hired more than the mean of departments with at least one hire."""
    return (
        f"WITH per_dept AS ({hires_per_department()}) "
        'SELECT p."id", p."department", p.hired, m.mean FROM per_dept p '
        "CROSS JOIN (SELECT AVG(CAST(hired AS DOUBLE PRECISION)) AS mean FROM per_dept) m "
        'WHERE p.hired > m.mean ORDER BY p.hired DESC, p."department"'
    )


def mean_hires_per_department() -> str:
    return (
        f"SELECT AVG(CAST(hired AS DOUBLE PRECISION)) FROM ({hires_per_department()}) AS per_dept"
    )
