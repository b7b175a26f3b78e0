"""Where the local stack's stage functions run: the emulator invokes them, this process runs them.

The emulator owns the event source: it polls each stage's queue, invokes the stage's function
with one message, deletes the message when the invocation succeeds, and otherwise leaves it to
reappear after the queue's visibility timeout and, past its ``maxReceiveCount``, to move to the
dead-letter queue, as Lambda and SQS do. Each local function is in the emulator's proxy mode, so
an invocation arrives here as one HTTP POST (the event as body, the request id and function
name in ``X-Amzn-Lambda-*`` headers); this runs the app's handler and answers 200, or
500 with Lambda's error shape (``errorMessage``, ``errorType``). Handlers named in
``process_routes`` (split, validate: CPU-bound) run in a pool of worker processes, in parallel as
separate Lambdas would; the others (the load, which owns the DuckDB file) on a thread of this
process. Nothing here polls, deletes, retries or counts deliveries.
"""

from __future__ import annotations

import importlib
import json
import logging
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from chalicelib.pipeline.triggers import TRIGGERS

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalice.app import Chalice

logger = logging.getLogger(__name__)
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Route:
    name: str
    prefix: str
    suffix: str
    handler: Callable[[dict[str, Any], Any], Any]

    def matches(self, key: str) -> bool:
        return key.startswith(self.prefix) and key.endswith(self.suffix)


@dataclass(frozen=True)
class LambdaContext:
    """The parts of a Lambda context object the handlers read. It has no clock: locally a
    handler is not cut short, so the split does not hand its planning on for lack of time
    (``pipeline/budget.py``; ``INGEST_MAX_INVOCATION_SECONDS`` still applies)."""

    aws_request_id: str
    function_name: str


def routes_of(app: Chalice) -> list[Route]:
    """The app's stage handlers with the objects that trigger them."""
    return [
        Route(t.handler, t.prefix, t.suffix, app.handler_map[t.handler])
        for t in TRIGGERS
        if t.handler in app.handler_map
    ]


def _start_worker(log_path: str | None) -> None:
    """Set up a worker process: log where the parent logs, as one JSON object per line."""
    from chalicelib import logs

    logs.setup()
    if log_path:
        handler = logging.FileHandler(log_path, encoding="utf-8")
        handler.setFormatter(logs.JsonFormatter())
        logging.getLogger().handlers = [handler]


def _warm(module: str) -> None:
    """Import the app in a new worker before the first event needs it (a cold start)."""
    importlib.import_module(module)
    time.sleep(0.1)  # hold this worker, so each warm-up lands on a new one


def run_in_worker(module: str, name: str, event: dict[str, Any], context: LambdaContext) -> None:
    """Call handler ``name`` of ``module``'s Chalice app (in a worker process)."""
    app: Chalice = importlib.import_module(module).app
    app.handler_map[name](event, context)


def _error_body(exc: BaseException) -> bytes:
    return json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    host: FunctionHost


class _Invocation(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        name = self.path.strip("/")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        context = LambdaContext(
            self.headers.get("X-Amzn-Lambda-Request-Id") or "",
            self.headers.get("X-Amzn-Lambda-Function-Name") or name,
        )
        try:
            self.server.host.invoke(name, json.loads(body), context)
        except Exception as exc:
            self._reply(500, _error_body(exc))
            return
        self._reply(200, b"null")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        return  # each invocation is logged by the handler itself, with its request id


class FunctionHost:
    """Runs the app's stage handlers for the emulator; ``start()``, then ``stop()``."""

    def __init__(
        self,
        app: Chalice,
        *,
        workers: int = 4,
        app_module: str = "app",
        process_routes: frozenset[str] = frozenset(),
    ) -> None:
        self._handlers = dict(app.handler_map)
        self._app_module = app_module
        self._process_routes = process_routes
        self._workers = workers
        self._lock = threading.Lock()
        self._in_flight = 0
        self.invoked = 0
        self.failed = 0
        # Worker processes start on first use; start() warms them up.
        self._processes = self._new_process_pool() if process_routes else None
        self._server: _Server | None = None

    def start(self) -> FunctionHost:
        if self._processes is not None:
            for _ in range(self._workers):
                self._processes.submit(_warm, self._app_module)
        server = _Server((HOST, 0), _Invocation)
        server.host = self
        self._server = server
        threading.Thread(target=server.serve_forever, name="functions", daemon=True).start()
        return self

    def url_for(self, handler: str) -> str:
        """Where the emulator sends ``handler``'s invocations."""
        assert self._server is not None
        return f"http://{HOST}:{self._server.server_address[1]}/{handler}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._processes is not None:
            self._processes.shutdown(wait=True, cancel_futures=True)

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._in_flight > 0

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the invocations in flight; True if none is left."""
        deadline = time.monotonic() + timeout
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.busy

    def worker_pids(self) -> list[int]:
        """Process ids of the running worker processes (for measuring them)."""
        pool = self._processes
        return list(getattr(pool, "_processes", None) or {}) if pool is not None else []

    def _new_process_pool(self) -> ProcessPoolExecutor:
        # "spawn": a fork of this process would copy the locks its server threads hold.
        files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(files[0].baseFilename if files else None,),
        )

    def _run_in_process(self, name: str, event: dict[str, Any], context: LambdaContext) -> None:
        pool = self._processes
        assert pool is not None
        try:
            pool.submit(run_in_worker, self._app_module, name, event, context).result()
        except BrokenProcessPool:
            # A worker died (as a Lambda container can): a new pool; the event is retried.
            with self._lock:
                if self._processes is pool:
                    self._processes = self._new_process_pool()
                    pool.shutdown(wait=False, cancel_futures=True)
            raise

    def invoke(self, name: str, event: dict[str, Any], context: LambdaContext) -> None:
        """Run handler ``name`` on ``event``, in a worker process if it is a process route.

        Raises:
            KeyError: no such handler.
            Exception: whatever the handler raised (the invocation failed).
        """
        with self._lock:
            self._in_flight += 1
        # The thread is named for the function, as a Lambda's logs are (and tests pick it out).
        threading.current_thread().name = f"lambda-{name}"
        try:
            if name not in self._handlers:
                raise KeyError(f"no function {name!r} here")
            if self._processes is not None and name in self._process_routes:
                self._run_in_process(name, event, context)
            else:
                self._handlers[name](event, context)
        except Exception as exc:
            self.failed += 1
            logger.warning(
                "function.failed",
                extra={"handler": name, "request_id": context.aws_request_id, "error": str(exc)},
            )
            raise
        finally:
            with self._lock:
                self._in_flight -= 1
        self.invoked += 1
