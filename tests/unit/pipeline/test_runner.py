"""The stage runner: which objects start which stage, parsed once, and keys outside the layout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import storage
from chalicelib.pipeline import runner
from chalicelib.pipeline.runner import run_stage

if TYPE_CHECKING:
    from chalicelib.config import Settings


@pytest.mark.parametrize(
    ("stage", "key"),
    [
        ("split", "raw/nope/x.csv"),
        ("split", "raw/jobs/"),
        ("validate", "chunks/jobs/../x.rec"),
        ("validate", "raw/jobs/x.csv"),
        ("load", 'loads/jobs"; DROP TABLE jobs; --/20260101T000000Z-0123456789ab.json'),
    ],
)
def test_keys_outside_the_layout_are_ignored(
    s3: Any, settings: Settings, stage: runner.Stage, key: str
) -> None:
    calls: list[runner.StageEvent] = []
    assert run_stage(stage, s3, settings.bucket, key, None, calls.append) is None
    assert calls == []
    assert list(storage.list_keys(s3, settings.bucket, "")) == []


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("raw/jobs/a.csv", ("split", "jobs", None, None, "a.csv")),
        (
            "raw/jobs/20260101T000000Z-0123456789ab/a.csv",
            ("split", "jobs", "20260101T000000Z-0123456789ab", None, "a.csv"),
        ),
        (
            "chunks/jobs/20260101T000000Z-0123456789ab/000007.rec",
            ("validate", "jobs", "20260101T000000Z-0123456789ab", 7, None),
        ),
        (
            "loads/jobs/20260101T000000Z-0123456789ab.json",
            ("load", "jobs", "20260101T000000Z-0123456789ab", None, None),
        ),
    ],
)
def test_stage_keys_parse_once_into_events(
    key: str, expected: tuple[str, str, str | None, int | None, str | None]
) -> None:
    event = runner.parse_stage_key(key)
    assert event is not None and event.key == key
    assert (event.stage, event.table, event.upload_id, event.chunk, event.filename) == expected
