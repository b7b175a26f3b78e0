"""The local dispatcher routes real S3 event payloads to handlers by prefix and suffix."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

import pytest
from chalice import Chalice

from devstack.dispatcher import Dispatcher
from tests.conftest import load_event
from tests.unit import process_app

if TYPE_CHECKING:
    from pathlib import Path

    from chalice.app import S3Event


class _NoQueue:
    """The dispatcher is driven directly here; it never polls."""


def _app(seen: list[tuple[str, str]]) -> Chalice:
    app = Chalice(app_name="dispatch-test")

    @app.on_s3_event(bucket="b", prefix="raw/")
    def on_raw(event: S3Event) -> None:
        seen.append(("raw", event.key))

    @app.on_s3_event(bucket="b", prefix="chunks/", suffix=".rec")
    def on_chunk(event: S3Event) -> None:
        seen.append(("chunk", event.key))

    return app


def _dispatcher(seen: list[tuple[str, str]]) -> Dispatcher:
    return Dispatcher(_NoQueue(), "queue", _app(seen), workers=1)  # type: ignore[arg-type]


def test_dispatch_calls_the_handler_whose_filter_matches_with_the_key_decoded() -> None:
    seen: list[tuple[str, str]] = []
    dispatcher = _dispatcher(seen)
    event: dict[str, Any] = load_event("s3_object_created", bucket="b", key="raw/jobs/my+file.csv")
    assert dispatcher.dispatch(event, "r1") == 1
    chunk = load_event("s3_object_created", bucket="b", key="chunks/jobs/x/00001.rec")
    other = load_event("s3_object_created", bucket="b", key="chunks/jobs/x/00001.csv")
    assert dispatcher.dispatch(chunk, "r2") == 1
    assert dispatcher.dispatch(other, "r3") == 0
    assert seen == [("raw", "raw/jobs/my file.csv"), ("chunk", "chunks/jobs/x/00001.rec")]


def test_dispatch_ignores_the_s3_test_event() -> None:
    seen: list[tuple[str, str]] = []
    assert _dispatcher(seen).dispatch(load_event("s3_test_event", bucket="b"), "r") == 0
    assert seen == []


def test_process_routes_run_in_worker_processes_and_the_rest_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(process_app.OUT_DIR, str(tmp_path))  # worker processes inherit it
    dispatcher = Dispatcher(
        _NoQueue(),  # type: ignore[arg-type]
        "queue",
        process_app.app,
        workers=2,
        app_module=process_app.__name__,
        process_routes=frozenset({"on_raw", "on_bad"}),
    )
    try:
        for key in ("raw/t/a.csv", "raw/t/b.csv", "loads/t/c.json"):
            assert (
                dispatcher.dispatch(load_event("s3_object_created", bucket="b", key=key), "r") == 1
            )
        with pytest.raises(ValueError, match="cannot handle bad/x"):
            dispatcher.dispatch(load_event("s3_object_created", bucket="b", key="bad/x"), "r")
    finally:
        dispatcher.stop()
    pids = {path.name: int(path.read_text()) for path in tmp_path.iterdir()}
    assert pids.keys() == {"raw-a.csv", "raw-b.csv", "load-c.json"}
    assert pids["load-c.json"] == os.getpid()
    assert os.getpid() not in (pids["raw-a.csv"], pids["raw-b.csv"])


def test_a_worker_that_dies_fails_its_event_and_the_next_event_gets_a_new_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(process_app.OUT_DIR, str(tmp_path))
    dispatcher = Dispatcher(
        _NoQueue(),  # type: ignore[arg-type]
        "queue",
        process_app.app,
        workers=1,
        app_module=process_app.__name__,
        process_routes=frozenset({"on_raw", "on_crash"}),
    )
    try:
        with pytest.raises(BrokenProcessPool):
            dispatcher.dispatch(load_event("s3_object_created", bucket="b", key="crash/x"), "r")
        assert dispatcher.dispatch(load_event("s3_object_created", bucket="b", key="raw/t/a"), "r")
    finally:
        dispatcher.stop()
    assert (tmp_path / "raw-a").read_text() != str(os.getpid())
