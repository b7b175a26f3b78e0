"""Every statement the SQL builders produce for Redshift parses as Redshift SQL.

sqlfluff's Redshift dialect is the grammar. Placeholders are turned into ``$n`` by the driver's
own ``convert_paramstyle``, so what is parsed is the text Redshift receives. A new public
builder that is not listed here fails the coverage test below.
"""

from __future__ import annotations

import inspect
import re
from datetime import datetime
from typing import TYPE_CHECKING

import pytest
from redshift_connector.core import convert_paramstyle
from sqlfluff.core import FluffConfig, Linter

from chalicelib.tables import TABLES
from chalicelib.warehouse import sql

if TYPE_CHECKING:
    from collections.abc import Callable

ROLE = "arn:aws:iam::123456789012:role/ingest-copy-unload"
# Helpers that build pieces of statements, not statements.
NOT_STATEMENTS = {
    "column_list",
    "ident",
    "string_literal",
    "s3_literal",
    "role_literal",
    "column_type",
    "redshift_layout",
    "staging_name",
    "staging_columns",
    "load_tables",
}
UPLOAD_ID = "20211126T031500Z-0123456789ab"


def _per_table(build: Callable[..., str | list[str]]) -> Callable[[], list[str]]:
    def each() -> list[str]:
        built: list[str] = []
        for table in TABLES.values():
            out = build(table)
            built += out if isinstance(out, list) else [out]
        return built

    return each


BUILDERS: dict[str, Callable[[], list[str]]] = {
    "create_table": _per_table(lambda t: sql.create_table(t, "redshift")),
    "create_ledger": lambda: [sql.create_ledger("redshift")],
    "ledger_lookup": lambda: [sql.ledger_lookup()],
    "ledger_insert": lambda: [sql.ledger_insert()],
    "lock": lambda: [sql.lock([*TABLES, sql.LEDGER_TABLE]), sql.lock(["jobs"])],
    "drop_table": lambda: [sql.drop_table("jobs_staging")],
    "create_staging": _per_table(lambda t: sql.create_staging(t, f"{t.name}_s", "redshift")),
    "create_restore_staging": _per_table(
        lambda t: sql.create_restore_staging(t, f"{t.name}_r", "redshift")
    ),
    "create_superseded": _per_table(lambda t: sql.create_superseded(t, "stg", "sup")),
    "superseded_rows": lambda: [sql.superseded_rows("jobs_superseded")],
    "delete_superseded": lambda: [sql.delete_superseded("jobs_staging", "jobs_superseded")],
    "merge": _per_table(lambda t: sql.merge(t, f"{t.name}_staging")),
    "merge_staged": _per_table(
        lambda t: (
            sql.merge_staged(t, "stg", "sup", "redshift")
            + sql.merge_staged(t, "stg", None, "redshift")
        )
    ),
    "copy_csv": _per_table(
        lambda t: sql.copy_csv("stg", sql.staging_columns(t), "s3://bkt/manifests/x.json", ROLE)
    ),
    "unload_parquet": _per_table(
        lambda t: sql.unload_parquet(sql.select_all(t), "s3://bkt/backups/b/t/", ROLE)
    ),
    "copy_parquet": _per_table(
        lambda t: sql.copy_parquet("r", t.column_names, "s3://bkt/m", "redshift", ROLE)
    ),
    "last_copy_count": lambda: [sql.last_copy_count()],
    "load_errors": lambda: [sql.load_errors(), sql.load_errors("session")],
    "load_errors_stl": lambda: [sql.load_errors_stl(), sql.load_errors_stl("session")],
    "count_rows": lambda: [sql.count_rows("jobs")],
    "select_all": _per_table(sql.select_all),
    "delete_all": _per_table(sql.delete_all),
    "insert_from": _per_table(lambda t: sql.insert_from(t, f"{t.name}_restore")),
    "select_page": _per_table(lambda t: sql.select_page(t, 50_000)),
    "hires_by_quarter": lambda: [sql.hires_by_quarter()],
    "hires_per_department": lambda: [sql.hires_per_department()],
    "departments_above_mean": lambda: [sql.departments_above_mean()],
    "mean_hires_per_department": lambda: [sql.mean_hires_per_department()],
    "load_errors_by_file": lambda: [sql.load_errors_by_file()],
    "skip_if_loaded": lambda: [sql.skip_if_loaded("jobs_load_x", UPLOAD_ID)],
    "ledger_insert_counted": _per_table(
        lambda t: sql.ledger_insert_counted(t, "stg", "sup", UPLOAD_ID, datetime(2021, 1, 2))
    ),
    "load_batch": _per_table(
        lambda t: sql.load_batch(t, UPLOAD_ID, "s3://bkt/manifests/x.json", ROLE, datetime.now())
    ),
    "drop_load_tables": _per_table(lambda t: sql.drop_load_tables(t, UPLOAD_ID)),
}
STATEMENTS = [
    pytest.param(text, id=f"{name}-{n}")
    for name, build in BUILDERS.items()
    for n, text in enumerate(build())
]
LINTER = Linter(config=FluffConfig(overrides={"dialect": "redshift"}))


def test_grammar_covers_every_statement_builder() -> None:
    public = {
        name
        for name, fn in inspect.getmembers(sql, inspect.isfunction)
        # DuckDB's own statements (sql/duckdb.py) are never sent to Redshift.
        if fn.__module__.startswith(f"{sql.__name__}.")
        and fn.__module__ != f"{sql.__name__}.duckdb"
        and not name.startswith("_")
    }
    assert public - NOT_STATEMENTS == set(BUILDERS)


@pytest.mark.parametrize("statement", STATEMENTS)
def test_redshift_statement_parses(statement: str) -> None:
    sent, _ = convert_paramstyle("qmark", statement)
    parsed = LINTER.parse_string(sent)
    assert parsed.tree is not None
    unparsable = [seg.raw for seg in parsed.tree.recursive_crawl("unparsable")]
    assert (unparsable, parsed.violations) == ([], [])
    if statement.startswith("UNLOAD ("):
        # The query inside UNLOAD is a string literal to the grammar: parse it on its own.
        inner = re.match(r"UNLOAD \('((?:[^']|'')*)'\)", statement)
        assert inner is not None
        test_redshift_statement_parses(inner.group(1).replace("''", "'"))


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_redshift_merge_reads_a_table_not_a_subquery(table: object) -> None:
    for statement in sql.merge_staged(table, "stg", "sup", "redshift"):  # type: ignore[arg-type]
        if statement.startswith("MERGE"):
            assert re.match(r'MERGE INTO "\w+" USING "\w+" AS s ON ', statement), statement
