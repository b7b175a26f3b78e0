"""Upload state: finding an upload by its id alone, through the id index or without it."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import keys, storage
from chalicelib.errors import StateTransitionError, UploadNotFoundError
from chalicelib.pipeline import state

if TYPE_CHECKING:
    from chalicelib.config import Settings

UID = "20260101T000000Z-0123456789ab"


def _upload(table: str) -> state.Upload:
    now = state.now_iso()
    return state.Upload(UID, table, "waiting", now, now)


class _CountingS3:
    """Passes calls to moto's client and counts the objects read."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3
        self.reads: list[str] = []

    def get_object(self, **kwargs: Any) -> Any:
        self.reads.append(kwargs["Key"])
        return self._s3.get_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


@pytest.mark.parametrize("table", ["departments", "jobs", "hired_employees"])
def test_state_find_reads_the_index_then_the_state(s3: Any, settings: Settings, table: str) -> None:
    state.create(s3, settings.bucket, _upload(table))
    counting = _CountingS3(s3)
    found = state.find(counting, settings.bucket, UID)  # type: ignore[arg-type]
    assert (found.upload_id, found.table) == (UID, table)
    assert counting.reads == [keys.upload_index_key(UID), keys.state_key(table, UID)]


def test_state_find_without_an_index_looks_in_every_table(s3: Any, settings: Settings) -> None:
    upload = _upload("hired_employees")
    storage.put_json(s3, settings.bucket, keys.state_key("hired_employees", UID), asdict(upload))
    assert state.find(s3, settings.bucket, UID).table == "hired_employees"


def test_state_find_unknown_id_is_not_found(s3: Any, settings: Settings) -> None:
    with pytest.raises(UploadNotFoundError):
        state.find(s3, settings.bucket, UID)


def test_state_index_is_not_a_table_folder(s3: Any, settings: Settings) -> None:
    state.create(s3, settings.bucket, _upload("jobs"))
    listed = state.list_uploads(s3, settings.bucket)
    assert [(u.upload_id, u.table) for u in listed] == [(UID, "jobs")]


def test_state_finish_lets_one_of_two_finishers_through(s3: Any, settings: Settings) -> None:
    created = state.create(s3, settings.bucket, _upload("jobs"))
    loading = state.advance(s3, settings.bucket, created, "splitting")
    for step in ("validating", "loading"):
        loading = state.advance(s3, settings.bucket, loading, step)  # type: ignore[arg-type]
    # Both hold the same copy, as two invocations that saw the batch end would.
    first = state.finish(s3, settings.bucket, loading, rows_valid=3)
    second = state.finish(s3, settings.bucket, loading, rows_valid=99)
    assert first is not None and first.state == "loaded"
    assert second is None
    stored = state.read(s3, settings.bucket, "jobs", UID)
    assert stored is not None and stored.rows_valid == 3


def test_state_finish_refuses_an_upload_that_is_not_loading(s3: Any, settings: Settings) -> None:
    created = state.create(s3, settings.bucket, _upload("jobs"))
    with pytest.raises(StateTransitionError, match="cannot go from waiting to loaded"):
        state.finish(s3, settings.bucket, created)
