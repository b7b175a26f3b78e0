"""The split's read-ahead (order, errors, early stop) and the per-invocation memory release."""

from __future__ import annotations

import platform
import threading
from contextlib import closing
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib import memory
from chalicelib.chunk import _read_ahead

if TYPE_CHECKING:
    from collections.abc import Iterator


@given(st.lists(st.binary(max_size=20), max_size=30))
def test_read_ahead_yields_every_piece_in_order(pieces: list[bytes]) -> None:
    with closing(_read_ahead(iter(pieces))) as ahead:
        assert list(ahead) == pieces


def test_read_ahead_raises_a_reading_error_on_the_callers_thread() -> None:
    def pieces() -> Iterator[int]:
        yield 1
        raise ValueError("corrupt stream")

    seen = []
    with pytest.raises(ValueError, match="corrupt stream"), closing(_read_ahead(pieces())) as ahead:
        seen.extend(ahead)
    assert seen == [1]


def test_read_ahead_keeps_one_piece_ready_and_stops_when_the_caller_stops() -> None:
    produced: list[int] = []

    def pieces() -> Iterator[int]:
        for n in range(1000):
            produced.append(n)
            yield n

    with closing(_read_ahead(pieces())) as ahead:
        assert next(ahead) == 0
        # The producer may build the next piece and one more waiting for room; never more.
        threading.Event().wait(0.3)
        assert len(produced) <= 3
    threads = [t.name for t in threading.enumerate()]
    assert "split-read-ahead" not in threads
    assert len(produced) <= 3


def test_read_ahead_stops_the_reader_when_the_caller_fails() -> None:
    with pytest.raises(RuntimeError), closing(_read_ahead(iter(range(100)))) as ahead:
        for n in ahead:
            if n == 2:
                raise RuntimeError("upload refused")
    assert "split-read-ahead" not in [t.name for t in threading.enumerate()]


def test_memory_release_runs_around_an_invocation() -> None:
    with memory.per_invocation():
        junk = [bytes(2 * memory.MMAP_THRESHOLD) for _ in range(3)]
        del junk
    memory.release()
    assert memory.configure() == (platform.libc_ver()[0] == "glibc")
