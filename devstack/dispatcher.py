"""Delivers S3 notifications from an SQS queue to the app's S3 event handlers, as Lambda would.

moto sends real S3 event payloads to the queue; this polls it and calls the handler whose
prefix/suffix matches each record (direct calls skip Chalice's filters, so they are applied here).
A handler that raises leaves its message on the queue to be delivered again, like a Lambda retry;
after ``max_receives`` deliveries the message is dropped and logged, like a dead-letter queue.
Handlers run concurrently, as Lambda invocations would: those named in ``process_routes`` in a
pool of worker processes (CPU-bound work then really runs in parallel, which threads sharing the
GIL cannot), the others (the load, which owns the DuckDB file) on threads of this process.
"""

from __future__ import annotations

import importlib
import json
import logging
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from chalice.app import Chalice, S3EventConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)


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
    """The parts of a Lambda context object the handlers read."""

    aws_request_id: str
    function_name: str


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


def run_in_worker(module: str, name: str, event: dict[str, Any], request_id: str) -> None:
    """Call handler ``name`` of ``module``'s Chalice app (in a worker process)."""
    app: Chalice = importlib.import_module(module).app
    app.handler_map[name](event, LambdaContext(request_id, name))


def routes_of(app: Chalice) -> list[Route]:
    return [
        Route(cfg.name, cfg.prefix or "", cfg.suffix or "", app.handler_map[cfg.name])
        for cfg in app.event_sources
        if isinstance(cfg, S3EventConfig)
    ]


class Dispatcher:
    """Polls ``queue_url`` and runs matching handlers until ``stop()``."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        app: Chalice,
        *,
        workers: int = 4,
        max_receives: int = 5,
        retry_delay: int = 1,
        app_module: str = "app",
        process_routes: frozenset[str] = frozenset(),
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._routes = routes_of(app)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")
        self._slots = threading.Semaphore(workers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="dispatcher", daemon=True)
        self._max_receives = max_receives
        self._retry_delay = retry_delay
        self._lock = threading.Lock()
        self._in_flight = 0
        self.delivered = 0
        self.failed = 0
        self._app_module = app_module
        self._process_routes = process_routes
        self._workers = workers
        # Worker processes start on first use; start() warms them up.
        self._processes = self._new_process_pool() if process_routes else None

    def start(self) -> None:
        if self._processes is not None:
            for _ in range(self._workers):
                self._processes.submit(_warm, self._app_module)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=False)
        if self._processes is not None:
            self._processes.shutdown(wait=True, cancel_futures=True)

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

    def _run_in_process(self, name: str, event: dict[str, Any], request_id: str) -> None:
        pool = self._processes
        assert pool is not None
        try:
            pool.submit(run_in_worker, self._app_module, name, event, request_id).result()
        except BrokenProcessPool:
            # A worker died (as a Lambda container can): start a new pool; the event is retried.
            with self._lock:
                if self._processes is pool:
                    self._processes = self._new_process_pool()
                    pool.shutdown(wait=False, cancel_futures=True)
            raise

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._in_flight > 0

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                reply = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    AttributeNames=["ApproximateReceiveCount"],
                )
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("dispatch.poll_failed")
                self._stop.wait(1)
                continue
            for message in reply.get("Messages", []):
                self._slots.acquire()
                with self._lock:
                    self._in_flight += 1
                self._pool.submit(self._deliver, message)

    def _deliver(self, message: Any) -> None:
        try:
            self._handle(message)
        finally:
            with self._lock:
                self._in_flight -= 1
            self._slots.release()

    def _handle(self, message: dict[str, Any]) -> None:
        receipt = message["ReceiptHandle"]
        try:
            self.dispatch(json.loads(message["Body"]), message["MessageId"])
        except Exception as exc:
            count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if count >= self._max_receives:
                self.failed += 1
                logger.error("dispatch.dropped", extra={"receives": count, "error": str(exc)})
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt)
            else:
                logger.warning("dispatch.retrying", extra={"receives": count, "error": str(exc)})
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=receipt,
                    VisibilityTimeout=self._retry_delay * count,
                )
            return
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt)

    def dispatch(self, event: dict[str, Any], request_id: str) -> int:
        """Call the handler of each S3 record in ``event``; return how many were handled."""
        handled = 0
        for record in event.get("Records", []):  # s3:TestEvent has no Records
            key = unquote_plus(record["s3"]["object"]["key"])
            for route in self._routes:
                if route.matches(key):
                    event = {"Records": [record]}
                    if self._processes is not None and route.name in self._process_routes:
                        self._run_in_process(route.name, event, request_id)
                    else:
                        route.handler(event, LambdaContext(request_id, route.name))
                    handled += 1
                    self.delivered += 1
        return handled
