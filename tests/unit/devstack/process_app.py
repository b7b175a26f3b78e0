"""A Chalice app for the function host's tests: its handlers say which process ran them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from chalice import Chalice

from chalicelib.pipeline.triggers import s3_objects

if TYPE_CHECKING:
    from chalice.app import SQSEvent

app = Chalice(app_name="process-test")
OUT_DIR = "DISPATCH_TEST_DIR"


def _keys(event: SQSEvent) -> list[str]:
    return [obj.key for record in event for obj in s3_objects(record.body)]


def _record(name: str, event: SQSEvent) -> None:
    folder = Path(os.environ[OUT_DIR])
    for key in _keys(event):
        (folder / f"{name}-{key.rsplit('/', 1)[-1]}").write_text(str(os.getpid()))


@app.on_sqs_message(queue="raw")
def on_raw(event: SQSEvent) -> None:
    _record("raw", event)


@app.on_sqs_message(queue="loads")
def on_load(event: SQSEvent) -> None:
    _record("load", event)


@app.on_sqs_message(queue="bad")
def on_bad(event: SQSEvent) -> None:
    raise ValueError(f"cannot handle {_keys(event)[0]}")


@app.on_sqs_message(queue="crash")
def on_crash(event: SQSEvent) -> None:
    os._exit(3)  # a worker that dies, as a Lambda container can
