"""A small HTTP client for the API, as any user's script would write it (used by demo and tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from ingest_cli.api import PREFIX, REPORTS, route

if TYPE_CHECKING:
    from pathlib import Path


class ApiError(Exception):
    """The API answered with an error."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass
class ApiClient:
    base_url: str
    api_key: str
    timeout: float = 30.0

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = requests.request(
            method,
            f"{self.base_url}{path}",
            headers={"x-api-key": self.api_key},
            timeout=self.timeout,
            **kwargs,
        )
        body = reply.json() if reply.content else None
        if reply.status_code >= 400:
            raise ApiError(reply.status_code, body)
        return body

    def call(self, name: str, path_params: dict[str, str] | None = None, **kwargs: Any) -> Any:
        """The JSON reply of the API's route ``name`` (``ingest_cli/contract.py``)."""
        method, path = route(name, **(path_params or {}))
        return self._call(method, f"{PREFIX}{path}", **kwargs)

    def upload(self, table: str, path: Path) -> str:
        """Upload a file through a presigned POST; return its upload id."""
        size = path.stat().st_size
        body = {"table": table, "filename": path.name, "size": size}
        grant = self.call("create_upload", json=body)
        with path.open("rb") as handle:
            reply = requests.post(
                grant["url"],
                data=grant["fields"],
                files={"file": (path.name, handle)},
                timeout=self.timeout,
            )
        if reply.status_code >= 300:
            raise ApiError(reply.status_code, reply.text)
        return str(grant["upload_id"])

    def status(self, upload_id: str) -> dict[str, Any]:
        return dict(self.call("get_upload", {"upload_id": upload_id}))

    def wait(self, upload_id: str, timeout: float = 120.0, poll: float = 0.2) -> dict[str, Any]:
        """Poll every ``poll`` seconds until the upload is loaded or failed.

        Raises:
            TimeoutError: still processing after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(upload_id)
            if status["state"] in ("loaded", "failed"):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"upload {upload_id} still {status['state']} after {timeout}s")
            time.sleep(poll)

    def report(self, name: str, year: int) -> dict[str, Any]:
        return dict(self.call(REPORTS[name], params={"year": year}))

    def dead_letters(self) -> dict[str, int]:
        """Messages in each stage's dead-letter queue."""
        queues = self.call("list_dead_letters")["queues"]
        return {q["stage"]: int(q["messages"]) for q in queues}

    def redrive_dead_letters(self, stage: str = "all") -> dict[str, int]:
        """Send a stage's (or every stage's) dead letters back to its queue; moved per stage."""
        reply = self.call("redrive_dead_letters", json={"stage": stage})
        return dict(reply["moved"])
