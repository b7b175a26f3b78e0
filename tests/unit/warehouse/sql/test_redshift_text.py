"""The Redshift-side SQL builders, as strings: DDL layout, LOCK, COPY, UNLOAD and quoting."""

from __future__ import annotations

import pytest

from chalicelib.tables import TABLES, get_table
from chalicelib.warehouse import sql
from chalicelib.warehouse.sql import UnsafeIdentifierError

ROLE = "arn:aws:iam::123456789012:role/ingest-copy-unload"


@pytest.mark.parametrize(
    ("table", "layout"),
    [
        ("hired_employees", 'DISTSTYLE KEY DISTKEY ("id") SORTKEY ("datetime")'),
        ("departments", 'DISTSTYLE ALL SORTKEY ("id")'),
        ("jobs", 'DISTSTYLE ALL SORTKEY ("id")'),
    ],
)
def test_create_table_redshift_layout(table: str, layout: str) -> None:
    ddl = sql.create_table(get_table(table), "redshift")
    assert ddl.startswith(f'CREATE TABLE IF NOT EXISTS "{table}" (')
    assert ddl.endswith(f'PRIMARY KEY ("id")) {layout}')


def test_create_table_duckdb_is_unchanged() -> None:
    for table in TABLES.values():
        ddl = sql.create_table(table, "duckdb")
        assert "DIST" not in ddl and "SORTKEY" not in ddl and "VARCHAR(" not in ddl


def test_create_table_hired_employees_redshift() -> None:
    assert sql.create_table(get_table("hired_employees"), "redshift") == (
        'CREATE TABLE IF NOT EXISTS "hired_employees" ("id" BIGINT NOT NULL, '
        '"name" VARCHAR(1024) NOT NULL, "datetime" TIMESTAMP NOT NULL, '
        '"department_id" BIGINT NOT NULL, "job_id" BIGINT NOT NULL, PRIMARY KEY ("id")) '
        'DISTSTYLE KEY DISTKEY ("id") SORTKEY ("datetime")'
    )


def test_create_ledger_per_dialect() -> None:
    assert sql.create_ledger() == sql.create_ledger("duckdb")
    assert "DIST" not in sql.create_ledger("duckdb")
    assert sql.create_ledger("redshift").endswith(
        'PRIMARY KEY ("upload_id")) DISTSTYLE ALL SORTKEY ("upload_id")'
    )


def test_copy_parquet_statement() -> None:
    assert sql.copy_parquet(
        "jobs_restore", ["id", "job"], "s3://bkt/backups/jobs/1/manifest", "redshift", ROLE
    ) == (
        "COPY \"jobs_restore\" FROM 's3://bkt/backups/jobs/1/manifest' "
        f"IAM_ROLE '{ROLE}' FORMAT AS PARQUET MANIFEST"
    )


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("plain", "'plain'"),
        ("it's", "'it''s'"),
        ("'';", "''''';'"),
        ("a\\b", "'a\\\\b'"),
        ("\\'", "'\\\\'''"),  # a backslash cannot escape the doubled quote after it
    ],
)
def test_string_literal_doubles_quotes_and_backslashes(text: str, literal: str) -> None:
    assert sql.string_literal(text) == literal


def test_unload_prefix_must_be_a_folder() -> None:
    with pytest.raises(UnsafeIdentifierError):
        sql.unload_parquet("SELECT 1", "s3://bkt/backups/jobs/1", ROLE)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bkt/a'b",
        "s3://bkt/a\\b",
        "s3://bkt/a b",
        "s3://Bucket/key",
        "s3://bkt",
        "S3://bkt/key",
        "s3://bkt/key\n",
        "file:///etc/passwd",
    ],
)
def test_s3_literal_rejects(uri: str) -> None:
    with pytest.raises(UnsafeIdentifierError):
        sql.s3_literal(uri)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:role/x' CREDENTIALS 'aws_access_key_id=AKIA",
        "arn:aws:iam::12345:role/short-account",
        "arn:aws:iam::123456789012:user/not-a-role",
        "aws_access_key_id=AKIAXXXX;aws_secret_access_key=xyz",
        "",
    ],
)
def test_role_literal_rejects(arn: str) -> None:
    with pytest.raises(UnsafeIdentifierError):
        sql.role_literal(arn)


def test_role_literal_accepts_paths_and_partitions() -> None:
    arn = "arn:aws-us-gov:iam::123456789012:role/service-role/ingest+copy@x"
    assert sql.role_literal(arn) == f"'{arn}'"


def test_lock_needs_tables() -> None:
    with pytest.raises(UnsafeIdentifierError):
        sql.lock([])
