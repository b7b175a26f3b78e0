"""The client's streamed request bodies: byte-exact, sized up front, and reporting progress."""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3 import encode_multipart_formdata

from ingest_cli.transfer import Cancelled, FileSlice, FormBody

if TYPE_CHECKING:
    from pathlib import Path

NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
FIELDS = st.dictionaries(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True).filter(lambda k: k != "file"),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    max_size=6,
)


def read_in(body: FormBody | FileSlice, sizes: list[int]) -> bytes:
    out = bytearray()
    for size in sizes:
        out += body.read(size)
    while block := body.read(7):
        out += block
    return bytes(out)


@settings(max_examples=60, deadline=None)
@given(
    fields=FIELDS,
    filename=NAMES,
    data=st.binary(max_size=3000),
    sizes=st.lists(st.integers(-1, 500), max_size=8),
)
def test_form_body_matches_urllib3_encoding_whatever_the_read_sizes(
    fields: dict[str, str], filename: str, data: bytes, sizes: list[int]
) -> None:
    sent: list[int] = []
    body = FormBody(fields, filename, io.BytesIO(data), len(data), sent.append, boundary="b0und")
    expected, content_type = encode_multipart_formdata(
        [*fields.items(), ("file", (filename, data, "application/octet-stream"))],
        boundary="b0und",
    )
    assert len(body) == len(expected)  # S3 needs the exact Content-Length before the body
    assert read_in(body, sizes) == expected
    assert body.content_type == content_type
    assert sum(sent) == len(data)  # progress counts file bytes, not the form around them


def test_form_body_iterates_in_blocks() -> None:
    data = bytes(range(256)) * 4000
    body = FormBody({"key": "k"}, "f.csv", io.BytesIO(data), len(data), lambda n: None)
    blocks = list(body)
    assert len(blocks) > 1 and b"".join(blocks).count(data) == 1


@pytest.mark.parametrize(("offset", "length"), [(0, 10), (5, 5), (9, 1), (0, 0)])
def test_file_slice_reads_exactly_its_window(tmp_path: Path, offset: int, length: int) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    sent: list[int] = []
    part = FileSlice(path, offset, length, sent.append, threading.Event())
    assert len(part) == length
    assert b"".join(part) == b"0123456789"[offset : offset + length]
    assert (part.sent, sum(sent)) == (length, length)
    part.close()


def test_file_slice_stops_when_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    cancelled = threading.Event()
    part = FileSlice(path, 0, 100, lambda n: None, cancelled)
    assert part.read(10) == b"x" * 10
    cancelled.set()
    with pytest.raises(Cancelled):
        part.read(10)
    part.close()
