"""Table definitions come from the schema files, which are checked at import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib import tables
from chalicelib.errors import InvalidRequestError, InvalidSchemaError


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


# File names as people's computers make them, and the table each is for: one table of cases the
# API, the ingest client and the console are each held to.
GUESSES = json.loads((Path(__file__).parents[2] / "filenames.json").read_text(encoding="utf-8"))[
    "guesses"
]


@pytest.mark.parametrize(("name", "table"), GUESSES)
def test_guess_table_from_a_file_name(name: str, table: str | None) -> None:
    assert tables.guess_table(name) == table
