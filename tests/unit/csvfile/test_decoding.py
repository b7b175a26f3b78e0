"""Reading raw files: what the bytes say, decompression, transcoding, delimiters, options."""

from __future__ import annotations

import bz2
import gzip
import io
import tracemalloc
from typing import Any

import pytest
import zstandard

from chalicelib.api.bodies import check_fields
from chalicelib.csvfile import chunkfile, decoding, options, sniff
from chalicelib.csvfile.delimiters import Delimited
from chalicelib.csvfile.options import FileOptions
from chalicelib.errors import InvalidRequestError, UnreadableFileError
from chalicelib.pipeline import rawfile
from chalicelib.pipeline.validate import judge_chunk
from tests.workbooks import workbook, zip_of


@pytest.mark.parametrize(
    ("head", "compression", "refusal"),
    [
        (b"1,Sales\n", None, None),
        (gzip.compress(b"1,a\n", mtime=0), "gzip", None),
        (bz2.compress(b"1,a\n"), "bzip2", None),
        (zstandard.ZstdCompressor().compress(b"1,a\n"), "zstd", None),
        (b"BZh", None, None),  # too short to be bzip2: text
        (
            workbook(),
            None,
            "Excel workbook (xlsx)",
        ),
        (zip_of("word/document.xml"), None, "Word document"),
        (zip_of("data.csv"), None, "zip archive; unzip it"),
        (b"PAR1\x15\x04", None, "Parquet"),
        (b"%PDF-1.7\n", None, "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", None, "Excel 97-2003"),
        (b"\xfd7zXZ\x00\x00", None, "xz-compressed"),
    ],
)
def test_sniff_tells_formats_by_their_bytes(
    head: bytes, compression: str | None, refusal: str | None
) -> None:
    found = sniff.sniff(head)
    assert found.compression == compression
    if refusal is None:
        assert found.refusal is None
    else:
        assert found.refusal is not None and refusal in found.refusal


def _open(blob: bytes, table: str = "departments", **given: Any) -> rawfile.OpenedFile:
    return rawfile.open_raw(io.BytesIO(blob), table, options.parse_options(given))


@pytest.mark.parametrize(
    ("blob", "given", "message"),
    [
        (zip_of("xl/workbook.xml"), {}, "looks like an Excel workbook (xlsx); save it as CSV"),
        (
            gzip.compress(zip_of("xl/workbook.xml"), mtime=0),
            {},
            "gzip data that looks like an Excel",
        ),
        (
            gzip.compress(gzip.compress(b"1,a\n", mtime=0), mtime=0),
            {},
            "compressed twice (gzip, then gzip)",
        ),
        (b"1,Sales\n", {"encoding": "utf-16"}, "needs a byte order mark"),
        (gzip.compress(b"1,Sales\n" * 1000, mtime=0)[:-20], {}, "gzip data ends early"),
        (bz2.compress(b"1,Sales\n" * 1000)[:-20], {}, "bzip2 data ends early"),
        (zstandard.ZstdCompressor().compress(b"1,Sales\n" * 1000)[:-5], {}, "zstd data ends early"),
        (b"\x1f\x8b\x08\x00garbage" * 10, {}, "gzip data is corrupt"),
    ],
)
def test_unreadable_files_fail_with_what_they_look_like(
    blob: bytes, given: dict[str, str], message: str
) -> None:
    with pytest.raises(UnreadableFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        opened = _open(blob, **given)
        opened.stream.read()


def _judge(blob: bytes, table: str = "departments", **given: Any) -> tuple[bytes, bytes]:
    opened = _open(blob, table, **given)
    body = b"".join(c.data for c in chunkfile.iter_chunks(opened.stream, 100, 1 << 20))
    judged = judge_chunk(table, body)
    return judged.clean, judged.rejected


def test_a_byte_the_encoding_lacks_rejects_its_row_only() -> None:
    # 0x81 is not a Windows-1252 character; 0xe9 is 'é'.
    clean, rejected = _judge(b"1,Caf\xe9\r\n2,Bad\x81Byte\r\n3,Ok\r\n", encoding="cp1252")
    assert clean == "1,Café,1\n3,Ok,3\n".encode()
    assert b'"row": 2' in rejected and b"not valid UTF-8" in rejected


def test_a_utf16_bom_is_honoured_without_the_option_and_both_byte_orders_read() -> None:
    text = "1,Café\n2,Ünïcode\n"
    expected = "1,Café,1\n2,Ünïcode,2\n".encode()
    assert _judge(text.encode("utf-16-le").join([b"\xff\xfe", b""]))[0] == expected
    assert _judge(b"\xfe\xff" + text.encode("utf-16-be"), encoding="utf-16")[0] == expected
    assert _open(text.encode("utf-16")).encoding == "utf-16"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (b'1;"Smith, Jr."\n', b'1,"Smith, Jr."\n'),
        (b"1;Smith, Jr.\r\n", b'1,"Smith, Jr."\r\n'),
        (b'1;"a;b"\n', b"1,a;b\n"),
        (b'1;O"Brien\n', b'1,"O""Brien"\n'),
        (b'1;"two\nlines"\n2;x', b'1,"two\nlines"\n2,x'),
        # A line of one quoted empty field is a (bad) row, not a blank line.
        (b'1;x\n""\n2;y\r\n""\r\n', b'1,x\n""\n2,y\r\n""\r\n'),
        (b'"";""\n', b",\n"),
        # Broken quoting keeps its breakage: delimiter and commas swap places.
        (b'1;"Sales",x\n2;y\n', b'1,"Sales";x\n2,y\n'),
        (b'1;"never closed\n2;y\n', b'1,"never closed\n2,y\n'),
    ],
)
def test_delimited_rewrites_records_into_the_comma_form(given: bytes, expected: bytes) -> None:
    assert Delimited(io.BytesIO(given), ";").read() == expected


def test_a_record_broken_by_its_quoting_stays_rejected_whatever_the_delimiter() -> None:
    # In the ';' file '"1",Sales' is one field with text after its closing quote; read
    # naively as commas it would be a valid row.
    clean, rejected = _judge(b'"1",Sales\n2;Legal\n', delimiter=";")
    assert clean == b"2,Legal,2\n"
    assert b"text after its closing quote" in rejected


def test_a_long_unclosed_quote_is_streamed_not_held() -> None:
    body = b'1;"' + b"x;" * 300_000 + b"\n2;y\n"
    out = Delimited(io.BytesIO(body), ";").read()
    assert len(out) == len(body) and out.startswith(b'1,"x,x,')


def test_filters_hold_little_memory_whatever_the_file_size() -> None:
    line = "12,Ünïcode name,2021-07-27T16:02:08Z,3,4\r\n"
    text = line * 600_000  # ~26 MB of text
    packed = gzip.compress(text.encode("utf-16"), compresslevel=1)
    del text
    tracemalloc.start()
    try:
        opened = _open(packed, "hired_employees", encoding="utf-16", delimiter=",")
        total = sum(len(block) for block in iter(lambda: opened.stream.read(1 << 20), b""))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == len(line.encode()) * 600_000
    assert peak < 12 * 1024 * 1024, peak


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, FileOptions("auto", "utf-8", ",")),
        (
            {"header": "YES", "encoding": "Windows-1252", "delimiter": "tab"},
            FileOptions("yes", "cp1252", "\t"),
        ),
        ({"encoding": "latin1", "delimiter": "\\t"}, FileOptions("auto", "latin-1", "\t")),
        ({"encoding": "UTF8", "delimiter": "|"}, FileOptions("auto", "utf-8", "|")),
    ],
)
def test_options_take_the_usual_spellings(given: dict[str, str], expected: FileOptions) -> None:
    assert options.parse_options(given) == expected


@pytest.mark.parametrize(
    ("given", "allowed"),
    [
        ({"header": "maybe"}, "header must be one of 'auto', 'yes', 'no'"),
        ({"encoding": "ebcdic"}, "encoding must be one of 'utf-8', 'utf-16', 'cp1252', 'latin-1'"),
        ({"delimiter": ":"}, "delimiter must be one of ',', ';', '\\t' (tab), '|'"),
        ({"delimiter": 5}, "delimiter must be one of"),
    ],
)
def test_unknown_option_values_name_the_allowed_ones(given: dict[str, Any], allowed: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        options.parse_options(given)
    assert allowed in raised.value.message


def test_options_from_object_metadata() -> None:
    found = options.from_metadata({"Encoding": "cp1252", "delimiter": ";", "other": "x"})
    assert found == FileOptions("auto", "cp1252", ";")
    with pytest.raises(InvalidRequestError, match="object metadata: header must be"):
        options.from_metadata({"header": "first"})


def test_unknown_fields_are_refused_by_name() -> None:
    check_fields({"table": "jobs"}, ("table", "size"))
    with pytest.raises(InvalidRequestError) as raised:
        check_fields({"table": "jobs", "encodng": "cp1252"}, ("table", "encoding"))
    assert raised.value.message == (
        "unknown field 'encodng' in the body; known fields: table, encoding"
    )


def test_a_zstd_bomb_is_read_in_bounded_memory() -> None:
    # 200 MiB of zeros in a few kilobytes: a zstd block of a few bytes stands for 128 KiB.
    bomb = zstandard.ZstdCompressor().compress(bytes(200 * 1024 * 1024))
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        source = decoding.decompressed(io.BytesIO(bomb), "zstd")
        total = sum(len(block) for block in iter(lambda: source.read(1 << 20), b""))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == 200 * 1024 * 1024
    assert peak < 40 * 1024 * 1024, peak


_COMPRESS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


@pytest.mark.parametrize("codec", sorted(_COMPRESS))
@pytest.mark.parametrize("first", [2**21, decoding.OUT_BYTES + 1, 3 * decoding.OUT_BYTES])
def test_a_member_larger_than_one_output_step_is_followed_by_the_next_once(
    codec: str, first: int
) -> None:
    # A first member that needs several output steps and compresses far better than 4:1: the
    # decompressor stops at the output limit with the next member's bytes still unread.
    members = [b"1,A\n" + b"\n" * first, b"2,B\n", b"3,C\n" * 50_000]
    blob = b"".join(_COMPRESS[codec](m) for m in members)
    out = decoding.decompressed(io.BytesIO(blob), codec).read()  # type: ignore[arg-type]
    assert out == b"".join(members)


@pytest.mark.parametrize("codec", sorted(_COMPRESS))
def test_the_first_bytes_are_judged_across_members(codec: str) -> None:
    compress = _COMPRESS[codec]
    # The header line cut between two members is still a header line.
    opened = _open(compress(b"id,depart") + compress(b"ment\n1,Sales\n"))
    assert (opened.header_skipped, opened.first_line) == (True, 2)
    assert opened.stream.read() == b"1,Sales\n"
    # A UTF-16 byte order mark cut between two members is still one.
    text = "1,Sales\n".encode("utf-16")
    opened = _open(compress(text[:1]) + compress(text[1:]))
    assert (opened.encoding, opened.stream.read()) == ("utf-16", b"1,Sales\n")


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "latin-1"])
def test_a_utf16_bom_wins_over_the_encoding_given(encoding: str) -> None:
    blob = b"\xff\xfe1\x00,\x00S\x00a\x00l\x00e\x00s\x00\n\x00"
    opened = _open(blob, encoding=encoding)
    assert (opened.encoding, opened.stream.read()) == ("utf-16", b"1,Sales\n")
    assert _judge(blob, encoding=encoding) == (b"1,Sales,1\n", b"")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (b"\xef\xbb\xbf1,x\n", b"1,x\n"),
        (b"\xef\xbb\xbf", b""),
        (b"\xef\xbb\xbf\xef\xbb\xbf1", b"\xef\xbb\xbf1"),  # only the first is a mark
        (b"\xef\xbb1", b"\xef\xbb1"),
        (b"1,\xef\xbb\xbf\n", b"1,\xef\xbb\xbf\n"),
        (b"", b""),
    ],
)
def test_without_bom_takes_off_the_mark_at_the_start_only(given: bytes, expected: bytes) -> None:
    assert decoding.WithoutBom(io.BytesIO(given)).read() == expected


class _Trickle:
    """A source that hands out one byte per read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int | None = -1, /) -> bytes:
        return self._data.read(1)


def test_without_bom_finds_the_mark_in_a_source_that_trickles() -> None:
    assert decoding.WithoutBom(_Trickle(b"\xef\xbb\xbf1,x\n")).read() == b"1,x\n"


@pytest.mark.parametrize(
    ("blob", "given", "rows"),
    [
        # The mark is not text: the quote after it opens the first field, in any separator,
        # and the field never closes (every line after it is read into it).
        (b'\xef\xbb\xbf"1,Sales\n2,HR\n', {}, b""),
        (b'\xef\xbb\xbf"1;Sales\n2;HR\n', {"delimiter": ";"}, b""),
        (b'\xef\xbb\xbf"1,Sales\n2,HR\n', {"encoding": "utf-16"}, None),
        (gzip.compress(b'\xef\xbb\xbf"1,Sales\n2,HR\n'), {}, b""),
        (b"\xef\xbb\xbf1,Sales\n2,HR\n", {}, b"1,Sales,1\n2,HR,2\n"),
    ],
    ids=["comma", "semicolon", "utf-16 asked", "gzip", "rows after it"],
)
def test_a_utf8_bom_hides_no_quote(blob: bytes, given: dict[str, str], rows: bytes | None) -> None:
    if rows is None:
        with pytest.raises(UnreadableFileError, match="byte order mark"):
            _open(blob, **given)
        return
    clean, rejected = _judge(blob, **given)
    assert clean == rows
    assert (b'"row": 1,' in rejected) is (rows == b"")
