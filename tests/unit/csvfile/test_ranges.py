"""Byte-range plans: read back range by range, a file gives exactly the records it gives whole."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.csvfile.boundaries import Record, iter_records
from chalicelib.csvfile.decoding import UTF8_BOM, WithoutBom
from chalicelib.csvfile.delimiters import Delimited
from chalicelib.csvfile.ranges import Planner, Span
from tests.csvfiles import TOKENS, files
from tests.properties import examples


def _plan(
    data: bytes, max_records: int, max_bytes: int, read_bytes: int, delimiter: str = ","
) -> list[Span]:
    planner = Planner(io.BytesIO(data), delimiter=delimiter, skip_bom=True, read_bytes=read_bytes)
    return list(planner.spans(max_records, max_bytes))


def _records(data: bytes, first_line: int = 1) -> list[Record]:
    return list(iter_records(io.BytesIO(data), first_line))


def _check_cover(spans: list[Span], data: bytes, max_records: int) -> None:
    assert [s.start for s in spans[1:]] == [s.end for s in spans[:-1]]
    if spans:
        # A byte order mark is not text: the first range starts after it.
        assert spans[0].start == (len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0)
        assert spans[-1].end == len(data)
    assert all(0 < s.records <= max_records for s in spans)


@settings(max_examples=examples(500), deadline=None)
@given(
    files,
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=80),
    st.integers(min_value=1, max_value=40),
)
def test_ranges_hold_every_record_once_with_its_line(
    data: bytes, max_records: int, max_bytes: int, read_bytes: int
) -> None:
    spans = _plan(data, max_records, max_bytes, read_bytes)
    _check_cover(spans, data, max_records)
    found: list[Record] = []
    for span in spans:
        inside = _records(data[span.start : span.end], span.first_line)
        assert len(inside) == span.records
        assert inside[-1].line == span.last_line
        found += inside
    assert found == _records(WithoutBom(io.BytesIO(data)).read())


# The same soup with other delimiters in it: the plan must follow the upload's delimiter.
_OTHER = st.sampled_from([";", "\t", "|"])


@settings(max_examples=examples(400), deadline=None)
@given(
    st.data(),
    _OTHER,
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=80),
    st.integers(min_value=1, max_value=40),
)
def test_ranges_of_a_delimited_file_read_as_the_whole_file_does(
    data: st.DataObject, delimiter: str, max_records: int, max_bytes: int, read_bytes: int
) -> None:
    tokens = [*TOKENS, delimiter.encode(), b'%s"' % delimiter.encode()]
    line = st.lists(st.sampled_from(tokens), max_size=40).map(b"".join)
    raw = data.draw(st.lists(line, max_size=20).map(b"\n".join))
    spans = _plan(raw, max_records, max_bytes, read_bytes, delimiter)
    _check_cover(spans, raw, max_records)
    whole = _records(Delimited(WithoutBom(io.BytesIO(raw)), delimiter).read())
    pieces: list[Record] = []
    for span in spans:
        piece = Delimited(io.BytesIO(raw[span.start : span.end]), delimiter)
        pieces += _records(piece.read(), span.first_line)
    assert pieces == whole


def test_a_header_is_skipped_and_planning_goes_on_after_it() -> None:
    data = b'id,"na\nme"\n1,a\n2,b\n3,c'
    planner = Planner(io.BytesIO(data), read_bytes=3)
    assert planner.first_line_bytes(100) == b'id,"na'
    assert planner.skip_record()
    assert (planner.offset, planner.line) == (11, 3)
    spans = list(planner.spans(2, 1000))
    assert [(s.start, s.end, s.first_line, s.last_line, s.records) for s in spans] == [
        (11, 19, 3, 4, 2),
        (19, 22, 5, 5, 1),
    ]


def test_a_plan_resumed_from_a_boundary_goes_on_as_if_it_had_not_stopped() -> None:
    data = b"".join(b'%d,"x\n%d"\n' % (n, n) if n % 3 == 0 else b"%d,y\n" % n for n in range(50))
    whole = _plan(data, 4, 1000, 7)
    cut = whole[3]
    planner = Planner(io.BytesIO(data[cut.start :]), offset=cut.start, line=cut.first_line)
    assert list(planner.spans(4, 1000)) == whole[3:]


def test_a_huge_quoted_record_is_followed_without_holding_it() -> None:
    huge = b'1,"' + b"a\n" * 500_000 + b'",2\n'
    data = huge + b"3,b\n"
    planner = Planner(io.BytesIO(data), read_bytes=4096)
    spans = list(planner.spans(1, 10**9))
    assert [(s.first_line, s.records) for s in spans] == [(1, 1), (500_002, 1)]
    assert len(planner._data) <= 4096  # one block, not the record
