"""A file and each of its other forms give byte-identical chunks, cleaned rows and rejects.

The forms: gzip (also multi-member), bzip2 (also multi-stream), zstd (also several frames),
Windows-1252, Latin-1 and UTF-16 text, ``;``, tab and ``|`` separators, and a header line. Each
is read by the split stage's reader (``pipeline/rawfile.py``), cut into chunks and judged by the
validate stage's ``judge_chunk``; the comma-separated UTF-8 file is the reference.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
from typing import TYPE_CHECKING, Any

import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.csvfile import chunkfile
from chalicelib.csvfile.delimiters import Delimited
from chalicelib.csvfile.options import FileOptions
from chalicelib.pipeline import rawfile
from chalicelib.pipeline.validate import judge_chunk
from tests.properties import examples

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

TABLE = "hired_employees"
PLAIN = FileOptions()
HEADER = "id,name,datetime,department_id,job_id"
# Characters every single-byte encoding under test can write (no euro sign: not Latin-1), with
# the ones CSV cares about, accents, and controls (an ESC or a tab rejects its row, as a NUL
# does).
_ALPHABET = "abcXYZ 019,;\t|\"'-éÑüßÆ\xa0¿\x1b\x00\n"
_FIELDS = st.text(alphabet=_ALPHABET, max_size=12)
_IDS = st.one_of(st.integers(1, 60).map(str), st.sampled_from(["", "x", "07", "-1", "1.5"]))
_WHEN = st.one_of(
    st.sampled_from(["2021-07-27T16:02:08Z", "2021-02-28T00:00:00Z", "2020-12-31T23:59:59Z"]),
    st.sampled_from(["", "2021-02-30T10:00:00Z", "2021/07/27 16:02", "2021-07-27T16:02:08"]),
)
_ROW = st.tuples(_IDS, _FIELDS, _WHEN, _IDS, _IDS).map(list)
_ROWS = st.lists(
    st.one_of(_ROW, _ROW.map(lambda r: r[:3]), _ROW.map(lambda r: [*r, "extra"])),
    min_size=1,
    max_size=25,
)
# Records whose quoting is broken, as a comma file may hold them.
_BROKEN = st.sampled_from(
    ['9,"Smith"Jr,2021-07-27T16:02:08Z,1,1', '10,"never closed,2021-07-27T16:02:08Z,1,1']
)


def _write(rows: Sequence[Sequence[str]], delimiter: str = ",", newline: str = "\r\n") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return out.getvalue()


def _judged(
    blob: bytes, options: FileOptions = PLAIN
) -> tuple[list[bytes], list[bytes], list[bytes], bool]:
    """(chunk bodies, cleaned chunks, rejects of each chunk, header skipped) for a file."""
    opened = rawfile.open_raw(io.BytesIO(blob), TABLE, options)
    pieces = list(chunkfile.iter_chunks(opened.stream, 4, 1 << 20, first_line=opened.first_line))
    judged = [judge_chunk(TABLE, piece.data) for piece in pieces]
    return (
        [p.data for p in pieces],
        [j.clean for j in judged],
        [j.rejected for j in judged],
        opened.header_skipped,
    )


def _halves(data: bytes, cut: int, compress: Callable[[bytes], bytes]) -> bytes:
    cut = cut % (len(data) + 1)
    return compress(data[:cut]) + compress(data[cut:])


_ZSTD = zstandard.ZstdCompressor()
_FORMS = ["gzip", "gzip members", "bzip2", "bzip2 streams", "zstd", "zstd frames"]


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_ROWS, broken=st.lists(_BROKEN, max_size=2), cut=st.integers(0, 10_000))
def test_compressed_and_encoded_forms_give_identical_results(
    rows: list[list[str]], broken: list[str], cut: int
) -> None:
    text = _write(rows) + "".join(line + "\r\n" for line in broken)
    data = text.encode()
    reference = _judged(data)
    forms = {
        "gzip": gzip.compress(data),
        "gzip members": _halves(data, cut, gzip.compress),
        "bzip2": bz2.compress(data),
        "bzip2 streams": _halves(data, cut, bz2.compress),
        "zstd": _ZSTD.compress(data),
        "zstd frames": _halves(data, cut, _ZSTD.compress),
    }
    for name, blob in forms.items():
        assert _judged(blob) == reference, name
    for encoding in ("cp1252", "latin-1", "utf-16"):
        blob = text.encode(encoding)
        assert _judged(blob, FileOptions(encoding=encoding)) == reference, encoding
    assert _judged(gzip.compress(text.encode("utf-16"))) == reference, "utf-16 in gzip, by BOM"


@settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_ROWS, newline=st.sampled_from(["\r\n", "\n"]))
def test_delimited_forms_give_identical_results(rows: list[list[str]], newline: str) -> None:
    comma = _write(rows, ",", newline).encode()
    reference = _judged(comma)
    for delimiter in (";", "\t", "|"):
        blob = _write(rows, delimiter, newline).encode()
        # The rewrite gives back the very comma file Python's csv writer makes of the rows.
        assert Delimited(io.BytesIO(blob), delimiter).read() == comma, repr(delimiter)
        assert _judged(blob, FileOptions(delimiter=delimiter)) == reference, repr(delimiter)
        packed = gzip.compress(blob.decode().encode("utf-16"))
        options = FileOptions(encoding="utf-16", delimiter=delimiter)
        assert _judged(packed, options) == reference, f"{delimiter!r}, utf-16, gzip"


def _plain(
    cleaned: Sequence[bytes], rejected: Sequence[bytes], shift: int = 0
) -> tuple[list[Any], list[Any]]:
    """Cleaned rows and rejects, parsed, their line numbers less ``shift``."""
    rows = [
        [*row[:-1], int(row[-1]) - shift]
        for body in cleaned
        for row in csv.reader(io.StringIO(body.decode(), newline=""))
    ]
    rejects = [
        {**entry, "row": entry["row"] - shift}
        for body in rejected
        for entry in map(json.loads, body.decode().splitlines())
    ]
    return rows, rejects


def _shifted(cleaned: Sequence[bytes], rejected: Sequence[bytes]) -> tuple[list[Any], list[Any]]:
    """The same, for a file with a header line above the rows."""
    return _plain(cleaned, rejected, shift=1)


@settings(max_examples=examples(60), deadline=None)
@given(
    rows=_ROWS,
    header=st.sampled_from(
        [HEADER, " ID , Name,DATETIME,department_id ,Job_Id", f'"id",{HEADER[3:]}']
    ),
)
def test_a_header_line_is_skipped_and_row_numbers_stay_the_files(
    rows: list[list[str]], header: str
) -> None:
    body = _write(rows)
    _, cleaned, rejected, skipped = _judged(body.encode())
    assert not skipped
    for options in (FileOptions(), FileOptions(header="yes")):
        _, h_cleaned, h_rejected, h_skipped = _judged((header + "\r\n" + body).encode(), options)
        assert h_skipped
        assert _shifted(h_cleaned, h_rejected) == _plain(cleaned, rejected)
    # header=no: the header line is a row like any other (rejected: 'id' is no integer).
    _, _, n_rejected, n_skipped = _judged(
        (header + "\r\n" + body).encode(), FileOptions(header="no")
    )
    assert not n_skipped
    assert b'"row": 1,' in n_rejected[0]
