"""Many concurrent API clients against the local stack, counting what they observe.

The clients (``devstack.loadclients``) run in a child process (``python -m devstack.loadtest
send``); the run is bounded: a fixed number of requests, a per-request timeout and an overall
deadline. Afterwards this waits for the pipeline and compares the warehouse with the rows sent:
rows lost, rows duplicated.
``python -m devstack.loadtest`` starts its own stack on free ports, runs the load and prints the
figures as JSON (``--backlog 5`` gives the API socketserver's default listen queue).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from chalicelib import providers
from devstack.loadclients import FIRST_ID, ROWS_PER_FILE, TABLE, row_name, send

if TYPE_CHECKING:
    from devstack.stack import LocalStack

RUN_SPAN = 1_000_000  # each run in one process sends ids of its own, so runs do not overlap
_RUNS = itertools.count()


@dataclass
class LoadFigures:
    """What one run observed (a request is one HTTP exchange, API or S3)."""

    clients: int
    requests: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    unsent: int = 0
    api_p50_ms: float = 0.0
    api_p99_ms: float = 0.0
    api_max_ms: float = 0.0
    uploads: int = 0
    loaded: int = 0
    failed: int = 0
    unfinished: int = 0
    rows_sent: int = 0
    rows_lost: int = 0
    rows_duplicated: int = 0
    seconds: float = 0.0
    settle_seconds: float = 0.0
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def resets(self) -> int:
        return sum(n for kind, n in self.errors.items() if kind.startswith("connection"))


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0-100) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def run_load(
    stack: LocalStack,
    api_key: str,
    clients: int = 50,
    uploaders: int | None = None,
    *,
    timeout: float = 30.0,
    deadline: float = 90.0,
    settle: float = 120.0,
) -> LoadFigures:
    """Send the load from another process, wait for the pipeline, and count what happened.

    The clients run in a child process, as real clients would: sharing the stack's
    interpreter (and its lock) they would slow it down and time themselves. ``uploaders`` of
    the ``clients`` (all by default) upload a file each; the others read. ``deadline`` bounds
    the sending (requests not started by then are counted as unsent), ``settle`` the wait for
    the uploads to finish.

    Raises:
        subprocess.CalledProcessError: the client process failed.
        subprocess.TimeoutExpired: it outlived its deadline by a minute.
    """
    started = time.monotonic()
    first_id = FIRST_ID + next(_RUNS) * RUN_SPAN
    command = [
        sys.executable,
        "-m",
        "devstack.loadtest",
        "send",
        "--api-url",
        stack.api_url,
        "--clients",
        str(clients),
        "--uploaders",
        str(clients if uploaders is None else uploaders),
        "--timeout",
        str(timeout),
        "--deadline",
        str(deadline),
        "--first-id",
        str(first_id),
    ]
    env = {**os.environ, "LOAD_API_KEY": api_key}
    child = subprocess.run(  # noqa: S603 - our own module, no shell
        command, env=env, capture_output=True, check=True, timeout=deadline + timeout + 60
    )
    seen = json.loads(child.stdout)
    sent_seconds = time.monotonic() - started
    accepted = {uid: {i: row_name(i) for i in ids} for uid, ids in seen["accepted"].items()}
    figures = LoadFigures(
        clients=clients,
        requests=seen["requests"],
        ok=seen["ok"],
        errors=seen["errors"],
        unsent=seen["unsent"],
        api_p50_ms=round(percentile(seen["api_ms"], 50), 1),
        api_p99_ms=round(percentile(seen["api_ms"], 99), 1),
        api_max_ms=round(max(seen["api_ms"], default=0.0), 1),
        by_kind={
            kind: {
                "n": len(ms),
                "p50_ms": round(percentile(ms, 50), 1),
                "p99_ms": round(percentile(ms, 99), 1),
            }
            for kind, ms in sorted(seen["ms_by_kind"].items())
        },
        uploads=len(accepted),
        rows_sent=sum(len(rows) for rows in accepted.values()),
    )
    _settle(stack, api_key, accepted, figures, settle, first_id)
    figures.seconds = round(sent_seconds, 1)
    figures.settle_seconds = round(time.monotonic() - started - sent_seconds, 1)
    return figures


def _settle(
    stack: LocalStack,
    api_key: str,
    accepted: dict[str, dict[int, str]],
    figures: LoadFigures,
    timeout: float,
    first_id: int,
) -> None:
    """Wait for the accepted uploads to end, then compare the table with the rows they sent."""
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    session = requests.Session()
    session.headers["x-api-key"] = api_key
    while time.monotonic() < deadline:
        for upload_id in accepted:
            if states.get(upload_id) not in ("loaded", "failed"):
                reply = session.get(f"{stack.api_url}/api/v1/uploads/{upload_id}", timeout=30)
                states[upload_id] = reply.json().get("state", "?") if reply.ok else "?"
        if all(s in ("loaded", "failed") for s in states.values()):
            break
        time.sleep(0.5)
    session.close()
    counted = Counter(states.values())
    figures.loaded, figures.failed = counted["loaded"], counted["failed"]
    figures.unfinished = len(accepted) - figures.loaded - figures.failed
    # Still busy at the deadline: the uploads not finished are counted in figures.unfinished.
    with contextlib.suppress(TimeoutError):
        stack.wait_idle(timeout=max(5.0, deadline - time.monotonic()))
    warehouse = providers.warehouse()
    last = first_id + figures.clients * ROWS_PER_FILE
    found = warehouse.execute(
        f'SELECT "id", "job" FROM "{TABLE}" WHERE "id" >= ? AND "id" < ?', [first_id, last]
    )
    sent = {i: name for rows in accepted.values() for i, name in rows.items()}
    seen: Counter[int] = Counter(int(row[0]) for row in found)
    have = {int(row[0]): row[1] for row in found}
    figures.rows_lost = sum(1 for i, name in sent.items() if have.get(i) != name)
    figures.rows_duplicated = sum(n - 1 for n in seen.values()) + len(set(have) - set(sent))
    ledger = warehouse.execute(
        'SELECT "upload_id", COUNT(*) FROM "ingest_loads" GROUP BY "upload_id"'
    )
    figures.rows_duplicated += sum(
        (int(n) - 1) * len(accepted[uid]) for uid, n in ledger if uid in accepted and int(n) > 1
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.loadtest", description=__doc__)
    parser.add_argument("mode", nargs="?", choices=["run", "send"], default="run")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--uploaders", type=int, help="clients that upload (default: all)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--backlog", type=int, help="the API's listen queue (run)")
    parser.add_argument("--api-url", help="where to send (send)")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--deadline", type=float, default=90.0)
    parser.add_argument("--first-id", type=int, default=FIRST_ID, help="(send)")
    args = parser.parse_args(argv)
    uploaders = args.clients if args.uploaders is None else args.uploaders
    if args.mode == "send":
        key = os.environ.get("LOAD_API_KEY", "")
        seen = send(
            args.api_url,
            key,
            args.clients,
            uploaders,
            args.timeout,
            args.deadline,
            args.first_id,
        )
        sys.stdout.write(json.dumps(seen) + "\n")
        return 0
    from chalicelib import logs
    from devstack.settings import LocalStackSettings
    from devstack.stack import API_BACKLOG, LocalStack

    key = "load-test-key"
    backlog = API_BACKLOG if args.backlog is None else args.backlog
    with tempfile.TemporaryDirectory() as data_dir:
        # The stack's log lines go to a file, so stdout holds only the figures.
        logs.setup()
        handler = logging.FileHandler(Path(data_dir) / "stack.log", encoding="utf-8")
        handler.setFormatter(logs.JsonFormatter())
        logging.getLogger().handlers = [handler]
        settings = LocalStackSettings(api_port=0, s3_port=0, api_key=key, data_dir=data_dir)
        with LocalStack(settings, api_backlog=backlog) as stack:
            for _ in range(args.runs):
                figures = run_load(
                    stack,
                    key,
                    args.clients,
                    uploaders,
                    timeout=args.timeout,
                    deadline=args.deadline,
                )
                sys.stdout.write(json.dumps({"backlog": backlog, **asdict(figures)}) + "\n")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
