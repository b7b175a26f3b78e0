"""The SQL that moves data between S3 and the warehouse: COPY, UNLOAD and the load-error lookups.

Redshift reads manifests and writes Parquet itself, with the role it assumes; DuckDB reads the
files its adapter downloaded (``copy_parquet``; the rest of its file SQL is in ``duckdb.py``).

Every S3 location and role ARN is checked by ``quoting.py`` before it is written into a statement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from chalicelib.errors import UnsafeIdentifierError
from chalicelib.warehouse.sql.quoting import (
    Dialect,
    ident,
    role_literal,
    s3_literal,
    string_literal,
)

if TYPE_CHECKING:
    from collections.abc import Sequence


# Cleaned chunks hold timestamps as their validated ISO 8601 text ('2021-07-27T16:02:08Z'). A
# TIMEFORMAT string cannot hold the 'T' and the zone designator; 'auto' recognises ISO 8601
# (docs: automatic-recognition.html, r_DATEFORMAT_and_TIMEFORMAT_strings.html).
COPY_TIMEFORMAT = "auto"


# COPY's default null_string is '\N', so a valid text value '\N' would load as NULL and fail
# its NOT NULL column. A field holding only NUL is the null marker instead: NULL AS '\000'
# (docs: copy-parameters-data-conversion.html). Validation refuses every NUL byte, so no
# cleaned value can equal it. Written as the docs write it: COPY reads the escape itself.
COPY_NULL_AS = "'\\000'"


# UNLOAD's MAXFILESIZE in MB (Redshift accepts 5 MB to 6.2 GB): small enough that a restore in a
# Lambda can fetch one file at a time into /tmp.
UNLOAD_MAX_FILE_MB = 256


def copy_csv(table: str, columns: Sequence[str], manifest_uri: str, iam_role: str) -> str:
    """Redshift COPY of the headerless CSV files a manifest lists, into explicit columns.

    Staging tables are temporary and loaded once, so compression analysis and statistics
    (COMPUPDATE, STATUPDATE) would only slow the load.

    >>> print(copy_csv("t", ["id"], "s3://bkt/m.json", "arn:aws:iam::123456789012:role/r"))
    COPY "t" ("id") FROM 's3://bkt/m.json' IAM_ROLE 'arn:aws:iam::123456789012:role/r' MANIFEST FORMAT AS CSV NULL AS '\\000' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF

    Raises:
        UnsafeIdentifierError: an unsafe name, location or role.
    """  # noqa: E501
    cols = ", ".join(ident(c) for c in columns)
    return (
        f"COPY {ident(table)} ({cols}) FROM {s3_literal(manifest_uri)} "
        f"IAM_ROLE {role_literal(iam_role)} MANIFEST FORMAT AS CSV NULL AS {COPY_NULL_AS} "
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


def load_errors_by_file() -> str:
    """The newest failed COPY's rows in SYS_LOAD_ERROR_DETAIL among those that read files whose
    name is LIKE the one ``?`` (an upload's folder): for a COPY whose query id is not known, as
    in a Data API batch.

    >>> print(load_errors_by_file())
    SELECT TRIM(file_name), line_number, TRIM(column_name), error_code, TRIM(error_message) FROM sys_load_error_detail WHERE query_id = (SELECT MAX(query_id) FROM sys_load_error_detail WHERE TRIM(file_name) LIKE ?) ORDER BY line_number LIMIT 5
    """  # noqa: E501
    return (
        "SELECT TRIM(file_name), line_number, TRIM(column_name), error_code, "
        "TRIM(error_message) FROM sys_load_error_detail WHERE query_id = (SELECT MAX(query_id) "
        "FROM sys_load_error_detail WHERE TRIM(file_name) LIKE ?) ORDER BY line_number LIMIT 5"
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
