"""The SQL of tables: target tables, the load ledger, staging tables and plain row moves.

Column types, order and the Redshift layout (DISTSTYLE/SORTKEY) come from the table's schema
(``chalicelib.tables``). Nothing here talks to a database, so every statement can be tested as a
string; where DuckDB and Redshift differ, a builder takes the dialect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.errors import UnsafeIdentifierError
from chalicelib.warehouse.sql.quoting import Dialect, ident

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chalicelib.tables import Column, Table


LEDGER_TABLE = "ingest_loads"
SOURCE_ROW = "source_row"


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


def column_list(table: Table, prefix: str = "") -> str:
    return ", ".join(f"{prefix}{ident(c)}" for c in table.column_names)


def redshift_layout(table: Table) -> str:
    """Distribution and sort keys, derived from the schema rather than from table names.

    A table with a timestamp column is a fact table: spread evenly by its primary key (MERGE
    joins on it) and sorted by its first timestamp, which the reports filter on. A table without
    one is a small lookup table: copied to every node, since the reports join it to the facts.
    """
    pk = ident(table.primary_key)
    times = [c.name for c in table.columns if c.kind == "timestamp"]
    if times:
        return f"DISTSTYLE KEY DISTKEY ({pk}) SORTKEY ({ident(times[0])})"
    return f"DISTSTYLE ALL SORTKEY ({pk})"


def create_table(table: Table, dialect: Dialect) -> str:
    """DDL for a target table; on Redshift it declares the primary key and the layout.

    Redshift does not enforce primary keys (the planner uses them); the load keeps ids unique by
    de-duplicating and merging. DuckDB would enforce one with an in-memory index that grows with
    the table (10M rows do not fit a 256 MB handler), so it stands in for Redshift without it.

    >>> create_table(get_table("jobs"), "duckdb")
    'CREATE TABLE IF NOT EXISTS "jobs" ("id" BIGINT NOT NULL, "job" VARCHAR NOT NULL)'
    """
    if dialect != "redshift":
        return f"CREATE TABLE IF NOT EXISTS {ident(table.name)} ({_column_defs(table, dialect)})"
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {ident(table.name)} ({_column_defs(table, dialect)}, "
        f"PRIMARY KEY ({ident(table.primary_key)}))"
    )
    return f"{ddl} {redshift_layout(table)}"


def create_ledger(dialect: Dialect = "duckdb") -> str:
    """DDL for the load ledger: one row per upload ever loaded, written in the load's transaction.

    On Redshift it is small and read by every load, so each node holds a copy.
    """
    ddl = (
        f"CREATE TABLE IF NOT EXISTS {ident(LEDGER_TABLE)} ("
        '"upload_id" VARCHAR(64) NOT NULL, "table_name" VARCHAR(64) NOT NULL, '
        '"rows_loaded" BIGINT NOT NULL, "rows_superseded" BIGINT NOT NULL, '
        '"loaded_at" TIMESTAMP NOT NULL, PRIMARY KEY ("upload_id"))'
    )
    return f'{ddl} DISTSTYLE ALL SORTKEY ("upload_id")' if dialect == "redshift" else ddl


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


def lock(names: Sequence[str]) -> str:
    """Redshift's exclusive lock on ``names``: it waits until their other writers commit.

    >>> lock(["jobs", "ingest_loads"])
    'LOCK "jobs", "ingest_loads"'

    Raises:
        UnsafeIdentifierError: no names, or an unsafe one.
    """
    if not names:
        raise UnsafeIdentifierError("LOCK needs at least one table")
    return "LOCK " + ", ".join(ident(n) for n in names)


def staging_name(table: Table, role: str) -> str:
    return f"{table.name}_{role}"


def drop_table(name: str) -> str:
    return f"DROP TABLE IF EXISTS {ident(name)}"


def create_staging(table: Table, name: str, dialect: Dialect, *, temporary: bool = True) -> str:
    """A temp table with the target's columns plus the row number each row came from (an
    ordinary table with ``temporary=False``: the Data API load reads it after its commit)."""
    kind = "TEMP TABLE" if temporary else "TABLE"
    return (
        f"CREATE {kind} {ident(name)} ({_column_defs(table, dialect)}, "
        f"{ident(SOURCE_ROW)} BIGINT NOT NULL)"
    )


def create_restore_staging(table: Table, name: str, dialect: Dialect) -> str:
    """A temp table with exactly the target's columns, in order: what a backup holds."""
    return f"CREATE TEMP TABLE {ident(name)} ({_column_defs(table, dialect)})"


def staging_columns(table: Table) -> list[str]:
    return [*table.column_names, SOURCE_ROW]


def count_rows(name: str) -> str:
    return f"SELECT COUNT(*) FROM {ident(name)}"


def select_all(table: Table) -> str:
    """Every row of a table, in primary-key order."""
    return (
        f"SELECT {column_list(table)} FROM {ident(table.name)} ORDER BY {ident(table.primary_key)}"
    )


def delete_all(table: Table) -> str:
    """Empty a table inside a transaction (Redshift's TRUNCATE would commit on its own)."""
    return f"DELETE FROM {ident(table.name)}"


def insert_from(table: Table, source: str) -> str:
    """Copy every row of ``source`` (same columns) into the table."""
    cols = column_list(table)
    return f"INSERT INTO {ident(table.name)} ({cols}) SELECT {cols} FROM {ident(source)}"


def select_page(table: Table, limit: int) -> str:
    """The next ``limit`` rows after a primary key value (the one ``?``), in key order."""
    pk = ident(table.primary_key)
    return (
        f"SELECT {column_list(table)} FROM {ident(table.name)} WHERE {pk} > ? "
        f"ORDER BY {pk} LIMIT {int(limit)}"
    )
