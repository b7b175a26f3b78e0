"""What the pipeline left behind for one raw object, and how it compares with the oracle.

``fresh_warehouse`` gives each scenario an empty DuckDB warehouse; ``outcome`` reads the
upload's state, its rejects file, the table and the load ledger; ``observe`` counts rows lost and
duplicated without asserting (tests record that first); ``check`` then asserts it all.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib import keys
from chalicelib.pipeline import state
from chalicelib.tables import TABLES

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from tests.reliability.oracle import Expected


class _Current:
    """Forwards to whichever S3 client the current scenario uses."""

    target: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


class _Shared:
    """The one DuckDB warehouse scenarios share; ``close()`` leaves it open for the next one."""

    def __init__(self) -> None:
        from chalicelib.warehouse import ensure_schema
        from chalicelib.warehouse.duckdb import DuckDBWarehouse

        self.s3 = _Current()
        self.inner = DuckDBWarehouse(":memory:", self.s3)  # type: ignore[arg-type]
        ensure_schema(self.inner, TABLES.values())
        self.dialect = self.inner.dialect

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def close(self) -> None:
        """Scenarios end here; the connection stays for the next one."""


_SHARED: list[_Shared] = []


def fresh_warehouse(s3: Any) -> Any:
    """An empty warehouse reading from ``s3`` (one DuckDB, emptied: connecting costs ~30 ms)."""
    if not _SHARED:
        _SHARED.append(_Shared())
    shared = _SHARED[0]
    shared.s3.target = s3
    for name in (*TABLES, "ingest_loads"):
        shared.inner.execute(f'DELETE FROM "{name}"')
    return shared


@dataclass
class Outcome:
    """What the pipeline left behind for one raw object."""

    uploads: list[state.Upload]
    report: list[dict[str, Any]]
    table: list[tuple[Any, ...]]
    ledger: list[tuple[Any, ...]]

    @property
    def upload(self) -> state.Upload:
        assert len(self.uploads) == 1, f"expected one upload, found {len(self.uploads)}"
        return self.uploads[0]


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat() + "Z"
    return value


def outcome(s3: Any, warehouse: Any, settings: Settings, table: str, raw_key: str) -> Outcome:
    uploads = [
        u
        for u in state.list_uploads(s3, settings.bucket, table, limit=10_000)
        if u.source_key == raw_key
    ]
    report: list[dict[str, Any]] = []
    ledger: list[tuple[Any, ...]] = []
    if len(uploads) == 1:
        key = keys.rejects_key(table, uploads[0].upload_id)
        try:
            body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read().decode()
        except ClientError:
            body = ""
        report = [json.loads(line) for line in body.split("\n") if line]
        ledger = warehouse.execute(
            'SELECT "upload_id" FROM "ingest_loads" WHERE "upload_id" = ?', [uploads[0].upload_id]
        )
    rows = warehouse.execute(f'SELECT * FROM "{table}"')
    return Outcome(uploads, report, [tuple(_plain(v) for v in r) for r in rows], ledger)


def observe(expected: Expected, out: Outcome) -> dict[str, Any]:
    """Count what the pipeline left against what the oracle expects; asserts nothing.

    ``rows``/``valid``/``rejected``: the upload's own counts; ``lost``: valid rows missing from
    the table or different there, and bad rows missing from the rejects file;
    ``duplicates``: rows or report lines present twice, or that should not be there at all, and
    extra ledger entries; ``state``: the upload's final state (or how many uploads the raw
    object made, when not one).
    """
    want = dict(expected.final)
    have: dict[int, tuple[Any, ...]] = {}
    duplicates = 0
    for row in out.table:
        if row[0] in have:
            duplicates += 1
        have[row[0]] = row
    duplicates += sum(1 for i in have if i not in want)
    lost = sum(1 for i, values in want.items() if have.get(i) != values)
    lines = Counter(entry["row"] for entry in out.report)
    duplicates += sum(n - 1 for n in lines.values() if n > 1)
    duplicates += len(set(lines) - expected.bad_lines)
    lost += len(expected.bad_lines - set(lines))
    duplicates += max(0, len(out.ledger) - 1)
    one = out.uploads[0] if len(out.uploads) == 1 else None
    return {
        "rows": (one.rows_total or 0) if one else 0,
        "valid": (one.rows_valid or 0) if one else 0,
        "rejected": (one.rows_rejected or 0) if one else 0,
        "lost": lost,
        "duplicates": duplicates,
        "state": one.state if one else f"{len(out.uploads)} uploads",
    }


def check(expected: Expected, out: Outcome) -> dict[str, Any]:
    """Assert ``out`` is what the oracle expects; return ``observe``'s figures."""
    figures = observe(expected, out)
    upload = out.upload
    columns = TABLES[expected.table].column_names
    assert upload.state == "loaded", (upload.state, upload.error)
    assert (upload.rows_total, upload.rows_valid, upload.rows_rejected) == (
        expected.rows_total,
        expected.rows_valid,
        expected.rows_rejected,
    )
    assert upload.rows_total == (upload.rows_valid or 0) + (upload.rows_rejected or 0)
    assert (figures["lost"], figures["duplicates"]) == (0, 0), (figures, out.report, out.table)
    assert len(out.ledger) == 1
    by_line = {r.line: r for r in expected.rows}
    names = {"record", *columns}
    for entry in out.report:
        line, errors = entry["row"], entry["errors"]
        assert errors, entry
        prefixes = {e.split(":", 1)[0] for e in errors}
        assert prefixes <= names and all(len(e.split(":", 1)[1].strip()) > 3 for e in errors)
        if line in expected.superseded:
            assert errors == [f"id: duplicate id, superseded by row {expected.superseded[line]}"]
        else:
            faults = by_line[line].faults
            if faults == {"record"}:
                assert "record" in prefixes, (entry, faults)
                if by_line[line].fields and by_line[line].fields != len(columns):
                    assert (
                        f"expected {len(columns)} fields, got {by_line[line].fields}" in errors[0]
                    )
            else:
                assert prefixes == faults, (entry, faults)
        shown = by_line[line].raw.removeprefix("\ufeff")[:1000]
        assert entry["raw"].removeprefix("\ufeff")[: len(shown)] == shown, (entry, shown)
    return figures
