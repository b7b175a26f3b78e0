"""Table definitions, derived from the JSON Schema files in ``chalicelib/schemas``.

The schema files are the source of truth for what a valid row is; column order, SQL types,
the primary key, length limits and which columns refer to which tables are read from them here
and nowhere else, and so is the order tables load in (a table after the tables it refers to).
Each schema is checked against the JSON Schema metaschema once, at import. Which table a file
is for, when only its name says, is guessed here too (``guess_table``), by the rule the clients
share.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from chalicelib.errors import InvalidRequestError, InvalidSchemaError

SCHEMA_DIR = Path(__file__).parent / "schemas"
_SCHEMA_FILE = re.compile(r"^(?P<table>[a-z_]+)\.v(?P<version>[0-9]+)\.json\Z")

ColumnKind = Literal["integer", "text", "timestamp"]


@dataclass(frozen=True)
class Column:
    """One CSV field / table column."""

    name: str
    kind: ColumnKind
    schema: dict[str, Any]
    max_length: int | None = None


@dataclass(frozen=True)
class Table:
    """A loadable table: its name, schema version and columns in CSV order."""

    name: str
    version: int
    schema: dict[str, Any]
    columns: tuple[Column, ...]
    primary_key: str
    # Column -> the table whose id it holds (``x-references``).
    references: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _column(item: dict[str, Any]) -> Column:
    name = item["title"]
    if item.get("type") == "integer":
        return Column(name, "integer", item)
    if item.get("type") == "string" and item.get("format") == "date-time":
        return Column(name, "timestamp", item)
    if item.get("type") == "string":
        return Column(name, "text", item, max_length=item.get("maxLength"))
    raise InvalidSchemaError(f"column {name!r}: unsupported type {item.get('type')!r}")


def _load(path: Path) -> Table:
    match = _SCHEMA_FILE.match(path.name)
    if not match:
        raise InvalidSchemaError(f"schema file name {path.name!r} is not <table>.v<N>.json")
    schema = json.loads(path.read_text(encoding="utf-8"))
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidSchemaError(f"{path.name}: {exc.message}") from exc
    if schema.get("type") != "array" or "prefixItems" not in schema:
        raise InvalidSchemaError(f"{path.name}: a row schema must be an array with prefixItems")
    columns = tuple(_column(item) for item in schema["prefixItems"])
    primary_key = schema.get("x-primary-key", "")
    if primary_key not in {c.name for c in columns}:
        raise InvalidSchemaError(f"{path.name}: x-primary-key {primary_key!r} is not a column")
    references = schema.get("x-references", {})
    if not isinstance(references, dict) or not set(references) <= {c.name for c in columns}:
        raise InvalidSchemaError(f"{path.name}: x-references must map its columns to tables")
    return Table(
        match["table"], int(match["version"]), schema, columns, primary_key, dict(references)
    )


def _load_all() -> dict[str, Table]:
    latest: dict[str, Table] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        table = _load(path)
        if table.name not in latest or table.version > latest[table.name].version:
            latest[table.name] = table
    return latest


def load_order(tables: dict[str, Table]) -> tuple[str, ...]:
    """The tables, each after every table it refers to (dimensions before facts), ties by name.

    Raises:
        InvalidSchemaError: a reference to no table, or tables that refer to each other.
    """
    depth: dict[str, int] = {}

    def depth_of(name: str, path: tuple[str, ...]) -> int:
        if name in path:
            raise InvalidSchemaError(f"tables refer to each other: {' -> '.join((*path, name))}")
        if name not in tables:
            raise InvalidSchemaError(f"{path[-1]} refers to {name!r}, which is no table")
        if name not in depth:
            targets = tables[name].references.values()
            depth[name] = 1 + max((depth_of(t, (*path, name)) for t in targets), default=-1)
        return depth[name]

    return tuple(sorted(tables, key=lambda name: (depth_of(name, ()), name)))


TABLES: dict[str, Table] = _load_all()
# The order a folder of files loads in, so that reports join facts to their dimensions.
TABLE_NAMES: tuple[str, ...] = load_order(TABLES)
# A table name in a reply body; its JSON Schema lists the tables (see api/schema_gen.py).
TableName = Annotated[str, TABLE_NAMES]


def get_table(name: str) -> Table:
    """Return the table called ``name``.

    Raises:
        InvalidRequestError: no such table.
    """
    table = TABLES.get(name) if isinstance(name, str) else None
    if table is None:
        known = ", ".join(TABLE_NAMES)
        raise InvalidRequestError(f"unknown table {name!r}; expected one of: {known}", table=name)
    return table


# The words of a file name: a run of capitals (an acronym, or a word in capitals), a word with
# at most its first letter capitalised, or a run of digits; any other character (space,
# punctuation, a letter outside ASCII) only separates words. Written in the part of regular
# expressions Python and JavaScript read alike: the clients get this very pattern through their
# generated contract files (devstack/docgen.py), so all three guess alike.
NAME_WORDS = r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+"
PATH_SEPARATORS = r"[/\\]"


def guess_table(filename: str) -> str | None:
    """The table a file is for, from its name alone; None when the name does not say.

    A table is named when its words (``hired_employees``: hired, employees) appear one after the
    other, case aside, among the words of the name's last path segment: ``hired employees
    (1).csv``, ``HiredEmployees.csv`` and ``2021_hired-employees.csv.gz`` are for
    ``hired_employees``. No table, or more than one (``departments and jobs.csv``), is no guess.
    """
    base = re.split(PATH_SEPARATORS, filename)[-1]
    words = [word.lower() for word in re.findall(NAME_WORDS, base)]
    named = [name for name in TABLE_NAMES if _holds_run(words, name.split("_"))]
    return named[0] if len(named) == 1 else None


def _holds_run(words: list[str], run: list[str]) -> bool:
    return any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))
