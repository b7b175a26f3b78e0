"""What the local engine adds to a fresh PostgreSQL database to look like Redshift.

Owns the bootstrap statements: the application's login role (md5 password, as the driver cannot
do SCRAM), its database, the load-error system tables ``stl_load_errors`` (provisioned) and
``sys_load_error_detail`` (Serverless) and the session functions ``pg_last_copy_count()`` /
``pg_last_copy_id()``. The tables and functions live in ``pg_catalog``, so they are found
whatever the session's ``search_path``, as Redshift's system views are. It runs no COPY.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devstack.redshift_local.wire import ServerError

if TYPE_CHECKING:
    from devstack.redshift_local.wire import SideConnection

# Session settings the proxy sets after a COPY succeeds, read back by the functions below. A
# setting made in a transaction that rolls back is undone: a rolled-back COPY does not count.
LAST_COPY_COUNT = "redshift_local.last_copy_count"
LAST_COPY_ID = "redshift_local.last_copy_id"

# Columns as AWS documents them (STL_LOAD_ERRORS, SYS_LOAD_ERROR_DETAIL).
SYSTEM_TABLES = (
    """CREATE TABLE IF NOT EXISTS pg_catalog.stl_load_errors (
        userid integer, slice integer, tbl integer, starttime timestamp, session integer,
        query integer, filename character(256), line_number bigint, colname character(127),
        type character(10), col_length character(10), position integer,
        raw_line character(1024), raw_field_value character(1024), err_code integer,
        err_reason character(100), is_partial integer, start_offset bigint)""",
    """CREATE TABLE IF NOT EXISTS pg_catalog.sys_load_error_detail (
        user_id integer, query_id bigint, transaction_id bigint, session_id integer,
        database_name character(64), table_id integer, start_time timestamp,
        file_name character(256), line_number bigint, column_name character(127),
        column_type character(10), column_length character(10), position integer,
        error_code integer, error_message character(512))""",
    "GRANT SELECT ON pg_catalog.stl_load_errors, pg_catalog.sys_load_error_detail TO PUBLIC",
    # STL's query and SYS's query_id are separate identifiers (one COPY has one of each). The
    # two sequences overlap on purpose: a SYS lookup by an STL id finds another COPY's rows,
    # as it can on Redshift.
    "CREATE SEQUENCE IF NOT EXISTS pg_catalog.redshift_local_query_id START 100000",
    "CREATE SEQUENCE IF NOT EXISTS pg_catalog.redshift_local_sys_query_id START 100001",
    f"""CREATE OR REPLACE FUNCTION pg_catalog.pg_last_copy_count() RETURNS bigint
        LANGUAGE sql STABLE AS
        $$ SELECT COALESCE(NULLIF(current_setting('{LAST_COPY_COUNT}', true), ''),
        '0')::bigint $$""",
    f"""CREATE OR REPLACE FUNCTION pg_catalog.pg_last_copy_id() RETURNS integer
        LANGUAGE sql STABLE AS
        $$ SELECT COALESCE(NULLIF(current_setting('{LAST_COPY_ID}', true), ''),
        '-1')::integer $$""",
)

STL_INSERT = (
    "INSERT INTO pg_catalog.stl_load_errors (userid, slice, tbl, starttime, session, query, "
    "filename, line_number, colname, type, col_length, position, raw_line, raw_field_value, "
    "err_code, err_reason, is_partial, start_offset) VALUES ((SELECT usesysid FROM pg_user "
    "WHERE usename = $1), 0, $2::integer, now() AT TIME ZONE 'UTC', $3::integer, $4::integer, "
    "$5, $6::bigint, $7, $8, $9, 0, $10, $11, $12::integer, $13, 0, 0)"
)
SYS_INSERT = (
    "INSERT INTO pg_catalog.sys_load_error_detail (user_id, query_id, transaction_id, session_id, "
    "database_name, table_id, start_time, file_name, line_number, column_name, column_type, "
    "column_length, position, error_code, error_message) VALUES ((SELECT usesysid FROM pg_user "
    "WHERE usename = $1), $2::bigint, 0, $3::integer, current_database(), $4::integer, "
    "now() AT TIME ZONE 'UTC', $5, $6::bigint, $7, $8, $9, 0, $10::integer, $11)"
)


def bootstrap(admin: SideConnection, database: SideConnection, user: str, password: str) -> None:
    """Create the login role, its database and the Redshift system objects (idempotent).

    ``admin`` is a superuser session on the ``postgres`` database, ``database`` one on the
    application's database (created here if missing).
    """
    if not admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [user]):
        # Role names and passwords cannot be parameters; both are ours (letters and hex).
        admin.query(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'")
    else:
        admin.query(f"ALTER ROLE \"{user}\" PASSWORD '{password}'")
    if not admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [database.database]):
        admin.query(f'CREATE DATABASE "{database.database}" OWNER "{user}"')
    # Creating relations in pg_catalog needs this superuser-only switch, for this session only.
    database.query("SET allow_system_table_mods = on")
    for statement in SYSTEM_TABLES:
        try:
            database.query(statement)
        except ServerError as exc:
            raise RuntimeError(f"redshift_local bootstrap failed: {exc}") from exc
