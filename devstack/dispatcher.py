"""Delivers S3 notifications from an SQS queue to the app's S3 event handlers, as Lambda would.

moto sends real S3 event payloads to the queue; this polls it and calls the handler whose
prefix/suffix matches each record (direct calls skip Chalice's filters, so they are applied here).
A handler that raises leaves its message on the queue to be delivered again, like a Lambda retry;
after ``max_receives`` deliveries the message is dropped and logged, like a dead-letter queue.
Handlers run on a thread pool, as concurrent Lambda invocations would.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
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

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=False)

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
                    route.handler({"Records": [record]}, LambdaContext(request_id, route.name))
                    handled += 1
                    self.delivered += 1
        return handled
