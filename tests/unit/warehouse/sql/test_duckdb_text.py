"""SQL builders: plain strings, safe identifiers, and the SQL they produce on DuckDB."""

from __future__ import annotations

import doctest
from typing import TYPE_CHECKING

import pytest

from chalicelib.tables import get_table
from chalicelib.warehouse import sql
from chalicelib.warehouse.sql import ddl, quoting, reports, s3io, upsert
from chalicelib.warehouse.sql import duckdb as duckdb_sql

if TYPE_CHECKING:
    from types import ModuleType


@pytest.mark.parametrize(
    "name", ['jobs"; DROP TABLE jobs; --', "a b", "", "1abc", "x" * 200, "jobs.id", "é", "jobs\n"]
)
def test_ident_refuses_anything_but_plain_names(name: str) -> None:
    with pytest.raises(sql.UnsafeIdentifierError):
        sql.ident(name)


def test_ident_quotes_plain_names() -> None:
    assert sql.ident("hired_employees") == '"hired_employees"'


@pytest.mark.parametrize("module", [ddl, upsert, quoting, reports, s3io, duckdb_sql])
def test_sql_docstring_examples_hold(module: ModuleType) -> None:
    result = doctest.testmod(module, extraglobs={"get_table": get_table})
    assert result.failed == 0


def test_sql_docstring_examples_exist() -> None:
    # The examples are the statements' documentation: they must not quietly disappear.
    modules = (ddl, upsert, quoting, reports, s3io, duckdb_sql)
    attempted = sum(
        doctest.testmod(m, extraglobs={"get_table": get_table}).attempted for m in modules
    )
    assert attempted >= 8


def test_redshift_types_allow_four_bytes_per_character() -> None:
    ddl = sql.create_table(get_table("hired_employees"), "redshift")
    assert '"name" VARCHAR(1024) NOT NULL' in ddl
    assert '"datetime" TIMESTAMP NOT NULL' in ddl
    assert 'PRIMARY KEY ("id")' in ddl
