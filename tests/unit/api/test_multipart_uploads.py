"""How a multipart upload is cut into parts: always within S3's limits, always covering the file."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.api.multipart_uploads import (
    DEFAULT_PART_BYTES,
    MAX_OBJECT_BYTES,
    MAX_PART_BYTES,
    MAX_PARTS,
    MIN_PART_BYTES,
    MiB,
    plan_parts,
)
from chalicelib.errors import InvalidRequestError


@pytest.mark.parametrize(
    ("size", "requested", "expected"),
    [
        (1, None, (DEFAULT_PART_BYTES, 1)),
        (DEFAULT_PART_BYTES, None, (DEFAULT_PART_BYTES, 1)),
        (DEFAULT_PART_BYTES + 1, None, (DEFAULT_PART_BYTES, 2)),
        (12 * MiB, 5 * MiB, (5 * MiB, 3)),
        # 10,000 parts of 64 MiB hold 625 GiB; a 1 TiB file needs 105 MiB parts.
        (1024**4, None, (105 * MiB, 9987)),
        (MAX_OBJECT_BYTES, None, (525 * MiB, 9987)),  # 5 TiB: 525 MiB parts
    ],
)
def test_plan_parts_cases(size: int, requested: int | None, expected: tuple[int, int]) -> None:
    assert plan_parts(size, requested) == expected


@given(
    size=st.integers(1, MAX_OBJECT_BYTES),
    requested=st.none() | st.integers(MIN_PART_BYTES, MAX_PART_BYTES),
)
def test_plan_parts_stays_within_s3_limits_and_covers_the_file(
    size: int, requested: int | None
) -> None:
    part_size, count = plan_parts(size, requested)
    assert MIN_PART_BYTES <= part_size <= MAX_PART_BYTES
    assert 1 <= count <= MAX_PARTS
    assert (count - 1) * part_size < size <= count * part_size  # no empty last part
    assert requested is None or part_size >= requested


@pytest.mark.parametrize(
    ("size", "requested"),
    [(0, None), (-5, None), (MAX_OBJECT_BYTES + 1, None), ("10", None), (True, None),
     (10, MIN_PART_BYTES - 1), (10, MAX_PART_BYTES + 1), (10, 5.5 * MiB)],
)  # fmt: skip
def test_plan_parts_refuses_sizes_s3_cannot_take(size: Any, requested: Any) -> None:
    with pytest.raises(InvalidRequestError):
        plan_parts(size, requested)
