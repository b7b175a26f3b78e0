"""The SQL of the upsert: find superseded rows in staging, drop them, MERGE the rest by id.

Redshift's MERGE reads a table, not a subquery, so superseded rows are deleted from staging first
(``DELETE … USING``); DuckDB merges from an anti-join instead. ``warehouse/upsert.py`` runs these
in one transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.warehouse.sql.ddl import SOURCE_ROW, column_list
from chalicelib.warehouse.sql.quoting import Dialect, ident

if TYPE_CHECKING:
    from chalicelib.tables import Table


def create_superseded(table: Table, staging: str, name: str, *, temporary: bool = True) -> str:
    """A temp table of the staged rows that a later row with the same id replaces (the last row
    wins): (source row, the row that wins).

    One hash aggregate finds the ids that repeat and only their rows are joined back: nothing is
    sorted, and an upload without repeated ids leaves the table empty.

    >>> print(create_superseded(get_table("jobs"), "jobs_staging", "jobs_superseded"))
    CREATE TEMP TABLE "jobs_superseded" AS SELECT s."source_row", d.winner FROM "jobs_staging" AS s JOIN (SELECT "id", MAX("source_row") AS winner FROM "jobs_staging" GROUP BY "id" HAVING COUNT(*) > 1) AS d ON s."id" = d."id" WHERE s."source_row" < d.winner
    """  # noqa: E501
    pk, row, source = ident(table.primary_key), ident(SOURCE_ROW), ident(staging)
    kind = "TEMP TABLE" if temporary else "TABLE"
    return (
        f"CREATE {kind} {ident(name)} AS SELECT s.{row}, d.winner FROM {source} AS s "
        f"JOIN (SELECT {pk}, MAX({row}) AS winner FROM {source} GROUP BY {pk} "
        f"HAVING COUNT(*) > 1) AS d ON s.{pk} = d.{pk} WHERE s.{row} < d.winner"
    )


def superseded_rows(superseded: str) -> str:
    """The (row, winning row) pairs of a table made by ``create_superseded``, in row order."""
    row = ident(SOURCE_ROW)
    return f"SELECT {row}, winner FROM {ident(superseded)} ORDER BY {row}"


def delete_superseded(staging: str, superseded: str) -> str:
    """Drop the superseded rows from staging, leaving one row per id.

    >>> print(delete_superseded("jobs_staging", "jobs_superseded"))
    DELETE FROM "jobs_staging" USING "jobs_superseded" WHERE "jobs_staging"."source_row" = "jobs_superseded"."source_row"
    """  # noqa: E501
    source, other, row = ident(staging), ident(superseded), ident(SOURCE_ROW)
    return f"DELETE FROM {source} USING {other} WHERE {source}.{row} = {other}.{row}"


def merge(table: Table, source: str) -> str:
    """Upsert ``source`` into the table by primary key (the same text runs on both engines).

    >>> merge(get_table("jobs"), "jobs_staging")
    'MERGE INTO "jobs" USING "jobs_staging" AS s ON "jobs"."id" = s."id" WHEN MATCHED THEN UPDATE SET "job" = s."job" WHEN NOT MATCHED THEN INSERT ("id", "job") VALUES (s."id", s."job")'
    """  # noqa: E501
    return _merge(table, ident(source))


def _merge(table: Table, source: str) -> str:
    target, pk = ident(table.name), ident(table.primary_key)
    updates = ", ".join(
        f"{ident(c)} = s.{ident(c)}" for c in table.column_names if c != table.primary_key
    )
    return (
        f"MERGE INTO {target} USING {source} AS s ON {target}.{pk} = s.{pk} "
        f"WHEN MATCHED THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({column_list(table)}) VALUES ({column_list(table, 's.')})"
    )


def merge_staged(table: Table, staging: str, superseded: str | None, dialect: Dialect) -> list[str]:
    """The statements that upsert the staged rows, less those in ``superseded`` (a table made by
    ``create_superseded``, or None when it is empty), into the table.

    Redshift's MERGE reads only a table, so there the superseded rows are deleted from staging
    first. DuckDB merges from an anti-join instead: after a DELETE, a large staging table made in
    the same transaction stays pinned in memory and the MERGE fails at the memory limit.

    >>> merge_staged(get_table("jobs"), "jobs_staging", None, "duckdb") == [merge(get_table("jobs"), "jobs_staging")]
    True
    """  # noqa: E501
    if superseded is None:
        return [merge(table, staging)]
    if dialect == "redshift":
        return [delete_superseded(staging, superseded), merge(table, staging)]
    row = ident(SOURCE_ROW)
    source = (
        f"(SELECT {column_list(table)} FROM {ident(staging)} AS t WHERE NOT EXISTS "
        f"(SELECT 1 FROM {ident(superseded)} AS x WHERE x.{row} = t.{row}))"
    )
    return [_merge(table, source)]
