"""The local dispatcher routes real S3 event payloads to handlers by prefix and suffix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Chalice

from devstack.dispatcher import Dispatcher
from tests.conftest import load_event

if TYPE_CHECKING:
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
