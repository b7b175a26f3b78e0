"""The SQL only the embedded DuckDB warehouse runs: its settings, and reading and writing files.

DuckDB cannot reach S3 offline, so its adapter downloads the files a manifest names and reads them
with ``read_csv``/``read_parquet``, and writes an UNLOAD to a local Parquet file it then uploads.
The cleaned-chunk format is pinned here (no sniffing): a CR inside a quoted name once made DuckDB
split rows at CR and fail a whole load. These statements are not Redshift's and are never sent to
it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.warehouse.sql.quoting import ident

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# The cleaned chunks' timestamps are their validated ISO 8601 text (2021-07-27T16:02:08Z).
CSV_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _literal(text: str) -> str:
    """``text`` as a DuckDB string literal (standard SQL: only quotes are doubled)."""
    return "'" + text.replace("'", "''") + "'"


def settings(memory_limit: str) -> list[str]:
    """A Lambda-sized memory budget (past it DuckDB spills to files) and no insertion order
    (every read orders by key, so inserts and joins need not buffer rows to keep it)."""
    return [
        f"SET memory_limit = {_literal(memory_limit)}",
        "SET preserve_insertion_order = false",
    ]


def describe(table: str) -> str:
    """Column names and types of ``table``."""
    return f"DESCRIBE {ident(table)}"


def insert_csv_files(table: str, columns: Sequence[str], types: Mapping[str, str]) -> str:
    """INSERT the rows of headerless cleaned CSV files (the one ``?``: their paths).

    >>> print(insert_csv_files("jobs", ["id", "job"], {"id": "BIGINT", "job": "VARCHAR"}))
    INSERT INTO "jobs" ("id", "job") SELECT "id", "job" FROM read_csv(?, columns = {'id': 'BIGINT', 'job': 'VARCHAR'}, header = false, delim = ',', quote = '"', escape = '"', new_line = '\\n', auto_detect = false, strict_mode = true, timestampformat = '%Y-%m-%dT%H:%M:%SZ')
    """
    cols = ", ".join(ident(c) for c in columns)
    spec = ", ".join(f"{_literal(c)}: {_literal(types[c])}" for c in columns)
    return (
        f"INSERT INTO {ident(table)} ({cols}) SELECT {cols} FROM read_csv(?, "
        f"columns = {{{spec}}}, header = false, delim = ',', quote = '\"', escape = '\"', "
        "new_line = '\\n', auto_detect = false, strict_mode = true, "
        f"timestampformat = {_literal(CSV_TIMESTAMP_FORMAT)})"
    )


def copy_to_parquet_file(query: str, path: str) -> str:
    """Write the rows of ``query`` (built by these modules, never from input) to a local file."""
    return f"COPY ({query}) TO {_literal(path)} (FORMAT parquet)"


def count_parquet_file() -> str:
    """Rows in the Parquet file at the one ``?``."""
    return "SELECT COUNT(*) FROM read_parquet(?)"
