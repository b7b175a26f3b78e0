"""Bad input: named nasty files and generated ones, each checked against an independent oracle.

For every file: no crash, ``rows_total == rows_valid + rows_rejected``, every bad row in the
rejected report exactly once with its line and a reason naming what is wrong, and the table
holding exactly the valid rows, the last one winning per id. Every SQL statement the load ran
names only allow-listed identifiers.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.config import Settings
from chalicelib.csvfile import chunkfile
from chalicelib.csvfile.options import FileOptions
from chalicelib.pipeline import rawfile, validate
from chalicelib.pipeline.split import CHUNK_MAX_BYTES
from chalicelib.pipeline.state import ChunkDone
from chalicelib.tables import TABLES
from chalicelib.warehouse.sql import LEDGER_TABLE, SOURCE_ROW
from tests.reliability.corpus import DATE_CASES, INT_CASES, corpus
from tests.reliability.fakes3 import FakeS3
from tests.reliability.harness import Bus
from tests.reliability.oracle import KINDS, expect
from tests.reliability.verdict import check, fresh_warehouse, observe, outcome

if TYPE_CHECKING:
    from tests.reliability.conftest import Cloud
    from tests.reliability.ledger import Ledger

_RUN = itertools.count()
SETTINGS = Settings(bucket="reliability-bucket", chunk_rows=4)
ALLOWED_IDENTIFIERS = (
    set(TABLES)
    | {c for t in TABLES.values() for c in t.column_names}
    | {f"{t}_{role}" for t in TABLES for role in ("staging", "superseded")}
    | {LEDGER_TABLE, SOURCE_ROW, "upload_id", "table_name", "rows_loaded", "rows_superseded"}
    | {"loaded_at"}
)


def run_file(
    table: str, data: bytes, s3: Any = None, settings: Settings = SETTINGS
) -> tuple[Any, Bus]:
    """Upload ``data`` into raw/<table>/ and deliver every event the stages cause, in order."""
    s3 = s3 if s3 is not None else FakeS3(settings.bucket)
    warehouse = fresh_warehouse(s3)
    bus = Bus(s3, warehouse, settings)
    key = f"raw/{table}/input-{next(_RUN)}.csv"
    bus.put(key, data)
    bus.run()
    out = outcome(s3, warehouse, settings, table, key)
    warehouse.close()
    return out, bus


def assert_allow_listed(statements: list[str]) -> None:
    assert statements
    for statement in statements:
        names = set(re.findall(r'"([^"]*)"', statement))
        assert names <= ALLOWED_IDENTIFIERS, (names - ALLOWED_IDENTIFIERS, statement)
        assert "'" not in statement, statement  # values travel as parameters, never as literals


@pytest.mark.parametrize(("name", "table", "data"), corpus(), ids=[c[0] for c in corpus()])
def test_pipeline_matches_the_oracle_on_nasty_files(
    reliability: Ledger, name: str, table: str, data: bytes
) -> None:
    expected = expect(table, data)
    out, bus = run_file(table, data)
    _record(reliability, f"corpus: {name}", expected, out)
    check(expected, out)
    assert_allow_listed(bus.warehouse.statements)
    assert not bus.dropped and bus.stats["retries"] == 0


def _record(reliability: Ledger, item: str, expected: Any, out: Any) -> None:
    figures = observe(expected, out)
    state = figures.pop("state")
    reliability.add("input", item, files=1, not_loaded=int(state != "loaded"), **figures)


# Generated files: rows built from field values near every rule's edge, quoted or not, with
# LF or CRLF per line, blank lines, a BOM, and broken fragments mixed in.
def _quote(value: str, force: bool) -> str:
    if force or any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


_TEXT = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\ue000"), max_size=8),
    st.sampled_from(["Ada", " Ada ", "   ", "a,b", 'say "hi"', "two\nlines", "a\rb", "x" * 257]),
)
_INT = st.one_of(
    st.integers(1, 12).map(str), st.sampled_from([c for c in INT_CASES if len(c) < 100])
)
_DATE = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ") if d.year >= 1000 else "x"),
    st.sampled_from([d for d in DATE_CASES if not d.startswith('"')]),
)
_FIELD = {"int": _INT, "text": _TEXT, "datetime": _DATE}
_FRAGMENTS = [
    b"\xff\xfe\x00",
    b'1,"a"b',
    b"id,name,datetime,department_id,job_id",
    b"1,Sa\x00les",
    b"\xc3\x28,x",
    b'9,"never closed',
    b"3,x\r4,y",
]


@st.composite
def files(draw: st.DrawFn) -> tuple[str, bytes]:
    table = draw(st.sampled_from(sorted(KINDS)))
    kinds = [k.split(":")[0] for k in KINDS[table]]
    lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["row"] * 6 + ["blank", "fragment"]))
        if kind == "blank":
            line = b""
        elif kind == "fragment":
            line = draw(st.sampled_from(_FRAGMENTS))
        else:
            values = [draw(_FIELD[k]) for k in kinds]
            width = draw(st.sampled_from([len(kinds)] * 8 + [len(kinds) - 1, len(kinds) + 1]))
            values = (values + ["1"])[:width]
            force = draw(st.booleans())
            line = ",".join(_quote(v, force) for v in values).encode()
        lines.append(line + draw(st.sampled_from([b"\n", b"\r\n"])))
    data = b"".join(lines)
    if data and draw(st.booleans()):
        data = data.rstrip(b"\r\n")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return table, data


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(files())
def test_pipeline_matches_the_oracle_on_generated_files(
    reliability: Ledger, file: tuple[str, bytes]
) -> None:
    table, data = file
    out, bus = run_file(table, data)
    expected = expect(table, data)
    _record(reliability, "generated files, whole pipeline (Hypothesis)", expected, out)
    check(expected, out)
    assert_allow_listed(bus.warehouse.statements)


def _clean_value(kind: str, text: str) -> Any:
    if kind == "int":
        return int(text)
    return text


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(files())
def test_split_and_validate_match_the_oracle_on_generated_files(
    reliability: Ledger, file: tuple[str, bytes]
) -> None:
    table, data = file
    expected = expect(table, data)
    # Split as the split stage does (small chunks, so records cross chunk edges), judge each.
    opened = rawfile.open_raw(io.BytesIO(data), table, FileOptions())
    judged = [
        validate.judge_chunk(table, piece.data)
        for piece in chunkfile.iter_chunks(
            opened.stream, 3, CHUNK_MAX_BYTES, first_line=opened.first_line
        )
    ]
    clean = io.StringIO("".join(j.clean.decode() for j in judged))
    rejected = io.StringIO("".join(j.rejected.decode() for j in judged))
    counts = ChunkDone(
        0,
        sum(j.rows_in for j in judged),
        sum(j.rows_valid for j in judged),
        sum(j.rows_rejected for j in judged),
    )
    kinds = [k.split(":")[0] for k in KINDS[table]]
    valid = {
        int(row[-1]): tuple(_clean_value(k, v) for k, v in zip(kinds, row[:-1], strict=True))
        for row in csv.reader(io.StringIO(clean.getvalue(), newline=""))
    }
    rejected_lines = [json.loads(line)["row"] for line in rejected.getvalue().split("\n") if line]
    want_valid = {r.line: r.values for r in expected.rows if r.values is not None}
    want_rejected = [r.line for r in expected.rows if r.values is None]
    lost = len(set(want_valid) - set(valid)) + len(set(want_rejected) - set(rejected_lines))
    lost += sum(1 for line, values in want_valid.items() if valid.get(line, values) != values)
    duplicates = (
        len(rejected_lines) - len(set(rejected_lines)) + len(set(valid) & set(rejected_lines))
    )
    reliability.add(
        "input",
        "generated files, split + validate only (Hypothesis)",
        files=1,
        rows=counts.rows_in,
        valid=counts.rows_valid,
        rejected=counts.rows_rejected,
        lost=lost,
        duplicates=duplicates,
    )
    assert (counts.rows_in, counts.rows_valid, counts.rows_rejected) == (
        expected.rows_total,
        len(want_valid),
        len(want_rejected),
    )
    assert valid == want_valid
    assert rejected_lines == want_rejected
    assert (lost, duplicates) == (0, 0)


MOTO_SAMPLE = [
    c
    for c in corpus()
    if c[0]
    in {
        "quoted commas, quotes and newlines",
        "non-UTF-8 bytes (latin-1)",
        "duplicate ids: last wins",
    }
]


@pytest.mark.parametrize(("name", "table", "data"), MOTO_SAMPLE, ids=[c[0] for c in MOTO_SAMPLE])
def test_fake_s3_agrees_with_moto(cloud: Cloud, name: str, table: str, data: bytes) -> None:
    on_moto, _ = run_file(table, data, cloud.s3, cloud.settings)
    on_fake, _ = run_file(table, data)
    ignore = {"upload_id", "created_at", "updated_at", "source_key", "source_etag", "filename"}

    def comparable(out: Any) -> tuple[Any, ...]:
        upload = {k: v for k, v in vars(out.upload).items() if k not in ignore}
        return upload, out.report, sorted(out.table), len(out.ledger)

    assert comparable(on_moto) == comparable(on_fake)
    check(expect(table, data), on_moto)
