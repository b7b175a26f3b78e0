"""Delivers each stage's SQS queue to the app's stage handlers, as Lambda's SQS event source would.

moto sends real S3 notifications to one queue per stage, filtered by the trigger's prefix and
suffix (``chalicelib/triggers.py``), as in AWS; this polls every queue and calls its handler with
a Lambda SQS event holding one message. A handler that raises leaves its message on the queue to
be delivered again after a short delay; the queue's redrive policy moves it to the stage's
dead-letter queue once it has been received maxReceiveCount times, as SQS does in AWS.
Handlers run concurrently, as Lambda invocations would: those named in ``process_routes`` in a
pool of worker processes (CPU-bound work then really runs in parallel, which threads sharing the
GIL cannot), the others (the load, which owns the DuckDB file) on threads of this process.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.pipeline.triggers import TRIGGERS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from chalice.app import Chalice
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
    """The app's stage handlers with the objects that trigger them."""
    return [
        Route(t.handler, t.prefix, t.suffix, app.handler_map[t.handler])
        for t in TRIGGERS
        if t.handler in app.handler_map
    ]


def sqs_event(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source passes a handler for one received message."""
    body = str(message["Body"])
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": body,
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else "",
            }
        ]
    }


@dataclass(frozen=True)
class Queue:
    """A stage queue the dispatcher polls, and the handler it feeds."""

    handler: str
    url: str
    arn: str


class Dispatcher:
    """Polls each queue and runs its handler until ``stop()``."""

    def __init__(
        self,
        sqs: SQSClient,
        queues: list[Queue],
        app: Chalice,
        *,
        workers: int = 4,
        retry_delay: int = 1,
        app_module: str = "app",
        process_routes: frozenset[str] = frozenset(),
    ) -> None:
        self._sqs = sqs
        self._queues = queues
        self._handlers = dict(app.handler_map)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")
        self._slots = threading.Semaphore(workers)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._poll, args=(q,), name=f"dispatcher-{q.handler}", daemon=True
            )
            for q in queues
        ]
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
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=10)
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

    def _poll(self, queue: Queue) -> None:
        while not self._stop.is_set():
            try:
                reply = self._sqs.receive_message(
                    QueueUrl=queue.url,
                    MaxNumberOfMessages=1,  # the event source's batch size: one message
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
                self._pool.submit(self._deliver, queue, message)

    def _deliver(self, queue: Queue, message: Any) -> None:
        try:
            self._handle(queue, message)
        finally:
            with self._lock:
                self._in_flight -= 1
            self._slots.release()

    def _handle(self, queue: Queue, message: dict[str, Any]) -> None:
        receipt = message["ReceiptHandle"]
        try:
            self.invoke(queue.handler, sqs_event(message, queue.arn), message["MessageId"])
        except Exception as exc:
            count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            self.failed += 1
            logger.warning(
                "dispatch.retrying",
                extra={"handler": queue.handler, "receives": count, "error": str(exc)},
            )
            # Visible again after a short delay (in AWS: the queue's visibility timeout). On the
            # receive after the last allowed one the queue dead-letters it.
            self._sqs.change_message_visibility(
                QueueUrl=queue.url,
                ReceiptHandle=receipt,
                VisibilityTimeout=self._retry_delay * count,
            )
            return
        self.delivered += 1
        self._sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=receipt)

    def invoke(self, name: str, event: dict[str, Any], request_id: str) -> None:
        """Call handler ``name`` with ``event``, in a worker process if it is a process route."""
        if self._processes is not None and name in self._process_routes:
            self._run_in_process(name, event, request_id)
        else:
            self._handlers[name](event, LambdaContext(request_id, name))
