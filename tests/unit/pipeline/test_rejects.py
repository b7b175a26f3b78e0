"""The load's fast paths held to plain references: the report merge and the one-pass de-duplication.

``rejects.merge_rejects`` copies chunk reports as bytes and places the duplicates by binary search;
it must write what a line-by-line merge by row number writes. ``upsert.merge_manifest`` finds the
superseded rows with one aggregate and deletes them from staging; the table, the pairs and the
counts must be those of "the last row with an id wins", over any previous contents.
"""

from __future__ import annotations

import heapq
import io
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import keys, storage
from chalicelib.pipeline import rejects
from chalicelib.tables import get_table
from chalicelib.warehouse import sql, upsert
from chalicelib.warehouse.duckdb import DuckDBWarehouse
from tests.properties import examples
from tests.reliability.fakes3 import FakeS3

BUCKET = "merge-test-bucket"
JOBS = get_table("jobs")


def _line(row: int, reason: str, *, row_first: bool = True) -> bytes:
    # The way validate and load write report lines (non-ASCII kept, quotes escaped); a line
    # written another way must still be placed by its row.
    raw = f'{row},"Ann, ""Bé""",{{x}}\n{{"row": 1,'
    entry = {"row": row, "raw": raw, "errors": [reason]}
    if not row_first:
        entry = {"raw": raw, "row": row, "errors": [reason]}
    return json.dumps(entry, ensure_ascii=False).encode()


@st.composite
def reports(draw: st.DrawFn) -> tuple[list[list[bytes]], list[bytes]]:
    """Consecutive chunks of rows; some rows rejected by validation, others duplicates."""
    sizes = draw(st.lists(st.integers(0, 30), min_size=0, max_size=6))
    kinds = st.sampled_from(["valid", "rejected", "duplicate"])
    chunks: list[list[bytes]] = []
    extra: list[bytes] = []
    row = 1
    for size in sizes:
        lines = []
        for _ in range(size):
            kind = draw(kinds)
            if kind == "rejected":
                lines.append(_line(row, "name: missing value", row_first=draw(st.booleans())))
            elif kind == "duplicate":
                extra.append(_line(row, "id: duplicate id, superseded by row 999"))
            row += 1
        chunks.append(lines)
    return chunks, extra


def _reference(chunks: list[list[bytes]], extra: list[bytes]) -> bytes:
    def rows(lines: list[bytes]) -> list[tuple[int, bytes]]:
        return [(json.loads(line)["row"], line) for line in lines]

    merged = heapq.merge(*(rows(c) for c in chunks), rows(extra), key=lambda item: item[0])
    return b"".join(line + b"\n" for _, line in merged)


@given(reports())
def test_merge_reports_equals_a_merge_by_row(case: tuple[list[list[bytes]], list[bytes]]) -> None:
    chunks, extra = case
    out = io.BytesIO()

    bodies = (b"".join(line + b"\n" for line in lines) for lines in chunks)
    count = rejects.merge_rejects(bodies, iter(extra), out)

    assert out.getvalue() == _reference(chunks, extra)
    assert count == sum(map(len, chunks)) + len(extra)


def _stage_files(s3: FakeS3, load_id: str, files: list[list[tuple[int, str, int]]]) -> str:
    """Write cleaned jobs CSV files (id, job, source row) and their manifest; return its URI."""
    entries = []
    for n, rows in enumerate(files):
        key = keys.clean_key("jobs", load_id, n)
        body = "".join(f'{i},"{job}",{row}\n' for i, job, row in rows).encode()
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        entries.append({"url": keys.s3_uri(BUCKET, key), "mandatory": True})
    manifest = keys.copy_manifest_key("jobs", load_id)
    storage.put_json(s3, BUCKET, manifest, {"entries": entries})
    return keys.s3_uri(BUCKET, manifest)


ids = st.integers(1, 12)


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.dictionaries(ids, st.text("abc", min_size=1, max_size=3), max_size=8),
    upload=st.lists(st.lists(ids, max_size=10), min_size=1, max_size=3),
)
def test_merge_manifest_keeps_the_last_row_of_each_id(
    before: dict[int, str], upload: list[list[int]]
) -> None:
    s3 = FakeS3(BUCKET)
    warehouse = DuckDBWarehouse(":memory:", s3)  # type: ignore[arg-type]
    try:
        warehouse.execute(sql.create_table(JOBS, "duckdb"))
        warehouse.execute(sql.create_ledger())
        for i, job in before.items():
            warehouse.execute('INSERT INTO "jobs" VALUES (?, ?)', [i, job])
        rows: list[tuple[int, str, int]] = []
        files = []
        for ids_in_file in upload:  # the source row is the line: the files are consecutive
            file = [
                (i, f"job {len(rows) + k + 1}", len(rows) + k + 1)
                for k, i in enumerate(ids_in_file)
            ]
            rows += file
            if file:  # the load leaves chunks without valid rows out of the manifest
                files.append(file)
        expected = dict(before)
        last: dict[int, int] = {}
        for i, job, row in rows:
            expected[i], last[i] = job, row
        pairs = sorted((row, last[i]) for i, _, row in rows if row != last[i])
        seen: list[list[tuple[int, int]]] = []

        def before_commit(superseded: list[tuple[int, int]]) -> Any:
            seen.append(superseded)

        uri = _stage_files(s3, "L1", files)
        merged = upsert.merge_manifest(warehouse, JOBS, uri, "L1", before_commit=before_commit)
        replay = upsert.merge_manifest(warehouse, JOBS, uri, "L1", before_commit=before_commit)

        assert warehouse.execute('SELECT "id", "job" FROM "jobs" ORDER BY "id"') == sorted(
            expected.items()
        )
        assert seen == [pairs]
        assert (merged.rows_loaded, merged.rows_superseded) == (len(last), len(pairs))
        assert replay.already_loaded and replay.rows_loaded == len(last)
    finally:
        warehouse.close()
