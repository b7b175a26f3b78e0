"""Judging a plain range of the raw file line by line writes what the schema path writes.

``judge_range`` takes every line of a range as one record, without cutting the range into
records first; it must give up (None) whenever that reading could differ from the records the
split's reader finds, and otherwise write byte for byte the cleaned rows and rejects of the
schema path alone: files of lines near every boundary the schemas draw, with CRLF, blank lines,
quoted line breaks, lone CRs, bytes that are not UTF-8, records too long to keep and a last line
without its line break.
"""

from __future__ import annotations

import csv

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.csvfile.boundaries import MAX_RECORD_BYTES
from chalicelib.pipeline.chunks import PlainRange
from chalicelib.pipeline.validate import judge_chunk, judge_range
from chalicelib.tables import TABLES
from tests.properties import examples
from tests.unit.csvfile.test_fastpath import as_record, fields_for, reference_judgement

_ODD_LINES = [
    '7,"Ada\nLovelace",2021-07-27T16:02:08Z,2,3\n',  # a quoted line break: a record of two lines
    '7,"Ada\r\nLovelace",2021-07-27T16:02:08Z,2,3\r\n',
    "7,Ada\rLovelace,2021-07-27T16:02:08Z,2,3\n",  # a lone CR is data
    "7,Ada,2021-07-27T16:02:08Z,2,3\r",  # a CR just before the end of the file
    '7,"never closed,2021-07-27T16:02:08Z,2,3\n',
    "7,A\x00da,2021-07-27T16:02:08Z,2,3\n",
    "\ufeff7,Ada,2021-07-27T16:02:08Z,2,3\n",
    "7," + "x" * (MAX_RECORD_BYTES + 10) + ",2021-07-27T16:02:08Z,2,3\n",
    "\n",
    "\r\n",
]


def _line(table_name: str) -> st.SearchStrategy[bytes]:
    fields = fields_for(TABLES[table_name])
    written = st.tuples(
        fields,
        st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, None]),
        st.sampled_from(["\n", "\r\n"]),
    ).map(lambda t: ((",".join(t[0]) if t[1] is None else as_record(t[0], t[1])) + t[2]).encode())
    odd = st.sampled_from(_ODD_LINES).map(str.encode)
    not_utf8 = st.just(b"7,Ad\xe9,2021-07-27T16:02:08Z,2,3\n")
    return st.one_of(written, written, written, odd, not_utf8)


def _files(table_name: str) -> st.SearchStrategy[bytes]:
    return st.tuples(st.lists(_line(table_name), max_size=25), st.booleans()).map(
        lambda t: b"".join(t[0])[: -1 if t[1] and t[0] else None]  # maybe no last line break
    )


def _judged_by_stage(table: str, chunk: PlainRange) -> tuple[bytes, bytes, int, int]:
    """What validate does with a plain range: the line pass, else the range cut into records."""
    judged = judge_range(table, chunk) or judge_chunk(table, chunk.body())
    assert judged.rows_in == judged.rows_valid + judged.rows_rejected
    return judged.clean, judged.rejected, judged.rows_in, judged.rows_valid


@pytest.mark.parametrize("name", sorted(TABLES))
@settings(max_examples=examples(300), deadline=None)
@given(data=st.data())
def test_judge_range_writes_what_the_schema_path_writes_or_gives_up(
    name: str, data: st.DataObject
) -> None:
    body = data.draw(_files(name))
    table = TABLES[name]
    judged = judge_range(name, PlainRange(body, 1))
    expected = reference_judgement(table, body)
    if judged is not None:
        got = (judged.clean, judged.rejected, judged.rows_in, judged.rows_valid)
        assert got == expected
    assert _judged_by_stage(name, PlainRange(body, 1)) == expected


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(_line("hired_employees"), max_size=25), st.integers(1, 3000))
def test_judge_range_numbers_lines_from_the_ranges_first_line(
    lines: list[bytes], first: int
) -> None:
    body = b"".join(lines)
    judged = judge_range("hired_employees", PlainRange(body, first))
    if judged is None:
        return
    # The same rows as a file that had first - 1 blank lines before the range.
    clean, rejected, rows, valid = reference_judgement(
        TABLES["hired_employees"], b"\n" * (first - 1) + body
    )
    assert (judged.clean, judged.rejected, judged.rows_in, judged.rows_valid) == (
        clean,
        rejected,
        rows,
        valid,
    )


# The traps of vectorised casts and lenient readers, each beside a valid row.
TRAPS = [
    "12.5,Ada,2021-07-27T16:02:08Z,2,3",
    "1e3,Ada,2021-07-27T16:02:08Z,2,3",
    "+7,Ada,2021-07-27T16:02:08Z,2,3",
    "007,Ada,2021-07-27T16:02:08Z,2,3",
    "\u0663,Ada,2021-07-27T16:02:08Z,2,3",
    "\uff17,Ada,2021-07-27T16:02:08Z,2,3",
    "7,Ada,2021-02-30T10:00:00Z,2,3",
    "7,Ada,1900-02-29T10:00:00Z,2,3",
    "7,Ada,0000-01-01T10:00:00Z,2,3",
    "7,Ada,2021-07-27T24:00:00Z,2,3",
    "7,Ada,2021-07-27T23:59:60Z,2,3",
    "7,\u00a0\u2003,2021-07-27T16:02:08Z,2,3",
    "7,\u3000,2021-07-27T16:02:08Z,2,3",
    "7,Ada\u3000,2021-07-27T16:02:08Z,2,3",
    "7,\x1bAda,2021-07-27T16:02:08Z,2,3",
    "7,Ada\x85,2021-07-27T16:02:08Z,2,3",
    '7,"Ada",2021-07-27T16:02:08Z,2,3',
    '7,"Lovelace, Ada",2021-07-27T16:02:08Z,2,3',
    '7,"Say ""hi"", Ada",2021-07-27T16:02:08Z,2,3',
    "9223372036854775807,Ada,2021-07-27T16:02:08Z,2,3",
    "9223372036854775808,Ada,2021-07-27T16:02:08Z,2,3",
    "7,Ada,2021-07-27T16:02:08Z,2",
    "7,Ada,2021-07-27T16:02:08Z,2,3,4",
]


@pytest.mark.parametrize("trap", TRAPS)
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_judge_range_on_each_trap_agrees_with_the_schema_path(trap: str, ending: str) -> None:
    body = f"1,Ada Lovelace,2021-07-27T16:02:08Z,2,3{ending}{trap}{ending}".encode()
    judged = judge_range("hired_employees", PlainRange(body, 5))
    assert judged is not None  # one line, one record: nothing here needs the records cut
    expected = reference_judgement(TABLES["hired_employees"], b"\n" * 4 + body)
    assert (judged.clean, judged.rejected, judged.rows_in, judged.rows_valid) == expected


@pytest.mark.parametrize(
    "body",
    [
        b'7,"Ada\nLovelace",2021-07-27T16:02:08Z,2,3\n',
        b"7,Ad\xe9,2021-07-27T16:02:08Z,2,3\n",
        b"7," + b"x" * (MAX_RECORD_BYTES + 1) + b",2021-07-27T16:02:08Z,2,3\n",
    ],
)
def test_judge_range_gives_up_where_lines_are_not_records(body: bytes) -> None:
    assert judge_range("hired_employees", PlainRange(body, 1)) is None
