"""Finding records in a byte stream: property tests against the csv module, and edge cases."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.csvfile.boundaries import MAX_RECORD_BYTES, Record, iter_records
from chalicelib.csvfile.fields import parse_fields
from tests.properties import examples

field = st.text(alphabet=st.sampled_from(list('ab ,"\n\r\té€1')), max_size=12)
rows = st.lists(st.lists(field, min_size=1, max_size=5), min_size=0, max_size=30)


def _write(data: list[list[str]], terminator: str) -> bytes:
    out = io.StringIO()
    # csv.writer leaves a lone "\r" unquoted unless it is part of the line terminator.
    quoting = csv.QUOTE_MINIMAL if terminator == "\r\n" else csv.QUOTE_ALL
    csv.writer(out, lineterminator=terminator, quoting=quoting).writerows(data)
    return out.getvalue().encode()


def _records(data: bytes, first_line: int = 1) -> list[Record]:
    return list(iter_records(io.BufferedReader(io.BytesIO(data)), first_line))  # type: ignore[arg-type]


@settings(max_examples=examples(200), deadline=None)
@given(rows, st.sampled_from(["\n", "\r\n"]))
def test_iter_records_round_trips_csv_writer_output(data: list[list[str]], terminator: str) -> None:
    records = _records(_write(data, terminator))
    assert [parse_fields(r.data.decode()) for r in records] == data


@settings(max_examples=examples(200), deadline=None)
@given(rows, st.sampled_from(["\n", "\r\n"]))
def test_iter_records_reports_the_line_each_record_starts_on(
    data: list[list[str]], terminator: str
) -> None:
    expected, line = [], 1
    for row in data:
        expected.append(line)
        line += _write([row], terminator).count(b"\n")
    assert [r.line for r in _records(_write(data, terminator))] == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"1,a", [(1, b"1,a")]),
        (b"1,a\r\n2,b", [(1, b"1,a"), (2, b"2,b")]),
        (b"1,a\n\n2,b\n", [(1, b"1,a"), (2, b""), (3, b"2,b")]),
        (b'1,"x\ny"\n2,b\n', [(1, b'1,"x\ny"'), (3, b"2,b")]),
        (b'1,ab"c\n2,b\n', [(1, b'1,ab"c'), (2, b"2,b")]),  # a quote mid-field is literal
        (b'1,"a""b"\n', [(1, b'1,"a""b"')]),
        (b"\xef\xbb\xbf1,a\n", [(1, b"\xef\xbb\xbf1,a")]),
        (b"1,\xff\n", [(1, b"1,\xff")]),
        (b"1,a\r", [(1, b"1,a")]),
    ],
)
def test_iter_records_cases(data: bytes, expected: list[tuple[int, bytes]]) -> None:
    assert [(r.line, r.data) for r in _records(data)] == expected


def test_iter_records_cuts_long_records_but_keeps_counting_lines() -> None:
    long_line = b"9," + b"x" * (3 * MAX_RECORD_BYTES) + b"\n"
    unclosed = b'5,"never closed\n' + b"y\n" * 10
    records = _records(b"1,a\n" + long_line + b"2,b\n" + unclosed)
    assert [(r.line, r.truncated) for r in records] == [
        (1, False),
        (2, True),
        (3, False),
        (4, False),
    ]
    assert len(records[1].data) == MAX_RECORD_BYTES
    assert records[1].size == len(long_line) - 1
    assert records[3].data.count(b"\n") == 11  # swallowed to the end, as csv would
