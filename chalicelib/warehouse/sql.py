"""Pure functions that build SQL text for the warehouse adapters.

Nothing here talks to a database, so every statement can be tested as a string. Identifiers go
through ``ident()``, which refuses anything outside ``[A-Za-z0-9_]``; values are always passed as
``?`` parameters, except in Redshift COPY/UNLOAD, which take none: their S3 locations and role
ARNs are checked against a strict pattern instead. Where DuckDB and Redshift differ, a builder
takes the dialect.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from chalicelib.errors import UnsafeIdentifierError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from chalicelib.tables import Column, Table

Dialect = Literal["duckdb", "redshift"]

LEDGER_TABLE = "ingest_loads"
SOURCE_ROW = "source_row"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,126}\Z")
# Characters that can neither end nor escape a string literal: bucket names, our key layout, and
# the characters IAM allows in role names.
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.*()/=+-]*$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
# Cleaned chunks hold timestamps as their validated ISO 8601 text ('2021-07-27T16:02:08Z'). A
# TIMEFORMAT string cannot hold the 'T' and the zone designator; 'auto' recognises ISO 8601
# (docs: automatic-recognition.html, r_DATEFORMAT_and_TIMEFORMAT_strings.html).
COPY_TIMEFORMAT = "auto"
# UNLOAD's MAXFILESIZE in MB (Redshift accepts 5 MB to 6.2 GB): small enough that a restore in a
# Lambda can fetch one file at a time into /tmp.
UNLOAD_MAX_FILE_MB = 256


def ident(name: str) -> str:
    """Return ``name`` quoted as an identifier.

    Raises:
        UnsafeIdentifierError: ``name`` has characters outside ``[A-Za-z0-9_]``.
    """
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise UnsafeIdentifierError(f"unsafe SQL identifier {name!r}")
    return f'"{name}"'


def string_literal(text: str) -> str:
    """``text`` as a Redshift string literal.

    Redshift treats a backslash inside a literal as an escape, so backslashes are doubled as
    well as quotes (what its QUOTE_LITERAL function does).

    >>> string_literal("it's")
    "'it''s'"
    """
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def s3_literal(uri: str) -> str:
    """``uri`` as a string literal for COPY/UNLOAD.

    Raises:
        UnsafeIdentifierError: not a plain ``s3://bucket/key`` location.
    """
    if not isinstance(uri, str) or not _S3_URI.fullmatch(uri):
        raise UnsafeIdentifierError(f"unsafe S3 location {uri!r}")
    return f"'{uri}'"


def role_literal(arn: str) -> str:
    """An IAM role ARN as a string literal for ``IAM_ROLE``.

    Raises:
        UnsafeIdentifierError: not an IAM role ARN.
    """
    if not isinstance(arn, str) or not _ROLE_ARN.fullmatch(arn):
        raise UnsafeIdentifierError(f"not an IAM role ARN: {arn!r}")
    return f"'{arn}'"


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


def create_staging(table: Table, name: str, dialect: Dialect) -> str:
    """A temp table with the target's columns plus the row number each row came from."""
    return (
        f"CREATE TEMP TABLE {ident(name)} ({_column_defs(table, dialect)}, "
        f"{ident(SOURCE_ROW)} BIGINT NOT NULL)"
    )


def create_restore_staging(table: Table, name: str, dialect: Dialect) -> str:
    """A temp table with exactly the target's columns, in order: what a backup holds."""
    return f"CREATE TEMP TABLE {ident(name)} ({_column_defs(table, dialect)})"


def staging_columns(table: Table) -> list[str]:
    return [*table.column_names, SOURCE_ROW]


def create_superseded(table: Table, staging: str, name: str) -> str:
    """A temp table of the staged rows that a later row with the same id replaces (the last row
    wins): (source row, the row that wins).

    One hash aggregate finds the ids that repeat and only their rows are joined back: nothing is
    sorted, and an upload without repeated ids leaves the table empty.

    >>> print(create_superseded(get_table("jobs"), "jobs_staging", "jobs_superseded"))
    CREATE TEMP TABLE "jobs_superseded" AS SELECT s."source_row", d.winner FROM "jobs_staging" AS s JOIN (SELECT "id", MAX("source_row") AS winner FROM "jobs_staging" GROUP BY "id" HAVING COUNT(*) > 1) AS d ON s."id" = d."id" WHERE s."source_row" < d.winner
    """  # noqa: E501
    pk, row, source = ident(table.primary_key), ident(SOURCE_ROW), ident(staging)
    return (
        f"CREATE TEMP TABLE {ident(name)} AS SELECT s.{row}, d.winner FROM {source} AS s "
        f"JOIN (SELECT {pk}, MAX({row}) AS winner FROM {source} GROUP BY {pk} "
        f"HAVING COUNT(*) > 1) AS d ON s.{pk} = d.{pk} WHERE s.{row} < d.winner"
    )


def superseded_rows(superseded: str) -> str:
    """The (row, winning row) pairs of a table made by ``create_superseded``, in row order."""
    row = ident(SOURCE_ROW)
    return f"SELECT {row}, winner FROM {ident(superseded)} ORDER BY {row}"


def delete_superseded(staging: str, superseded: str) -> str:
    """Drop the superseded rows from staging, leaving one row per id.

    >>> print(delete_superseded("jobs_staging", "jobs_superseded"))
    DELETE FROM "jobs_staging" USING "jobs_superseded" WHERE "jobs_staging"."source_row" = "jobs_superseded"."source_row"
    """  # noqa: E501
    source, other, row = ident(staging), ident(superseded), ident(SOURCE_ROW)
    return f"DELETE FROM {source} USING {other} WHERE {source}.{row} = {other}.{row}"


def merge(table: Table, source: str) -> str:
    """Upsert ``source`` into the table by primary key (the same text runs on both engines).

    >>> merge(get_table("jobs"), "jobs_staging")
    'MERGE INTO "jobs" USING "jobs_staging" AS s ON "jobs"."id" = s."id" WHEN MATCHED THEN UPDATE SET "job" = s."job" WHEN NOT MATCHED THEN INSERT ("id", "job") VALUES (s."id", s."job")'
    """  # noqa: E501
    return _merge(table, ident(source))


def _merge(table: Table, source: str) -> str:
    target, pk = ident(table.name), ident(table.primary_key)
    updates = ", ".join(
        f"{ident(c)} = s.{ident(c)}" for c in table.column_names if c != table.primary_key
    )
    return (
        f"MERGE INTO {target} USING {source} AS s ON {target}.{pk} = s.{pk} "
        f"WHEN MATCHED THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({_columns(table)}) VALUES ({_columns(table, 's.')})"
    )


def merge_staged(table: Table, staging: str, superseded: str | None, dialect: Dialect) -> list[str]:
    """The statements that upsert the staged rows, less those in ``superseded`` (a table made by
    ``create_superseded``, or None when it is empty), into the table.

    Redshift's MERGE reads only a table, so there the superseded rows are deleted from staging
    first. DuckDB merges from an anti-join instead: after a DELETE, a large staging table made in
    the same transaction stays pinned in memory and the MERGE fails at the memory limit.

    >>> merge_staged(get_table("jobs"), "jobs_staging", None, "duckdb") == [merge(get_table("jobs"), "jobs_staging")]
    True
    """  # noqa: E501
    if superseded is None:
        return [merge(table, staging)]
    if dialect == "redshift":
        return [delete_superseded(staging, superseded), merge(table, staging)]
    row = ident(SOURCE_ROW)
    source = (
        f"(SELECT {_columns(table)} FROM {ident(staging)} AS t WHERE NOT EXISTS "
        f"(SELECT 1 FROM {ident(superseded)} AS x WHERE x.{row} = t.{row}))"
    )
    return [_merge(table, source)]


def copy_csv(table: str, columns: Sequence[str], manifest_uri: str, iam_role: str) -> str:
    """Redshift COPY of the headerless CSV files a manifest lists, into explicit columns.

    Staging tables are temporary and loaded once, so compression analysis and statistics
    (COMPUPDATE, STATUPDATE) would only slow the load.

    >>> print(copy_csv("t", ["id"], "s3://bkt/m.json", "arn:aws:iam::123456789012:role/r"))
    COPY "t" ("id") FROM 's3://bkt/m.json' IAM_ROLE 'arn:aws:iam::123456789012:role/r' MANIFEST FORMAT AS CSV TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF

    Raises:
        UnsafeIdentifierError: an unsafe name, location or role.
    """  # noqa: E501
    cols = ", ".join(ident(c) for c in columns)
    return (
        f"COPY {ident(table)} ({cols}) FROM {s3_literal(manifest_uri)} "
        f"IAM_ROLE {role_literal(iam_role)} MANIFEST FORMAT AS CSV "
        f"TIMEFORMAT {string_literal(COPY_TIMEFORMAT)} COMPUPDATE OFF STATUPDATE OFF"
    )


def unload_parquet(
    query: str, prefix_uri: str, iam_role: str, max_file_mb: int = UNLOAD_MAX_FILE_MB
) -> str:
    """Redshift UNLOAD of ``query`` to Parquet files under ``prefix_uri``, plus a manifest.

    UNLOAD takes its query as a string literal, so the query is quoted here; it must still be
    built by this module. ALLOWOVERWRITE lets a retried backup reuse its prefix; MANIFEST VERBOSE
    records each file's size and row count, which a Parquet COPY needs and restore checks.

    >>> unload_parquet("SELECT 'a'", "s3://bkt/p/", "arn:aws:iam::123456789012:role/r")
    "UNLOAD ('SELECT ''a''') TO 's3://bkt/p/' IAM_ROLE 'arn:aws:iam::123456789012:role/r' FORMAT AS PARQUET MANIFEST VERBOSE ALLOWOVERWRITE MAXFILESIZE 256 MB"

    Raises:
        UnsafeIdentifierError: an unsafe location or role, or a prefix without a trailing '/'.
    """  # noqa: E501
    if not isinstance(prefix_uri, str) or not prefix_uri.endswith("/"):
        raise UnsafeIdentifierError(f"UNLOAD prefix must end with '/': {prefix_uri!r}")
    return (
        f"UNLOAD ({string_literal(query)}) TO {s3_literal(prefix_uri)} "
        f"IAM_ROLE {role_literal(iam_role)} FORMAT AS PARQUET MANIFEST VERBOSE ALLOWOVERWRITE "
        f"MAXFILESIZE {int(max_file_mb)} MB"
    )


def last_copy_count() -> str:
    """Rows loaded by the session's last COPY."""
    return "SELECT pg_last_copy_count()"


def load_errors(by: Literal["query", "session"] = "query") -> str:
    """Where and why a failed COPY failed, from SYS_LOAD_ERROR_DETAIL (provisioned and
    Serverless): by the COPY's query id (the one ``?``; Redshift names it in the error's DETAIL),
    or else the latest failed COPY of this session. Not ``pg_last_copy_id()``: a failed or
    rolled-back COPY does not update it, so it names an earlier load or none. The raw line and
    field value are user data and are not read.

    >>> print(load_errors())
    SELECT TRIM(file_name), line_number, TRIM(column_name), error_code, TRIM(error_message) FROM sys_load_error_detail WHERE query_id = ? ORDER BY line_number LIMIT 5
    """
    match = (
        "query_id = ?"
        if by == "query"
        else "query_id = (SELECT MAX(query_id) FROM sys_load_error_detail "
        "WHERE session_id = pg_backend_pid())"
    )
    return (
        "SELECT TRIM(file_name), line_number, TRIM(column_name), error_code, "
        f"TRIM(error_message) FROM sys_load_error_detail WHERE {match} "
        "ORDER BY line_number LIMIT 5"
    )


def load_errors_stl(by: Literal["query", "session"] = "query") -> str:
    """The same from STL_LOAD_ERRORS (provisioned clusters only; Serverless has no STL)."""
    match = (
        "query = ?"
        if by == "query"
        else "query = (SELECT MAX(query) FROM stl_load_errors WHERE session = pg_backend_pid())"
    )
    return (
        "SELECT TRIM(filename), line_number, TRIM(colname), err_code, TRIM(err_reason) "
        f"FROM stl_load_errors WHERE {match} ORDER BY line_number LIMIT 5"
    )


def count_rows(name: str) -> str:
    return f"SELECT COUNT(*) FROM {ident(name)}"


def select_all(table: Table) -> str:
    """Every row of a table, in primary-key order."""
    return f"SELECT {_columns(table)} FROM {ident(table.name)} ORDER BY {ident(table.primary_key)}"


def copy_parquet(
    name: str,
    columns: Sequence[str],
    manifest_uri: str,
    dialect: Dialect,
    iam_role: str | None = None,
) -> str:
    """Load Parquet files into table ``name``.

    Redshift reads the manifest itself, with the cluster's IAM role. COPY from Parquet maps
    columns by position and takes no column list, so ``columns`` must be the table's columns in
    order (https://docs.aws.amazon.com/redshift/latest/dg/copy-usage_notes-copy-from-columnar.html).
    DuckDB gets the list of downloaded files as the one ``?`` parameter.

    >>> print(copy_parquet("jobs_restore", ["id", "job"], "s3://bkt/backups/x/jobs/manifest", "redshift", "arn:aws:iam::123456789012:role/r"))
    COPY "jobs_restore" FROM 's3://bkt/backups/x/jobs/manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/r' FORMAT AS PARQUET MANIFEST
    >>> print(copy_parquet("jobs_restore", ["id", "job"], "s3://b/backups/x/jobs/manifest", "duckdb"))
    INSERT INTO "jobs_restore" ("id", "job") SELECT "id", "job" FROM read_parquet(?)
    """
    if dialect == "redshift":
        if not iam_role:
            raise UnsafeIdentifierError("COPY from Parquet on Redshift needs an IAM role")
        return (
            f"COPY {ident(name)} FROM {s3_literal(manifest_uri)} "
            f"IAM_ROLE {role_literal(iam_role)} FORMAT AS PARQUET MANIFEST"
        )
    cols = ", ".join(ident(c) for c in columns)
    return f"INSERT INTO {ident(name)} ({cols}) SELECT {cols} FROM read_parquet(?)"


def delete_all(table: Table) -> str:
    """Empty a table inside a transaction (Redshift's TRUNCATE would commit on its own)."""
    return f"DELETE FROM {ident(table.name)}"


def insert_from(table: Table, source: str) -> str:
    """Copy every row of ``source`` (same columns) into the table."""
    cols = _columns(table)
    return f"INSERT INTO {ident(table.name)} ({cols}) SELECT {cols} FROM {ident(source)}"


def select_page(table: Table, limit: int) -> str:
    """The next ``limit`` rows after a primary key value (the one ``?``), in key order."""
    pk = ident(table.primary_key)
    return (
        f"SELECT {_columns(table)} FROM {ident(table.name)} WHERE {pk} > ? "
        f"ORDER BY {pk} LIMIT {int(limit)}"
    )


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
