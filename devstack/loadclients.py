"""The client side of the load test: many clients at once, each counting what it observed.

Each client (a thread) opens a new connection per request, as a burst of browsers or scripts
would: a health check, then either an upload (a presigned one: grant from the API, file POSTed
to the stack's S3; or a form upload straight to the API) and a status read, or reads (the
uploads listing, a report, the OpenAPI document). All start at once; each request has a
timeout, and none starts after the deadline. ``devstack.loadtest`` runs this in a child process
and judges the result.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import requests

TABLE = "jobs"
ROWS_PER_FILE = 20
FIRST_ID = 7_000_000  # ids of the rows sent, clear of anything else in the stack's table


def classify(exc: BaseException) -> str:
    """A short name for a failed request: connection reset/refused/closed, timeout, other."""
    text = repr(exc)
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if "reset" in text.lower():
        return "connection reset"
    if "refused" in text.lower():
        return "connection refused"
    if "RemoteDisconnected" in text or "aborted" in text.lower():
        return "connection closed without reply"
    return type(exc).__name__


_UPLOAD_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}")


def _kind(method: str, url: str, api: bool) -> str:
    """What a request was, for latencies by kind: the route with ids taken out, or S3."""
    if not api:
        return f"{method} presigned (S3)"
    return f"{method} {_UPLOAD_ID.sub('{id}', urlsplit(url).path)}"


def row_name(row_id: int) -> str:
    """The ``job`` value of row ``row_id`` in the files the clients send."""
    return f"load row {row_id}"


def file_rows(first_id: int, client: int) -> dict[int, str]:
    """The rows of the file client number ``client`` uploads (ids unique across the run)."""
    first = first_id + client * ROWS_PER_FILE
    return {i: row_name(i) for i in range(first, first + ROWS_PER_FILE)}


def _csv(rows: dict[int, str]) -> bytes:
    return "".join(f"{i},{name}\n" for i, name in rows.items()).encode()


class _Run:
    """Shared tallies of one run (clients are threads)."""

    def __init__(
        self, api_url: str, api_key: str, timeout: float, deadline: float, first_id: int
    ) -> None:
        self.first_id = first_id
        self.api_url = api_url
        self.headers = {"x-api-key": api_key}
        self.timeout = timeout
        self.deadline = deadline
        self.lock = threading.Lock()
        self.api_ms: list[float] = []
        self.ms_by_kind: dict[str, list[float]] = {}
        self.errors: Counter[str] = Counter()
        self.requests = self.ok = self.unsent = 0
        self.accepted: dict[str, dict[int, str]] = {}

    def call(self, method: str, url: str, *, api: bool = True, **kwargs: Any) -> Any | None:
        """One request on a new connection; None (and the error counted) unless it worked."""
        if time.monotonic() > self.deadline:
            with self.lock:
                self.unsent += 1
            return None
        headers = self.headers if api else {}
        started = time.perf_counter()
        try:
            reply = requests.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            error = None if reply.status_code < 400 else f"HTTP {reply.status_code}"
        except requests.RequestException as exc:
            reply, error = None, classify(exc)
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.requests += 1
            if api:
                self.api_ms.append(elapsed)
            self.ms_by_kind.setdefault(_kind(method, url, api), []).append(elapsed)
            if error is None:
                self.ok += 1
            else:
                self.errors[error] += 1
        return reply if error is None else None

    def client(self, number: int, start: threading.Barrier, upload: str | None) -> None:
        start.wait()
        api = f"{self.api_url}/api/v1"
        self.call("GET", f"{api}/health")
        if upload is None:
            self.call("GET", f"{api}/uploads", params={"table": TABLE})
            self.call("GET", f"{api}/reports/hires-by-quarter", params={"year": 2021})
            self.call("GET", f"{api}/openapi.json")
            return
        rows = file_rows(self.first_id, number)
        body = _csv(rows)
        name = f"load-{number}.csv"
        upload_id = None
        if upload == "presigned":  # the grant from the API, the file to S3
            size = len(body)
            grant = self.call(
                "POST", f"{api}/uploads", json={"table": TABLE, "filename": name, "size": size}
            )
            fields = grant.json() if grant is not None else None
            if fields is not None and self.call(
                "POST",
                fields["url"],
                api=False,
                data=fields["fields"],
                files={"file": (name, body)},
            ):
                upload_id = fields["upload_id"]
        else:  # a form upload: the file in the API request itself
            form = self.call(
                "POST", f"{api}/upload_{TABLE}", files={"file": (name, body, "text/csv")}
            )
            upload_id = form.json()["upload_id"] if form is not None else None
        if upload_id is not None:
            with self.lock:
                self.accepted[upload_id] = rows
            self.call("GET", f"{api}/uploads/{upload_id}")


def plan(clients: int, uploaders: int) -> list[str | None]:
    """What each client sends: a presigned or a form upload (alternating), or only reads."""
    every = max(1, clients // max(1, uploaders))
    kinds: list[str | None] = []
    for n in range(clients):
        uploading = n % every == 0 and sum(k is not None for k in kinds) < uploaders
        kinds.append(("presigned", "form")[len(kinds) // every % 2] if uploading else None)
    return kinds


def send(
    api_url: str,
    api_key: str,
    clients: int,
    uploaders: int,
    timeout: float,
    deadline: float,
    first_id: int = FIRST_ID,
) -> dict[str, Any]:
    """Run the clients (threads of this process); what they saw, as JSON-ready data."""
    run = _Run(api_url, api_key, timeout, time.monotonic() + deadline, first_id)
    start = threading.Barrier(clients)
    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="load") as pool:
        kinds = plan(clients, uploaders)
        for outcome in [pool.submit(run.client, n, start, k) for n, k in enumerate(kinds)]:
            outcome.result()
    return {
        "requests": run.requests,
        "ok": run.ok,
        "errors": dict(sorted(run.errors.items())),
        "unsent": run.unsent,
        "api_ms": run.api_ms,
        "ms_by_kind": run.ms_by_kind,
        "accepted": {uid: sorted(rows) for uid, rows in run.accepted.items()},
    }
