"""Files read end to end, held to README.md's rules for files.

Each file is copied into raw/ with its options as object metadata and every S3 event it causes
is delivered to the app's own handlers (split, its hand-offs, validate, load) on the in-memory
S3 and DuckDB of ``tests/reliability``: files that were once read wrong.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import itertools
from dataclasses import dataclass, replace
from typing import Any

import pytest

from chalicelib import keys
from chalicelib.config import Settings
from chalicelib.tables import TABLES
from tests.reliability.fakes3 import FakeS3
from tests.reliability.harness import Bus
from tests.reliability.verdict import fresh_warehouse, outcome

BUCKET = "rules-bucket"
SETTINGS = Settings(bucket=BUCKET, chunk_rows=3)
_NAMES = itertools.count()


@dataclass(frozen=True)
class Result:
    """What the pipeline left for one file."""

    upload: Any
    clean: dict[int, tuple[Any, ...]]  # line → values of each cleaned row
    rejects: list[dict[str, Any]]
    table: list[tuple[Any, ...]]


def run(
    table: str, data: bytes, options: dict[str, str] | None = None, settings: Settings = SETTINGS
) -> Result:
    """Copy ``data`` into raw/<table>/ with ``options`` as metadata; run every stage."""
    s3 = FakeS3(BUCKET)
    warehouse = fresh_warehouse(s3)
    bus = Bus(s3, warehouse, settings)
    key = f"raw/{table}/file-{next(_NAMES)}.csv"
    bus.plan.stage = "upload"
    bus.s3.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata=options or {})
    bus.run()
    out = outcome(s3, warehouse, settings, table, key)
    warehouse.close()
    upload = out.upload
    kinds = [c.kind for c in TABLES[table].columns]
    clean: dict[int, tuple[Any, ...]] = {}
    for n in range(upload.chunks_total or 0):
        body = s3.get_object(Bucket=BUCKET, Key=keys.clean_key(table, upload.upload_id, n))
        for row in csv.reader(io.StringIO(body["Body"].read().decode(), newline="")):
            line = int(row[-1])
            assert line not in clean, f"line {line} cleaned twice"
            clean[line] = tuple(
                int(v) if k == "integer" else v for k, v in zip(kinds, row, strict=False)
            )
    return Result(upload, clean, out.report, sorted(out.table))


# The file-reading defects, each from the bytes that showed it.
_BIG_MEMBER = gzip.compress(b"1,A\n" + b"\n" * 2**21) + gzip.compress(b"2,B\n")
_UTF16_SALES = b"\xff\xfe1\x00,\x00S\x00a\x00l\x00e\x00s\x00\n\x00"
_UTF16_CUT = "1,Sales\n".encode("utf-16")


def test_a_multi_member_gzip_file_loads_each_row_once_with_the_files_line_numbers() -> None:
    # Blank lines are not rows, but chunks count them: 2,000,000 in chunks of 3 would be many.
    big = replace(SETTINGS, chunk_rows=250_000)
    got = run("departments", _BIG_MEMBER, {"header": "no"}, big)
    assert got.upload.state == "loaded", got.upload.error
    assert (got.upload.rows_total, got.upload.rows_valid, got.upload.rows_rejected) == (2, 2, 0)
    assert got.clean == {1: (1, "A"), 2**21 + 2: (2, "B")}
    assert got.rejects == []
    assert got.table == [(1, "A"), (2, "B")]
    # A larger member after it is read once too, not fed twice into the decompressor.
    data = gzip.compress(b"1,A\n" + b"\n" * 2**21) + gzip.compress(b"2,B\n" * 40_000)
    got = run("departments", data, {"header": "no"}, big)
    assert got.upload.state == "loaded", got.upload.error
    assert (got.upload.rows_total, got.upload.rows_valid) == (40_001, 2)


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_a_utf16_bom_is_honoured_whatever_encoding_says(encoding: str) -> None:
    got = run("departments", _UTF16_SALES, {"encoding": encoding})
    assert got.upload.detected["encoding"] == "utf-16"
    assert (got.clean, got.rejects) == ({1: (1, "Sales")}, [])


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_utf8_bom_hides_no_opening_quote(delimiter: str) -> None:
    data = '\ufeff"1,Sales\n2,HR\n'.replace(",", delimiter).encode()
    got = run("departments", data, {"delimiter": delimiter})
    assert got.clean == {}
    assert [r["row"] for r in got.rejects] == [1]
    assert "never closed" in got.rejects[0]["errors"][0]


def test_a_utf8_bom_does_not_end_a_quoted_header_early() -> None:
    got = run("departments", b'\xef\xbb\xbf"id\nx",department\n1,Sales\n', {"header": "yes"})
    assert got.upload.detected["header_skipped"] is True
    assert (got.clean, got.rejects) == ({3: (1, "Sales")}, [])


@pytest.mark.parametrize(
    ("data", "options"),
    [
        (gzip.compress(b"id,depart") + gzip.compress(b"ment\n1,Sales\n"), {}),
        (bz2.compress(b"id,depart") + bz2.compress(b"ment\n1,Sales\n"), {}),
        (gzip.compress(_UTF16_CUT[:1]) + gzip.compress(_UTF16_CUT[1:]), {}),
        (bz2.compress(_UTF16_CUT[:1]) + bz2.compress(_UTF16_CUT[1:]), {}),
    ],
    ids=["gzip header", "bzip2 header", "gzip utf-16 bom", "bzip2 utf-16 bom"],
)
def test_the_first_bytes_are_read_across_members(data: bytes, options: dict[str, str]) -> None:
    got = run("departments", data, options)
    assert got.upload.state == "loaded", got.upload.error
    line = 2 if got.upload.detected["header_skipped"] else 1
    assert (got.clean, got.rejects) == ({line: (1, "Sales")}, [])
    assert got.upload.detected["encoding"] == ("utf-8" if line == 2 else "utf-16")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_a_line_of_one_empty_quoted_field_is_a_row_in_every_separator(delimiter: str) -> None:
    data = f'1{delimiter}Sales\n""\n2{delimiter}HR\n'.encode()
    got = run("departments", data, {"delimiter": "tab" if delimiter == "\t" else delimiter})
    assert got.clean == {1: (1, "Sales"), 3: (2, "HR")}
    assert [(r["row"], r["raw"], r["errors"][0]) for r in got.rejects] == [
        (2, '""', "record: expected 2 fields, got 1")
    ]


def test_a_bom_alone_is_no_header() -> None:
    got = run("departments", b"\xef\xbb\xbf", {"header": "yes"})
    assert got.upload.detected["header_skipped"] is False
    assert got.upload.rows_total == 0


def test_a_superseded_first_row_shows_no_bom() -> None:
    got = run("departments", b"\xef\xbb\xbf1,Sales\n1,HR\n")
    assert got.rejects == [
        {"row": 1, "raw": "1,Sales", "errors": ["id: duplicate id, superseded by row 2"]}
    ]


def test_a_cr_at_the_very_end_of_the_file_ends_its_last_line() -> None:
    got = run("departments", b"1,Sales\r")
    assert (got.clean, got.rejects) == ({1: (1, "Sales")}, [])


@pytest.mark.parametrize("compressed", [False, True], ids=["ranges", "copied"])
@pytest.mark.parametrize(
    ("data", "header", "line", "skipped"),
    [
        (b"\n\r\nid,department\n1,Sales\n", "yes", 4, True),
        (b"\n\r\n ID ,Department\r\n1,Sales\n", "auto", 4, True),
        (b"\n\r\n1,Sales\n", "auto", 3, False),
        (b"\n\r\n1,Sales\n", "no", 3, False),
        (b"\xef\xbb\xbf\n\r\n", "yes", None, False),
        (b"\r", "yes", None, False),
    ],
)
def test_blank_lines_are_never_the_header(
    compressed: bool, data: bytes, header: str, line: int | None, skipped: bool
) -> None:
    got = run("departments", gzip.compress(data) if compressed else data, {"header": header})
    assert got.upload.detected["header_skipped"] is skipped
    assert (got.clean, got.rejects) == ({line: (1, "Sales")} if line else {}, [])
