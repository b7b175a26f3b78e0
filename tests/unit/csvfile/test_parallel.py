"""Parts planned apart and chained: the same spans as one reader of the whole file."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib.csvfile.boundaries import Record, iter_records
from chalicelib.csvfile.decoding import UTF8_BOM, WithoutBom
from chalicelib.csvfile.parallel import PartSummary, chain, line_start_at_or_after, plan_part
from chalicelib.csvfile.ranges import Planner, Span
from tests.csvfiles import TOKENS, files
from tests.properties import examples


def _sequential(data: bytes, records: int, grid: int, delimiter: str = ",") -> list[Span]:
    planner = Planner(io.BytesIO(data), delimiter=delimiter, skip_bom=True, read_bytes=7)
    return list(planner.spans(records, grid))


def _parts(
    data: bytes, records: int, grid: int, cells: int, delimiter: str = ","
) -> list[PartSummary]:
    """Every part of ``cells`` grid cells, each planned from its own bytes only."""
    start = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    size, step = len(data), grid * cells
    cuts = [start]
    for a in range(step, size, step):
        if a > start:
            cuts.append(line_start_at_or_after(data[a - 1 : data.find(b"\n", a) + 1 or size], a))
    cuts.append(size)
    parts = []
    for i, (s, e) in enumerate(zip(cuts, cuts[1:], strict=False)):
        if s >= e:
            continue
        parts.append(
            plan_part(
                lambda s=s, e=e: io.BytesIO(data[s:e]),  # type: ignore[misc]
                (s, e),
                first=i == 0,
                last=e == size,
                max_records=records,
                max_bytes=grid,
                delimiter=delimiter,
            )
        )
    return parts


def _records(data: bytes, first_line: int = 1) -> list[Record]:
    return list(iter_records(io.BytesIO(data), first_line))


@settings(max_examples=examples(600), deadline=None)
@given(
    files,
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=1, max_value=4),
)
# A byte order mark as long as a grid cell: the data's first cell starts after it.
@example(UTF8_BOM + b"\na", 2, 3, 1)
def test_parallel_plan_is_the_sequential_plan_for_any_file_and_range_size(
    data: bytes, records: int, grid: int, cells: int
) -> None:
    expected = _sequential(data, records, grid)
    parts = _parts(data, records, grid, cells)
    assert chain(parts, 1) == expected
    # and both hold every record of the file once, with its line
    found: list[Record] = []
    for span in expected:
        found += _records(data[span.start : span.end], span.first_line)
    assert found == _records(WithoutBom(io.BytesIO(data)).read())


@settings(max_examples=examples(300), deadline=None)
@given(
    st.data(),
    st.sampled_from([";", "\t", "|"]),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=1, max_value=3),
)
def test_parallel_plan_follows_the_uploads_delimiter(
    data: st.DataObject, delimiter: str, records: int, grid: int, cells: int
) -> None:
    tokens = [*TOKENS, delimiter.encode(), b'%s"' % delimiter.encode()]
    line = st.lists(st.sampled_from(tokens), max_size=40).map(b"".join)
    raw = data.draw(st.lists(line, max_size=20).map(b"\n".join))
    assert chain(_parts(raw, records, grid, cells, delimiter), 1) == _sequential(
        raw, records, grid, delimiter
    )


@settings(max_examples=examples(200), deadline=None)
@given(files, st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=30))
def test_summaries_survive_their_json_form(data: bytes, records: int, grid: int) -> None:
    parts = _parts(data, records, grid, 1)
    again = [PartSummary.from_json(p.to_json()) for p in parts]
    assert again == parts


def test_a_quoted_record_longer_than_many_parts_is_followed() -> None:
    body = b'1,"' + b"x\n" * 400 + b'",2\n'
    data = b"0,a\n" + body + b"3,b\n4,c\n"
    for cells in (1, 2, 5):
        assert chain(_parts(data, 2, 16, cells), 1) == _sequential(data, 2, 16)
    spans = _sequential(data, 2, 16)
    assert [(s.first_line, s.last_line, s.records) for s in spans] == [
        (1, 2, 2),
        (403, 404, 2),
    ]


def test_a_file_of_realistic_rows_chains_the_same_at_every_range_size() -> None:
    rng = random.Random(7)
    lines = []
    for n in range(3000):
        name = rng.choice([b"Ann", b'"Doe, J"', b'"Multi\nLine"', b'"say ""hi"""'])
        lines.append(b"%d,%s,2021-01-01T00:00:00Z,1,2\r\n" % (n, name))
    data = b"".join(lines)
    expected = _sequential(data, 97, 1024)
    for cells in (1, 3, 8, 1000):
        assert chain(_parts(data, 97, 1024, cells), 1) == expected


def test_chain_refuses_parts_that_do_not_follow_each_other() -> None:
    data = b"1,a\n2,b\n3,c\n4,d\n"
    parts = _parts(data, 1, 4, 1)
    with pytest.raises(ValueError, match="not where the one before ended"):
        chain([parts[0], parts[2]], 1)
