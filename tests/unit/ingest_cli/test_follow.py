"""Following an upload, and the client's handling of URLs, error replies and file lists."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from ingest_cli.api import error_of, normalize_url
from ingest_cli.errors import EXIT_TIMEOUT, UsageError, WaitTimeoutError
from ingest_cli.follow import MAX_DELAY, follow


class FakeStatuses:
    """Answers status polls from a script, then repeats the last answer."""

    def __init__(self, *states: str) -> None:
        self.states = list(states)
        self.polls = 0

    def status(self, upload_id: str) -> dict[str, Any]:
        self.polls += 1
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"upload_id": upload_id, "state": state}


class Time:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("final", ["loaded", "failed"])
def test_follow_polls_until_a_final_state_and_shows_every_poll(final: str) -> None:
    api, time, seen = FakeStatuses("waiting", "processing", "processing", final), Time(), []
    status = follow(api, "u1", seen.append, clock=time.clock, sleep=time.sleep)
    assert status["state"] == final
    assert [s["state"] for s in seen] == ["waiting", "processing", "processing", final]
    assert len(time.sleeps) == 3


def test_follow_backs_off_to_a_bounded_delay_and_gives_up_at_the_timeout() -> None:
    api, time = FakeStatuses("processing"), Time()
    with pytest.raises(WaitTimeoutError) as raised:
        follow(api, "u1", lambda s: None, timeout=30, clock=time.clock, sleep=time.sleep)
    assert time.now >= 30 and max(time.sleeps) == MAX_DELAY
    assert time.sleeps == sorted(time.sleeps)
    assert raised.value.exit_code == EXIT_TIMEOUT
    assert raised.value.hint == "it carries on; follow it with: ingest status u1 --wait"


@pytest.mark.parametrize(
    ("typed", "root"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/api/v1/", "http://127.0.0.1:8000"),
        (" https://abc.execute-api.eu-west-1.amazonaws.com/api ", "https://abc.execute-api.eu-west-1.amazonaws.com/api"),
    ],
)  # fmt: skip
def test_normalize_url_accepts_the_root_with_or_without_the_version_prefix(
    typed: str, root: str
) -> None:
    assert normalize_url(typed) == root


@pytest.mark.parametrize("typed", ["localhost:8000", "ftp://host", "", "http://"])
def test_normalize_url_refuses_what_is_not_an_http_url(typed: str) -> None:
    with pytest.raises(UsageError):
        normalize_url(typed)


def reply(status: int, body: Any, reason: str = "") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = reason
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return response


OURS = {"error": {"code": "forbidden", "message": "wrong API key"}}
CHALICE = {"Code": "InternalServerError", "Message": "An internal server error occurred."}


@pytest.mark.parametrize(
    ("response", "message", "hinted"),
    [
        (reply(403, OURS), "wrong API key (HTTP 403 from GET /x)", True),
        (reply(403, {"message": "Forbidden"}), "Forbidden (HTTP 403 from GET /x)", True),
        (reply(500, CHALICE), "An internal server error occurred. (HTTP 500 from GET /x)", False),
        (reply(502, b"<html>\n bad\n</html>"), "<html> bad </html> (HTTP 502 from GET /x)", False),
        (reply(504, b"", "Gateway Timeout"), "Gateway Timeout (HTTP 504 from GET /x)", False),
    ],
)
def test_error_of_makes_one_line_from_any_error_body(
    response: requests.Response, message: str, hinted: bool
) -> None:
    error = error_of(response, "GET /x")
    assert error.message == message
    assert "\n" not in error.message
    assert (error.hint is not None) == hinted
    assert error.status == response.status_code
