"""Files read end to end, held to README.md's rules as ``tests/file_rules.py`` reads them.

Each file is copied into raw/ with its options as object metadata and every S3 event it causes
is delivered to the app's own handlers (split, its hand-offs, validate, load) on the in-memory
S3 and DuckDB of ``tests/reliability``. The cases first (files that were once read wrong), then
files generated in every form: compressed in several members, re-encoded, other separators,
header modes, small chunks and split budgets that hand planning on after every chunk.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import itertools
import re
from dataclasses import dataclass, replace
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import keys
from chalicelib.config import Settings
from chalicelib.tables import TABLES
from tests import file_rules
from tests.properties import examples
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


@pytest.mark.slow
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


# Generated files. Characters near every rule: the separators, quotes, line breaks, spaces,
# accents, characters some encodings lack (the euro sign is not Latin-1, A-macron is in neither
# single-byte encoding), control characters (C0, DEL, C1), NUL, a line separator.
_CHARS = 'aZ09 ,;\t|"\n\r\xe9\xdf\u20ac\u0100\x1b\x07\x7f\x85\x9b\x00\u2028'
_TEXTS = ["Ada", " Ada ", "   ", "x" * 257, "Smith, Jr.", 'say "hi"', "two\nlines", "a\r\nb"]
_IDS = st.one_of(
    st.integers(1, 9).map(str),
    st.sampled_from(["", "0", "007", "+7", "7.0", " 7", "x", str(2**63 - 1), str(2**63)]),
)
_MOMENTS = st.sampled_from(
    [
        "2021-07-27T16:02:08Z",
        "2020-02-29T00:00:00Z",
        "2021-02-29T10:00:00Z",
        "2021-07-27 16:02:08",
        "2021-07-27T16:02:08z",
        "",
    ]
)
_BROKEN = ['"Smith"Jr', '"never closed']
# Stands for a byte the file's encoding does not define, placed when the file is encoded.
_BAD = "\ue000"
_BAD_BYTES = {
    "utf-8": b"\xff",
    "utf-8 bom": b"\xc3(",
    "cp1252": b"\x81",
    "latin-1": b"",  # Latin-1 defines every byte
    "utf-16-le": b"\x00\xd8",  # a lone high surrogate
    "utf-16-be": b"\xd8\x00",
}
_FORMS = sorted(_BAD_BYTES)
_OPTIONS = {
    "utf-8": ["utf-8", "utf-8", "utf-8", "utf-16"],
    "utf-8 bom": ["utf-8", "utf-8", "utf-16"],
    "cp1252": ["cp1252"],
    "latin-1": ["latin-1"],
    "utf-16-le": ["utf-16", "utf-8", "cp1252", "latin-1"],
    "utf-16-be": ["utf-16", "utf-8"],
}
_CODECS = {"utf-8": "utf-8", "utf-8 bom": "utf-8", "cp1252": "cp1252", "latin-1": "latin-1"}
_COMPRESS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}
# A line longer than one decompression step (1 MiB), so members end after an output limit.
_PADDING = "x" * (2**20 + 17)


def _writable(form: str, chars: str) -> str:
    codec = _CODECS.get(form, "utf-16")
    return "".join(c for c in chars if c.encode(codec, "ignore"))


@st.composite
def _record(draw: st.DrawFn, table: str, delimiter: str, form: str) -> str:
    kinds = [kind for _, kind in file_rules.COLUMNS[table]]
    texts = st.one_of(
        st.text(_writable(form, _CHARS), max_size=8),
        st.sampled_from([t for t in _TEXTS if _writable(form, t) == t]),
    )
    fields = {"id": _IDS, "text": texts, "datetime": _MOMENTS}
    values = [draw(fields[kind]) for kind in kinds]
    width = draw(st.sampled_from([len(kinds)] * 6 + [len(kinds) - 1, len(kinds) + 1]))
    values = (values + ["1"])[:width]
    quoting = draw(st.sampled_from(["needed", "needed", "all", "none"]))
    cells = []
    for value in values:
        special = any(c in value for c in (delimiter, '"', "\n", "\r"))
        quoted = quoting == "all" or (quoting == "needed" and special)
        cells.append('"' + value.replace('"', '""') + '"' if quoted else value)
    if draw(st.integers(0, 9)) == 0:
        cells[draw(st.integers(0, len(cells) - 1))] = draw(st.sampled_from(_BROKEN))
    if draw(st.integers(0, 9)) == 0:
        cells[0] = _BAD + cells[0]
    return delimiter.join(cells)


def _header(table: str, delimiter: str, variant: int) -> str:
    names = [name for name, _ in file_rules.COLUMNS[table]]
    if variant == 1:
        names = [f" {name.upper()} " for name in names]
    elif variant == 2:
        names = [f'"{name}"' for name in names]
    return delimiter.join(names)


@st.composite
def uploads(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str], Settings]:
    """(table, file, options as metadata, settings) of a file in one of its forms."""
    table = draw(st.sampled_from(sorted(file_rules.COLUMNS)))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    form = draw(st.sampled_from(_FORMS))
    line = st.one_of(
        _record(table, delimiter, form),
        st.just(""),
        st.integers(0, 2).map(lambda v: _header(table, delimiter, v)),
    )
    lines = draw(st.lists(line, max_size=10))
    if draw(st.booleans()):
        lines.insert(0, _header(table, delimiter, draw(st.integers(0, 2))))
    if draw(st.integers(0, 4)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), _PADDING)
    ends = [draw(st.sampled_from(["\n", "\r\n"])) for _ in lines]
    text = "".join(a + b for a, b in zip(lines, ends, strict=True))
    text = draw(st.sampled_from([text, text.rstrip("\r\n"), text.rstrip("\r\n") + "\r"]))
    pieces = text.split(_BAD)
    if form.startswith("utf-16"):
        bom = b"\xff\xfe" if form.endswith("le") else b"\xfe\xff"
        data = bom + _BAD_BYTES[form].join(p.encode(form) for p in pieces)
    else:
        data = _BAD_BYTES[form].join(p.encode(_CODECS[form]) for p in pieces)
        data = (b"\xef\xbb\xbf" if form == "utf-8 bom" else b"") + data
    options = {
        "header": draw(st.sampled_from(["auto", "yes", "no"])),
        "encoding": draw(st.sampled_from(_OPTIONS[form])),
        "delimiter": "tab" if delimiter == "\t" else delimiter,
    }
    compression = draw(st.sampled_from([None, "gzip", "bzip2", "zstd"]))
    if compression is not None:
        # Members cut anywhere, or at line ends (so a member may end just after the padding).
        ends = [m.end() for m in re.finditer(b"\n", data)] or [0]
        cut = st.one_of(st.integers(0, len(data)), st.sampled_from(ends))
        cuts = sorted(draw(st.lists(cut, max_size=2)))
        bounds = [0, *cuts, len(data)]
        data = b"".join(_COMPRESS[compression](data[a:b]) for a, b in itertools.pairwise(bounds))
        # Truncated, unless the options already fail the file (one fault at a time: which of
        # two the error names is the reader's choice).
        readable = options["encoding"] != "utf-16" or form.startswith("utf-16")
        if readable and draw(st.integers(0, 15)) == 0:
            data = data[: -draw(st.integers(1, 8))]
    spend = Settings(
        bucket=BUCKET,
        chunk_rows=draw(st.sampled_from([1, 2, 3, 7, 250_000])),
        max_invocation_bytes=draw(st.sampled_from([None, 1, 200])),
    )
    return table, data, options, spend


def check(expected: file_rules.Reading, got: Result) -> None:
    """Assert that what the pipeline left is what the README's rules give."""
    upload = got.upload
    if expected.failed is not None:
        assert upload.state == "failed", upload
        assert expected.failed in (upload.error or ""), (upload.error, expected.failed)
        return
    assert upload.state == "loaded", upload.error
    detected = upload.detected
    assert (detected["compression"], detected["encoding"], detected["header_skipped"]) == (
        expected.compression,
        expected.encoding,
        expected.header_skipped,
    )
    rows, final = len(expected.rows), len(expected.final)
    counts = (upload.rows_total, upload.rows_valid, upload.rows_rejected)
    assert counts == (rows, final, rows - final)
    assert got.clean == expected.valid
    assert got.table == sorted(expected.final.values())
    assert [entry["row"] for entry in got.rejects] == expected.bad_lines
    width = len(file_rules.COLUMNS[expected.table])
    by_line = {row.line: row for row in expected.rows}
    for entry in got.rejects:
        line, errors = entry["row"], entry["errors"]
        row = by_line[line]
        if line in expected.superseded:
            assert errors == [f"id: duplicate id, superseded by row {expected.superseded[line]}"]
        elif "record" in row.faults:
            assert errors[0].startswith("record: "), (entry, row)
            if row.fields:
                assert errors[0].startswith(f"record: expected {width} fields, got {row.fields}")
        else:
            assert {e.split(":", 1)[0] for e in errors} == row.faults, (entry, row)
            for column, point in row.controls.items():
                reason = next(e for e in errors if e.startswith(f"{column}:"))
                assert point in reason, (reason, point)
        if row.shown is not None and len(row.shown) <= 1000:
            assert entry["raw"] == row.shown, (entry, row)


@settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(uploads())
def test_every_form_of_a_file_is_read_as_the_readme_says(
    upload: tuple[str, bytes, dict[str, str], Settings],
) -> None:
    table, data, options, spend = upload
    delimiter = "\t" if options["delimiter"] == "tab" else options["delimiter"]
    expected = file_rules.read(table, data, options["header"], options["encoding"], delimiter)
    check(expected, run(table, data, options, spend))


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
