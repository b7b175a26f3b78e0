"""What the local Redshift engine's proxy emulates, strips or passes on, read from SQL text."""

from __future__ import annotations

import pytest

from chalicelib.tables import get_table
from chalicelib.warehouse import sql
from devstack.redshift_local.statements import CopyCommand, UnloadCommand, classify, strip_layout
from devstack.redshift_local.tokens import StatementError

ROLE = "arn:aws:iam::123456789012:role/r"


def test_statements_copy_from_a_manifest_is_emulated() -> None:
    text = sql.copy_csv("jobs_staging", ["id", "job"], "s3://bkt/m/x.json", ROLE)

    passed, command = classify(text)

    assert passed == text
    assert command == CopyCommand(
        '"jobs_staging"',
        ('"id"', '"job"'),
        "s3://bkt/m/x.json",
        manifest=True,
        file_format="CSV",
        options={
            "IAM_ROLE": ROLE,
            "TIMEFORMAT": "auto",
            "NULL": "\\000",
            "COMPUPDATE": "OFF",
            "STATUPDATE": "OFF",
        },
    )


def test_statements_unload_unquotes_its_query() -> None:
    query = "SELECT 'it''s', '\\\\' FROM \"jobs\""
    text = sql.unload_parquet(query, "s3://bkt/backups/b/jobs/", ROLE, max_file_mb=16)

    _, command = classify(text)

    assert command == UnloadCommand(
        query, "s3://bkt/backups/b/jobs/", True, True, True, 16 * 1024 * 1024
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"COPY t FROM 's3://bkt/x' IAM_ROLE '{ROLE}' GZIP", "does not emulate the COPY option"),
        (f"COPY t FROM 's3://bkt/x' IAM_ROLE '{ROLE}' FORMAT AS JSON", "syntax error"),
        ("COPY t FROM 's3://bkt/x' MANIFEST", "needs IAM_ROLE"),
        (f"UNLOAD ('SELECT 1') TO 's3://bkt/p/' IAM_ROLE '{ROLE}'", "PARQUET only"),
        (
            f"UNLOAD ('SELECT 1') TO 's3://bkt/p/' IAM_ROLE '{ROLE}' PARQUET PARALLEL OFF",
            "PARALLEL",
        ),
        (f"UNLOAD ('SELECT 1') TO 's3://p/' IAM_ROLE '{ROLE}' PARQUET MAXFILESIZE 1 MB", "5 MB"),
    ],
)
def test_statements_refuse_what_is_not_emulated(text: str, message: str) -> None:
    with pytest.raises(StatementError, match=message):
        classify(text)


def test_statements_create_table_loses_only_the_layout() -> None:
    hires = sql.create_table(get_table("hired_employees"), "redshift")

    passed, command = classify(hires)

    assert command is None
    assert passed == hires.split(" DISTSTYLE")[0]
    assert strip_layout("CREATE TABLE t (a INT DISTKEY, b INT) COMPOUND SORTKEY (a, b)") == (
        "CREATE TABLE t (a INT , b INT)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 'COPY t FROM ''s3://x'''",
        "COPY t (a) FROM STDIN",
        'SELECT "DISTKEY" FROM t',
        sql.merge(get_table("jobs"), "jobs_staging"),
    ],
)
def test_statements_everything_else_passes_as_written(text: str) -> None:
    assert classify(text) == (text, None)
