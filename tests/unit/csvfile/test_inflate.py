"""gzip read from the middle: every restart point resumes to exactly the rest of the file."""

from __future__ import annotations

import gzip
import io
import random

import pytest

from chalicelib.csvfile import inflate
from chalicelib.csvfile.inflate import START, GzipReader, RestartPoint
from chalicelib.errors import UnreadableFileError


def _rows(count: int, seed: int = 5) -> bytes:
    rng = random.Random(seed)
    return b"".join(
        b"%d,Name %d,2021-03-01T10:00:00Z,%d,%d\n" % (n, rng.randrange(10**6), n % 5, n % 7)
        for n in range(count)
    )


def _read_all(reader: GzipReader, piece: int) -> tuple[bytes, list[RestartPoint]]:
    parts, points = [], []
    while data := reader.read(piece):
        parts.append(data)
        points.append(reader.restart_point(reader.out))
    return b"".join(parts), points


# Two members, compressed at different levels: `cat a.gz b.gz` is one gzip file.
DATA = _rows(120_000)
FILE = gzip.compress(DATA[:2_000_000], 6, mtime=0) + gzip.compress(DATA[2_000_000:], 1, mtime=0)


@pytest.fixture(autouse=True)
def _every_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """A restart point at every block end, so that every kind of block end is resumed from."""
    monkeypatch.setattr(inflate, "SPACING", 1)
    monkeypatch.setattr(inflate, "KEPT", 10_000)


def test_a_gzip_file_read_whole_is_its_data() -> None:
    data, points = _read_all(GzipReader(io.BytesIO(FILE)), 100_000)
    assert data == DATA
    # block ends fall at every bit of a byte; resuming must handle each
    assert {p.bits for p in points if p.in_member} == set(range(8))
    assert any(not p.in_member and p.out == 2_000_000 for p in points)  # the second member


def test_every_restart_point_resumes_to_the_rest_of_the_file() -> None:
    _, points = _read_all(GzipReader(io.BytesIO(FILE)), 65_536)
    seen = {p.out: p for p in points}
    assert len(seen) > 30
    for point in seen.values():
        again = RestartPoint.from_json(point.to_json())
        assert again == point
        resumed = GzipReader(io.BytesIO(FILE[again.read_from :]), again)
        assert resumed.read() == DATA[again.out :]


def test_a_restart_point_is_kept_for_a_reader_that_lags_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inflate, "SPACING", 64 * 1024)
    monkeypatch.setattr(inflate, "KEPT", 8)
    reader = GzipReader(io.BytesIO(FILE))
    while reader.out < 2_200_000:
        reader.read(100_000)
    behind = reader.restart_point(2_000_000)
    assert 2_000_000 - 300_000 < behind.out <= 2_000_000
    with pytest.raises(ValueError, match="no restart point"):
        reader.restart_point(100_000)  # not kept that far back
    with pytest.raises(ValueError, match="no restart point"):
        GzipReader(io.BytesIO(FILE[behind.read_from :]), behind).restart_point(behind.out - 1)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (FILE[: len(FILE) // 2], "ends early"),
        (FILE[:100] + b"x" * 50 + FILE[150:], "corrupt"),
        (FILE + b"\x00" * 10, "corrupt"),
    ],
)
def test_corrupt_or_truncated_data_is_refused(blob: bytes, message: str) -> None:
    with pytest.raises(UnreadableFileError, match=message):
        GzipReader(io.BytesIO(blob)).read()


def test_a_resumed_reader_still_checks_the_members_crc() -> None:
    _, points = _read_all(GzipReader(io.BytesIO(FILE)), 65_536)
    point = next(p for p in points if p.in_member and p.out > 1_000_000)
    first_end = len(gzip.compress(DATA[:2_000_000], 6, mtime=0))
    broken = bytearray(FILE)
    broken[first_end - 8] ^= 0xFF  # the first member's CRC-32
    with pytest.raises(UnreadableFileError, match="incorrect data check"):
        GzipReader(io.BytesIO(bytes(broken[point.read_from :])), point).read()
    with pytest.raises(UnreadableFileError, match="incorrect data check"):
        GzipReader(io.BytesIO(bytes(broken)), START).read()
