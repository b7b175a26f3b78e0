"""SQL builders: plain strings, safe identifiers, and the SQL they produce on DuckDB."""

from __future__ import annotations

import doctest

import pytest

from chalicelib.tables import get_table
from chalicelib.warehouse import sql


@pytest.mark.parametrize(
    "name", ['jobs"; DROP TABLE jobs; --', "a b", "", "1abc", "x" * 200, "jobs.id", "é", "jobs\n"]
)
def test_ident_refuses_anything_but_plain_names(name: str) -> None:
    with pytest.raises(sql.UnsafeIdentifierError):
        sql.ident(name)


def test_ident_quotes_plain_names() -> None:
    assert sql.ident("hired_employees") == '"hired_employees"'


def test_sql_docstring_examples_hold() -> None:
    result = doctest.testmod(sql, extraglobs={"get_table": get_table})
    assert result.attempted >= 2 and result.failed == 0


def test_redshift_types_allow_four_bytes_per_character() -> None:
    ddl = sql.create_table(get_table("hired_employees"), "redshift")
    assert '"name" VARCHAR(1024) NOT NULL' in ddl
    assert '"datetime" TIMESTAMP NOT NULL' in ddl
    assert 'PRIMARY KEY ("id")' in ddl
