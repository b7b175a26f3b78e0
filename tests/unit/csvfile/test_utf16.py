"""UTF-16 as one byte per code unit: records are found where the decoded text has them."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.csvfile.boundaries import iter_records
from chalicelib.csvfile.ranges import Planner
from chalicelib.csvfile.utf16 import CodeUnits, codec, raw_offset, unit_at_or_after
from tests.properties import examples

# Text that drives the record finder through its states, with characters whose UTF-16 units
# hold the bytes of a line break, a quote or a comma (U+0A22, U+2C0A, U+220A), a surrogate pair
# and a lone surrogate's bytes.
_TEXT = st.lists(
    st.sampled_from(["a", ",", '"', '""', "\n", "\r\n", "\u0a22", "\u2c0a", "\u220a", "é", "😀"]),
    max_size=60,
).map("".join)


@settings(max_examples=examples(300), deadline=None)
@given(_TEXT, st.booleans(), st.integers(min_value=1, max_value=4), st.integers(1, 50))
def test_code_units_plan_the_records_the_decoded_text_has(
    text: str, big_endian: bool, records: int, grid: int
) -> None:
    raw = text.encode(codec(big_endian))
    units = CodeUnits(io.BytesIO(raw), big_endian=big_endian)
    spans = list(Planner(units, read_bytes=3).spans(records, grid))
    found = []
    for span in spans:
        piece = raw[span.start * 2 : span.end * 2].decode(codec(big_endian))
        found += [
            (r.line, r.data)
            for r in iter_records(io.BytesIO(piece.encode("utf-8")), span.first_line)
        ]
    whole = [(r.line, r.data) for r in iter_records(io.BytesIO(text.encode("utf-8")))]
    assert found == whole


def test_a_last_odd_byte_is_one_unit_and_offsets_map_back() -> None:
    raw = "1,a\n".encode("utf-16-le") + b"\x41"
    assert CodeUnits(io.BytesIO(raw), big_endian=False).read() == b"1,a\n\xff"
    size = 2 + len(raw)  # after a BOM
    assert [raw_offset(u, size) for u in (0, 4, 5)] == [2, 10, 11]
    assert [unit_at_or_after(o) for o in (0, 2, 3, 4)] == [0, 0, 1, 1]
