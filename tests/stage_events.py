"""Turning an object key into the stage event its S3 notification would start, for tests."""

from __future__ import annotations

from chalicelib import keys


def stage_event(key: str) -> keys.StageEvent:
    """The parsed event for ``key``; the key must be one that starts a stage."""
    event = keys.parse_stage_key(key)
    assert event is not None, f"{key!r} starts no stage"
    return event
