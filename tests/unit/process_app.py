"""A Chalice app for the dispatcher tests: its handlers say which process ran them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from chalice import Chalice

if TYPE_CHECKING:
    from chalice.app import S3Event

app = Chalice(app_name="process-test")
OUT_DIR = "DISPATCH_TEST_DIR"


def _record(name: str, event: S3Event) -> None:
    folder = Path(os.environ[OUT_DIR])
    (folder / f"{name}-{event.key.rsplit('/', 1)[-1]}").write_text(str(os.getpid()))


@app.on_s3_event(bucket="b", prefix="raw/")
def on_raw(event: S3Event) -> None:
    _record("raw", event)


@app.on_s3_event(bucket="b", prefix="loads/")
def on_load(event: S3Event) -> None:
    _record("load", event)


@app.on_s3_event(bucket="b", prefix="bad/")
def on_bad(event: S3Event) -> None:
    raise ValueError(f"cannot handle {event.key}")


@app.on_s3_event(bucket="b", prefix="crash/")
def on_crash(event: S3Event) -> None:
    os._exit(3)  # a worker that dies, as a Lambda container can
