"""Chunk bodies: read back, they hold exactly the records iter_records finds, once, in order."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.csvfile.boundaries import MAX_RECORD_BYTES, Record, iter_records
from chalicelib.csvfile.chunkfile import (
    Chunk,
    Run,
    iter_chunks,
    iter_sections,
    record_texts,
    records_at,
)
from tests.csvfiles import files
from tests.properties import examples


def _reference(data: bytes) -> list[Record]:
    return list(iter_records(io.BytesIO(data)))


def _chunks(data: bytes, max_records: int, max_bytes: int, read_bytes: int) -> list[Chunk]:
    return list(iter_chunks(io.BytesIO(data), max_records, max_bytes, read_bytes=read_bytes))


def _records_of(chunk: Chunk) -> list[Record]:
    found: list[Record] = []
    for section in iter_sections(chunk.data):
        if isinstance(section, Record):
            found.append(section)
        else:
            found += iter_records(io.BytesIO(section.data), section.first_line)
    return found


@settings(max_examples=examples(400), deadline=None)
@given(
    files,
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=80),
    st.integers(min_value=1, max_value=40),
)
def test_chunks_hold_every_record_exactly_once_in_order(
    data: bytes, max_records: int, max_bytes: int, read_bytes: int
) -> None:
    chunks = _chunks(data, max_records, max_bytes, read_bytes)
    assert [r for chunk in chunks for r in _records_of(chunk)] == _reference(data)
    for chunk in chunks:
        held = _records_of(chunk)
        assert chunk.records == len(held) <= max_records
        assert (chunk.first_line, chunk.last_line) == (held[0].line, held[-1].line)
    # A chunk is short of max_records only when it is the last or reached the byte limit.
    for chunk in chunks[:-1]:
        assert chunk.records == max_records or len(chunk.data) >= max_bytes


@settings(max_examples=examples(400), deadline=None)
@given(files, st.integers(min_value=1, max_value=40))
def test_record_texts_read_runs_as_iter_records_does(data: bytes, read_bytes: int) -> None:
    for chunk in _chunks(data, 4, 10_000, read_bytes):
        for section in iter_sections(chunk.data):
            if isinstance(section, Record):
                continue
            expected = [
                (r.line, r.data) for r in iter_records(io.BytesIO(section.data), section.first_line)
            ]
            try:
                texts = list(record_texts(section))
            except UnicodeDecodeError:
                continue
            assert [(n, text.encode()) for n, text in texts] == expected


def test_runs_of_simple_lines_are_marked_so_readers_skip_the_quote_scan() -> None:
    data = b'1,a\r\n2,"b, c"\r\n3,"multi\nline"\n4,x"y\n'
    sections = list(iter_sections(_chunks(data, 100, 10_000, 4)[0].data))
    assert all(isinstance(s, Run) for s in sections)
    runs = [s for s in sections if isinstance(s, Run)]
    assert [(r.first_line, r.lines) for r in runs] == [(1, False)]
    simple = _chunks(b'1,a\r\n2,"b, c"\r\n', 100, 10_000, 4)[0]
    assert [(s.first_line, s.lines) for s in iter_sections(simple.data) if isinstance(s, Run)] == [
        (1, True)
    ]
    assert list(record_texts(Run(1, b'1,a\r\n2,"b, c"\r\n', lines=True))) == [
        (1, "1,a"),
        (2, '2,"b, c"'),
    ]


def test_long_records_are_stored_cut_and_the_lines_after_them_keep_their_numbers() -> None:
    long_line = b"9," + b"x" * (2 * MAX_RECORD_BYTES) + b"\n"
    unclosed = b'5,"never closed\n' + b"y\n" * 10
    data = b"1,a\n" + long_line + b"2,b\n" + unclosed
    chunks = _chunks(data, 2, 1 << 20, 1 << 20)
    assert [c.records for c in chunks] == [2, 2]
    held = [r for chunk in chunks for r in _records_of(chunk)]
    assert held == _reference(data)
    assert [(r.line, r.truncated) for r in held] == [(1, False), (2, True), (3, False), (4, False)]
    assert max(len(c.data) for c in chunks) < 2 * MAX_RECORD_BYTES


def test_a_huge_unquoted_line_is_cut_without_holding_it() -> None:
    data = b"1," + b"z" * (5 * 1024 * 1024) + b"\n2,b\n"
    chunks = _chunks(data, 10, 1 << 25, 1 << 16)
    held = _records_of(chunks[0])
    assert [(r.line, r.truncated, r.size) for r in held] == [
        (1, True, 5 * 1024 * 1024 + 2),
        (2, False, 3),
    ]
    assert len(chunks[0].data) < 2 * MAX_RECORD_BYTES


@pytest.mark.parametrize(
    "body",
    [b"X 1 2\nab", b"R 1 5\nab", b"R 1\nab", b"C 1 9 2\nabX", b"no header at all"],
)
def test_iter_sections_rejects_a_corrupt_chunk(body: bytes) -> None:
    with pytest.raises(ValueError, match="corrupt"):
        list(iter_sections(body))


def test_chunks_stop_at_the_line_that_crosses_the_byte_limit() -> None:
    data = b"1,abc\n" * 100
    chunks = _chunks(data, 1000, 60, 1 << 20)
    assert sum(c.records for c in chunks) == 100
    # 10 lines of 6 bytes reach the 60-byte limit; the next chunk starts on the 11th line.
    assert {c.records for c in chunks[:-1]} == {10}


@settings(max_examples=examples(200), deadline=None)
@given(files, st.sets(st.integers(min_value=1, max_value=40), max_size=8))
def test_records_at_finds_the_records_starting_on_given_lines(data: bytes, lines: set[int]) -> None:
    expected = [r for r in _reference(data) if r.line in lines]
    found: list[Record] = []
    for chunk in _chunks(data, 3, 10_000, 16):
        for section in iter_sections(chunk.data):
            if isinstance(section, Record):
                found += [section] if section.line in lines else []
            else:
                found += records_at(section, lines)
    assert found == expected
