"""A poisoned S3 event fails every delivery, lands in its stage's dead-letter queue, and is
re-driven once the fault is gone: the same queues, redrive policy and handlers as deployed."""

from __future__ import annotations

import io
import json
import threading
import time
from contextlib import redirect_stdout
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import providers
from devstack.client import ApiClient, ApiError
from ingest_cli.cli import main
from tests.stacks import running_stack

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from devstack.stack import LocalStack

KEY = "dead-letter-test-key"
MAX_RECEIVES = 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(
        tmp_path_factory.mktemp("stack"),
        key=KEY,
        workers=2,
        max_receives=MAX_RECEIVES,
        env={"INGEST_CHUNK_ROWS": "2"},
    ) as local:
        yield local


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> ApiClient:
    return ApiClient(stack.api_url, KEY)


class Throttled:
    """S3 answering SlowDown to every read of a jobs upload's state made by a stage handler
    (the load runs on the stack's handler threads; the API's own reads are left alone)."""

    def __init__(self) -> None:
        self.refused = 0

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        key = str(params.get("Key", ""))
        on_handler = threading.current_thread().name.startswith("lambda")
        if on_handler and key.startswith("uploads/jobs/") and key.endswith("state.json"):
            self.refused += 1
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, "GetObject")


def _ingest(stack: LocalStack, *args: str) -> str:
    """``ingest ARGS`` in-process against the stack; its standard output."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--api-url", stack.api_url, "--api-key", KEY, *args])
    assert code == 0
    return out.getvalue()


def _wait_for(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.2)


def test_a_poisoned_event_lands_in_the_dead_letter_queue_and_is_re_driven(
    stack: LocalStack, api: ApiClient, tmp_path: Path
) -> None:
    assert api.dead_letters() == {"split": 0, "validate": 0, "load": 0}
    csv = tmp_path / "jobs.csv"
    csv.write_text("1,Dev\n2,Manager\n3,Analyst\n")
    assert stack.app_module is not None
    events = providers.s3().meta.events
    throttled = Throttled()
    events.register("before-parameter-build.s3.GetObject", throttled)
    try:
        upload_id = api.upload("jobs", csv)
        _wait_for(lambda: api.dead_letters()["load"] == 1)
        stack.wait_idle()
        # Every delivery the queue allowed was made and failed; nothing else was dead-lettered.
        assert throttled.refused == MAX_RECEIVES
        assert api.dead_letters() == {"split": 0, "validate": 0, "load": 1}
        assert api.status(upload_id)["state"] == "processing"
    finally:
        events.unregister("before-parameter-build.s3.GetObject", throttled)

    # The operator's view and re-drive, through the CLI (the API underneath).
    listed = json.loads(_ingest(stack, "dead-letters", "--json"))
    assert {q["stage"]: q["messages"] for q in listed} == {"split": 0, "validate": 0, "load": 1}
    redriven = json.loads(_ingest(stack, "redrive-dead-letters", "--stage", "load", "--json"))
    assert redriven == {"moved": {"load": 1}}
    status = api.wait(upload_id, timeout=60)
    assert (status["state"], status["rows_valid"], status["rows_rejected"]) == ("loaded", 3, 0)
    assert api.dead_letters() == {"split": 0, "validate": 0, "load": 0}
    # An empty queue re-drives nothing; an unknown stage is refused.
    assert api.redrive_dead_letters() == {"split": 0, "validate": 0, "load": 0}
    with pytest.raises(ApiError) as refused:
        api.redrive_dead_letters("transform")
    assert refused.value.status == 400
