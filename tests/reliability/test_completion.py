"""Chunk completion: the tree of done markers, the load trigger written once, state moves that a
stale copy cannot undo. Run on the in-memory S3 fake (conditional writes included) and, for the
conditional writes themselves, on the local stack's S3 (the AWS emulator)."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import keys, storage
from chalicelib.errors import StateTransitionError
from chalicelib.pipeline import completion, state
from chalicelib.pipeline.state import ChunkDone, Upload
from tests.reliability.fakes3 import FakeS3

if TYPE_CHECKING:
    from tests.reliability.conftest import LocalS3

BUCKET = "reliability-bucket"
UID = "20261126T031500Z-0123456789ab"


def _upload(s3: Any, state_name: state.State = "splitting", total: int | None = None) -> Upload:
    now = state.now_iso()
    upload = Upload(UID, "jobs", state_name, now, now, chunks_total=total)
    state.create(s3, BUCKET, upload)
    return upload


def _finish_chunk(s3: Any, upload: Upload, n: int) -> bool:
    """What a chunk handler does when its chunk is validated."""
    completion.mark_chunk_done(s3, BUCKET, upload.table, upload.upload_id, ChunkDone(n, 1, 1, 0))
    return completion.request_load_if_complete(s3, BUCKET, upload, chunk=n)


def _finish_split(s3: Any, upload: Upload, total: int) -> bool:
    """What the split does once every chunk is written."""
    moved = state.advance(s3, BUCKET, upload, "validating", chunks_total=total)
    return completion.request_load_if_complete(s3, BUCKET, moved)


class _S3(FakeS3):
    """The fake, counting the writes of the load trigger that S3 accepted."""

    def __init__(self) -> None:
        super().__init__(BUCKET)
        self.trigger_writes = 0

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        reply = super().put_object(**kwargs)
        if kwargs["Key"] == keys.load_key("jobs", UID):
            with self._lock:
                self.trigger_writes += 1
        return reply


def _trigger_writes(s3: _S3) -> int:
    return s3.trigger_writes


@pytest.mark.parametrize("total", [1, 9, 10, 11, 100, 101, 345])
def test_completion_trigger_written_once_after_the_last_chunk(total: int) -> None:
    s3 = _S3()
    upload = _upload(s3, "validating", total)
    order = list(range(total))
    random.Random(total).shuffle(order)
    wrote = []
    for count, n in enumerate(order, 1):
        wrote.append(_finish_chunk(s3, upload, n))
        assert storage.exists(s3, BUCKET, keys.load_key("jobs", UID)) == (count == total)
    assert wrote == [False] * (total - 1) + [True]
    assert _trigger_writes(s3) == 1


@settings(max_examples=150, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=130),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    split_at=st.floats(min_value=0, max_value=1),
)
def test_completion_whatever_the_order_and_when_the_split_ends(
    total: int, seed: int, split_at: float
) -> None:
    """Chunks finish in any order, the split records the total at any point among them: the
    trigger appears exactly when the last chunk is done (or the split ends, if later), once."""
    s3 = _S3()
    upload = _upload(s3)
    order = list(range(total))
    random.Random(seed).shuffle(order)
    split_after = round(split_at * total)  # chunks done before the split records the total
    for count, n in enumerate(order, 1):
        _finish_chunk(s3, upload, n)
        if count == split_after:
            _finish_split(s3, upload, total)
        complete = count == total and 1 <= split_after <= count
        assert storage.exists(s3, BUCKET, keys.load_key("jobs", UID)) == complete
    if split_after == 0:
        _finish_split(s3, upload, total)
    assert storage.exists(s3, BUCKET, keys.load_key("jobs", UID))
    assert _trigger_writes(s3) == 1
    # A replayed event of every chunk and of the split changes nothing.
    for n in order:
        assert not completion.request_load_if_complete(s3, BUCKET, upload, chunk=n)
    assert not completion.request_load_if_complete(s3, BUCKET, upload)
    assert _trigger_writes(s3) == 1


def test_completion_lists_at_most_ten_keys_per_listing() -> None:
    s3 = _S3()
    upload = _upload(s3, "validating", 1000)
    listed: list[int] = []
    real_list = s3.list_objects_v2

    def counting_list(**kwargs: Any) -> dict[str, Any]:
        page = real_list(**kwargs)
        listed.append(len(page.get("Contents", [])))
        return page

    s3.list_objects_v2 = counting_list  # type: ignore[method-assign]
    order = list(range(1000))
    random.Random(7).shuffle(order)
    for n in order:
        _finish_chunk(s3, upload, n)
    assert _trigger_writes(s3) == 1
    assert max(listed) <= completion.FANOUT
    # One listing per chunk, plus one per node climbed (111 nodes below and at the root), plus
    # the few climbers that found a node already complete.
    assert len(listed) < 1000 + 2 * 111


def _finish_twice(
    s3: _S3, upload: Upload, n: int, barrier: threading.Barrier, results: list[bool]
) -> None:
    barrier.wait()
    results.append(_finish_chunk(s3, upload, n))
    results.append(completion.request_load_if_complete(s3, BUCKET, upload, chunk=n))


@pytest.mark.parametrize("total", [2, 10, 57])
def test_completion_two_finishers_racing_write_the_trigger_once(total: int) -> None:
    """Every chunk finishes at the same moment on its own thread, and all of them replayed."""
    for attempt in range(20):
        s3 = _S3()
        upload = _upload(s3, "validating", total)
        barrier = threading.Barrier(total)
        results: list[bool] = []
        threads = [
            threading.Thread(target=_finish_twice, args=(s3, upload, n, barrier, results))
            for n in range(total)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results.count(True) == 1, attempt
        assert keys.load_key("jobs", UID) in s3.keys(BUCKET)


def test_completion_only_one_conditional_write_succeeds_on_threads() -> None:
    s3 = _S3()
    barrier = threading.Barrier(8)
    won: list[bool] = []

    def write(i: int) -> None:
        barrier.wait()
        won.append(storage.put_json_if_absent(s3, BUCKET, "loads/jobs/x.json", {"by": i}))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False] * 7 + [True]


def test_completion_redrive_settles_nodes_left_by_a_handler_that_died() -> None:
    """Chunk 9, the last of its node, wrote its marker and died before climbing; chunk 31 never
    ran. Restarting 31 alone must still end in a trigger once the re-drive settled the tree."""
    s3 = _S3()
    upload = _upload(s3, "validating", 35)
    for n in range(35):
        if n == 9:
            completion.mark_chunk_done(s3, BUCKET, "jobs", UID, ChunkDone(n, 1, 1, 0))
        elif n != 31:
            _finish_chunk(s3, upload, n)
    assert not storage.exists(s3, BUCKET, keys.done_node_key("jobs", UID, 1, 0))
    done = [n for n in range(35) if n != 31]
    assert completion.settle_done_tree(s3, BUCKET, upload, done) == 3  # nodes 0, 1 and 2 of level 1
    assert _finish_chunk(s3, upload, 31)


def test_completion_no_trigger_unless_validating() -> None:
    s3 = _S3()
    upload = _upload(s3, "validating", 3)
    _finish_chunk(s3, upload, 0)
    _finish_chunk(s3, upload, 1)
    state.advance(s3, BUCKET, upload, "failed", error="chunk 2: injected")
    assert not _finish_chunk(s3, upload, 2)
    assert not storage.exists(s3, BUCKET, keys.load_key("jobs", UID))


def test_advance_refuses_a_stale_copy() -> None:
    """A second delivery of the raw event holds the upload as it was before the first one
    finished: its move back to validating must not overwrite ``loaded``."""
    s3 = _S3()
    stale = _upload(s3, "splitting")
    moved = state.advance(s3, BUCKET, stale, "validating", chunks_total=1)
    moved = state.advance(s3, BUCKET, moved, "loading")
    state.advance(s3, BUCKET, moved, "loaded", rows_total=1)
    with pytest.raises(StateTransitionError, match="from loaded to validating"):
        state.advance(s3, BUCKET, stale, "validating", chunks_total=1)
    stored = state.read(s3, BUCKET, "jobs", UID)
    assert stored is not None
    assert (stored.state, stored.rows_total) == ("loaded", 1)


def test_advance_keeps_what_another_writer_recorded() -> None:
    s3 = _S3()
    stale = _upload(s3, "splitting")
    state.advance(s3, BUCKET, stale, "validating", chunks_total=4)
    moved = state.advance(s3, BUCKET, replace(stale, chunks_total=None), "validating", stage="x")
    assert (moved.chunks_total, moved.stage) == (4, "x")


def test_create_keeps_an_upload_another_delivery_made() -> None:
    s3 = _S3()
    first = _upload(s3, "waiting")
    state.advance(s3, BUCKET, first, "splitting")
    again = state.create(s3, BUCKET, first)
    assert again.state == "splitting"


def test_conditional_writes_on_the_local_stack_s3(local_s3: LocalS3) -> None:
    """The local stack's S3 honours If-None-Match: * and If-Match on PutObject."""
    s3, bucket = local_s3.s3, local_s3.new_bucket()
    key = "uploads/jobs/conditional-test/state.json"
    assert storage.put_json_if_absent(s3, bucket, key, {"v": 1})
    assert not storage.put_json_if_absent(s3, bucket, key, {"v": 2})
    found = storage.get_json_and_etag(s3, bucket, key)
    assert found is not None
    assert found[0] == {"v": 1}
    assert storage.put_json_if_match(s3, bucket, key, {"v": 3}, found[1])
    assert not storage.put_json_if_match(s3, bucket, key, {"v": 4}, found[1])
    assert storage.get_json(s3, bucket, key) == {"v": 3}
    assert not storage.put_json_if_match(s3, bucket, key + ".missing", {"v": 5}, found[1])


def test_completion_ignores_a_chunk_the_split_did_not_make() -> None:
    """A chunk numbered past the recorded total (left by an older split, cut differently)
    completes nothing."""
    s3 = _S3()
    upload = _upload(s3, "validating", 3)
    _finish_chunk(s3, upload, 0)
    _finish_chunk(s3, upload, 1)
    assert not _finish_chunk(s3, upload, 57)
    assert not _finish_chunk(s3, upload, 3)
    assert not storage.exists(s3, BUCKET, keys.load_key("jobs", UID))
    assert _finish_chunk(s3, upload, 2)
