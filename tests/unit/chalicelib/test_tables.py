"""Table definitions come from the schema files, which are checked at import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chalicelib import tables
from chalicelib.errors import InvalidRequestError, InvalidSchemaError
from chalicelib.warehouse import sql

if TYPE_CHECKING:
    from chalicelib.warehouse.sql.quoting import Dialect


def test_tables_are_derived_from_the_schema_files() -> None:
    hires = tables.get_table("hired_employees")
    assert hires.column_names == ("id", "name", "datetime", "department_id", "job_id")
    assert [c.kind for c in hires.columns] == ["integer", "text", "timestamp", "integer", "integer"]
    assert hires.primary_key == "id"
    assert set(tables.TABLES) == set(tables.TABLE_NAMES)


def test_get_table_refuses_unknown_names() -> None:
    with pytest.raises(InvalidRequestError, match="unknown table"):
        tables.get_table("../etc/passwd")


def test_a_broken_schema_file_is_a_schema_error(tmp_path: Path) -> None:
    bad = tmp_path / "jobs.v2.json"
    bad.write_text(json.dumps({"type": "array", "prefixItems": [{"title": "id", "type": 7}]}))
    with pytest.raises(InvalidSchemaError, match=r"jobs\.v2\.json"):
        tables._load(bad)


@pytest.mark.parametrize("name", tables.TABLE_NAMES)
def test_each_table_is_read_from_its_highest_schema_version(name: str) -> None:
    versions = sorted(
        tables._load(path).version for path in tables.SCHEMA_DIR.glob(f"{name}.v*.json")
    )
    assert versions == list(range(1, len(versions) + 1))  # a version is added, never replaced
    assert tables.get_table(name).version == versions[-1]


@pytest.mark.parametrize("name", tables.TABLE_NAMES)
@pytest.mark.parametrize("dialect", ["duckdb", "redshift"])
def test_a_schema_version_that_only_adds_row_rules_keeps_the_warehouse_table(
    name: str, dialect: Dialect
) -> None:
    # v2 refuses control characters in text; what the warehouse holds is the same.
    first = tables._load(tables.SCHEMA_DIR / f"{name}.v1.json")
    assert sql.create_table(first, dialect) == sql.create_table(tables.get_table(name), dialect)


def _table(name: str, references: dict[str, str] | None = None) -> tables.Table:
    column = tables.Column("id", "integer", {"title": "id", "type": "integer"})
    return tables.Table(name, 1, {}, (column,), "id", references or {})


def test_tables_load_after_the_tables_they_refer_to() -> None:
    given = {
        "facts": _table("facts", {"a_id": "alpha", "z_id": "zulu"}),
        "zulu": _table("zulu"),
        "alpha": _table("alpha"),
        "summary": _table("summary", {"fact_id": "facts"}),
    }
    assert tables.load_order(given) == ("alpha", "zulu", "facts", "summary")


def test_tables_load_order_refuses_cycles_and_unknown_tables() -> None:
    with pytest.raises(InvalidSchemaError, match="refer to each other: a -> b -> a"):
        tables.load_order({"a": _table("a", {"b_id": "b"}), "b": _table("b", {"a_id": "a"})})
    with pytest.raises(InvalidSchemaError, match="refers to 'nowhere', which is no table"):
        tables.load_order({"a": _table("a", {"n_id": "nowhere"})})


def test_tables_the_shipped_schemas_load_dimensions_before_facts() -> None:
    assert tables.TABLE_NAMES == ("departments", "jobs", "hired_employees")
    assert tables.TABLES["hired_employees"].references == {
        "department_id": "departments",
        "job_id": "jobs",
    }


# File names as people's computers make them, and the table each is for: one table of cases the
# API, the ingest client and the console are each held to.
GUESSES = json.loads((Path(__file__).parents[2] / "filenames.json").read_text(encoding="utf-8"))[
    "guesses"
]


@pytest.mark.parametrize(("name", "table"), GUESSES)
def test_guess_table_from_a_file_name(name: str, table: str | None) -> None:
    assert tables.guess_table(name) == table
