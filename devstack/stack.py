"""Starts and stops the offline stack in one process, bound to 127.0.0.1 only.

moto runs in server mode as the S3 and SQS endpoint; the bucket sends ObjectCreated
notifications to one queue per stage, filtered by the stage's prefix and suffix, and each queue
dead-letters a message after ``max_receives`` failed deliveries, as the deployed stage's queues
do (deploy/); the dispatcher delivers them; the Chalice app serves HTTP. DuckDB lives in
DATA_DIR and allows one writer per database file, so the load handler (its only user) runs in
this process; split and validate handlers run in worker processes, in parallel. With
``WAREHOUSE=redshift`` the warehouse is the local Redshift engine (devstack/redshift_local)
instead, on this stack's S3, reached through the Redshift adapter and its driver.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib import console, providers
from chalicelib.config import LOCAL_QUEUE_PREFIX
from chalicelib.pipeline.triggers import (
    STAGE_TRIGGERS,
    TRIGGERS,
    dead_letter_queue_name,
    queue_name,
)
from devstack.dispatcher import Dispatcher, Queue
from devstack.settings import LOCAL_BUCKET, LocalStackSettings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

logger = logging.getLogger(__name__)
HOST = "127.0.0.1"
PROCESS_ROUTES = frozenset({"on_raw_created", "on_chunk_created"})
REGION = "us-east-1"
# Connections the API's listening socket queues before it accepts them. socketserver's default
# is 5: a burst of clients (a browser opens six connections at once; 20 scripted clients) then
# finds the queue full and is refused or reset. Linux caps it at net.core.somaxconn (4096).
API_BACKLOG = 1024


def local_environment(settings: LocalStackSettings, s3_port: int) -> dict[str, str]:
    """Environment for the app and any client talking to the local stack (fake credentials)."""
    return {
        "AWS_ENDPOINT_URL": f"http://{HOST}:{s3_port}",
        "AWS_ACCESS_KEY_ID": "local-only",
        "AWS_SECRET_ACCESS_KEY": "local-only",  # moto accepts anything; not a real credential
        "AWS_DEFAULT_REGION": REGION,
        "INGEST_BUCKET": LOCAL_BUCKET,
        "INGEST_WAREHOUSE": "duckdb",
        "INGEST_DUCKDB_PATH": str(Path(settings.data_dir) / "warehouse.duckdb"),
        "INGEST_API_KEY": settings.api_key,
        "INGEST_QUEUE_PREFIX": LOCAL_QUEUE_PREFIX,
    }


def _delete_queues(sqs: Any, names: tuple[str, ...]) -> None:
    """Start from empty queues: a second stack in one process (tests) finds the first's, as
    moto keeps them in memory for the process."""
    for name in names:
        with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):
            sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])


def _arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


def _api_server(backlog: int) -> Any:
    """Chalice's threaded local server class, listening with a queue of ``backlog``."""
    from chalice.local import ThreadedHTTPServer

    class ApiServer(ThreadedHTTPServer):
        request_queue_size = backlog
        daemon_threads = True  # a client that never finishes its request does not block stop()

    return ApiServer


def _log_access(handler: Any, fmt: str, *args: Any) -> None:
    # Access lines go to the structured log instead of stderr.
    logger.info("api.request", extra={"line": fmt % args})


@dataclass
class LocalStack:
    """The running stack; ``start()`` then ``stop()``, or use it as a context manager."""

    settings: LocalStackSettings
    extra_env: dict[str, str] = field(default_factory=dict)
    api_url: str = ""
    s3_url: str = ""
    queues: dict[str, Queue] = field(default_factory=dict)
    dispatcher: Dispatcher | None = None
    app_module: ModuleType | None = None
    api_backlog: int = API_BACKLOG
    _moto: Any = None
    _redshift: Any = None
    _api: Any = None
    _api_thread: threading.Thread | None = None

    def start(self) -> LocalStack:
        from moto.server import ThreadedMotoServer

        self._moto = ThreadedMotoServer(ip_address=HOST, port=self.settings.s3_port, verbose=False)
        self._moto.start()
        _, s3_port = self._moto.get_host_and_port()
        self.s3_url = f"http://{HOST}:{s3_port}"
        # The app reads its configuration from the environment, as in Lambda.
        os.environ.update(local_environment(self.settings, s3_port))
        if self.settings.warehouse == "redshift":
            os.environ.update(self._start_redshift())
        os.environ.update(self.extra_env)
        import app as app_module

        self.app_module = app_module
        providers.reset()
        # Made now, while the environment points at this stack, and reused by every handler.
        # The warehouse too: functools.cache does not stop two handler threads that start at
        # once from each opening a connection, and two DuckDB connections loading the same
        # upload concurrently collide on its primary keys (Lambda runs one event at a time).
        providers.s3()
        providers.warehouse()
        self.queues = self._wire_notifications()
        sqs = boto3.client("sqs")
        # Split and validate run in worker processes, as parallel Lambdas; the load stays here,
        # with the one DuckDB connection.
        self.dispatcher = Dispatcher(
            sqs,
            list(self.queues.values()),
            app_module.app,
            workers=self.settings.workers,
            app_module=app_module.__name__,
            process_routes=PROCESS_ROUTES,
        )
        self.dispatcher.start()
        self._start_api(app_module)
        self._allow_console()
        logger.info("stack.started", extra={"api_url": self.api_url, "s3_url": self.s3_url})
        return self

    @property
    def warehouse_description(self) -> str:
        if self._redshift is not None:
            via = " via the Data API stand-in" if self._redshift.data_api is not None else ""
            return f"redshift (local engine, 127.0.0.1:{self._redshift.port}{via})"
        return f"duckdb ({Path(self.settings.data_dir) / 'warehouse.duckdb'})"

    def _start_redshift(self) -> dict[str, str]:
        """The local Redshift engine (a fresh PostgreSQL cluster in a temporary folder) on this
        stack's S3; returns the INGEST_REDSHIFT_* settings that point the app at it."""
        from devstack.redshift_local import LocalRedshift

        self._redshift = LocalRedshift(s3=boto3.client("s3")).start()
        logger.info("stack.redshift_started", extra={"port": self._redshift.port})
        if self.settings.redshift_api == "data":
            data: dict[str, str] = self._redshift.data_api_environment()
            logger.info(
                "stack.data_api_started", extra={"url": data["AWS_ENDPOINT_URL_REDSHIFT_DATA"]}
            )
            return data
        env: dict[str, str] = self._redshift.environment()
        return env

    def _wire_notifications(self) -> dict[str, Queue]:
        """Each stage's queue and dead-letter queue, and the bucket notifying the queues."""
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        s3.create_bucket(Bucket=LOCAL_BUCKET)
        queues: dict[str, Queue] = {}
        configs: list[Any] = []
        for trigger in STAGE_TRIGGERS:
            names = (
                dead_letter_queue_name(LOCAL_QUEUE_PREFIX, trigger.stage),
                queue_name(LOCAL_QUEUE_PREFIX, trigger.stage),
            )
            _delete_queues(sqs, names)
            dlq_url = sqs.create_queue(QueueName=names[0])["QueueUrl"]
            redrive = {"deadLetterTargetArn": _arn(sqs, dlq_url)}
            redrive["maxReceiveCount"] = str(self.settings.max_receives)
            url = sqs.create_queue(
                QueueName=names[1],
                Attributes={"VisibilityTimeout": "120", "RedrivePolicy": json.dumps(redrive)},
            )["QueueUrl"]
            queues[trigger.stage] = Queue(trigger.handler, url, _arn(sqs, url))
        for trigger in TRIGGERS:
            rules = [{"Name": "prefix", "Value": trigger.prefix}]
            if trigger.suffix:
                rules.append({"Name": "suffix", "Value": trigger.suffix})
            configs.append(
                {
                    "Id": trigger.filter_id,
                    "QueueArn": queues[trigger.stage].arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": rules}},
                }
            )
        s3.put_bucket_notification_configuration(
            Bucket=LOCAL_BUCKET, NotificationConfiguration={"QueueConfigurations": configs}
        )
        return queues

    def _start_api(self, app_module: ModuleType) -> None:
        from chalice.config import Config
        from chalice.local import (
            ChaliceRequestHandler,
            CustomLocalChalice,
            LocalChalice,
            LocalDevServer,
        )

        config = Config.create(chalice_app=app_module.app, app_name="csv-ingest")
        app = app_module.app
        if not isinstance(app, CustomLocalChalice):
            # As chalice's create_local_server does: the rebased class keeps current_request
            # per thread, so concurrent requests do not see each other's. A second stack in
            # the same process (tests) reuses the rebased app as it is.
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        self._api = LocalDevServer(
            app,
            config,
            HOST,
            self.settings.api_port,
            server_cls=_api_server(self.api_backlog),
        )
        port = self._api.server.server_address[1]
        self.api_url = f"http://{HOST}:{port}"
        ChaliceRequestHandler.log_message = _log_access
        self._api_thread = threading.Thread(
            target=self._api.server.serve_forever, name="api", daemon=True
        )
        self._api_thread.start()

    @property
    def console_url(self) -> str:
        return f"{self.api_url}/"

    def console_origins(self) -> list[str]:
        """The origins a browser shows the console at: the API's, by address and by name."""
        port = self.api_url.rsplit(":", 1)[1]
        return [self.api_url, f"http://localhost:{port}"]

    def _allow_console(self) -> None:
        # The console's page sends files straight to the bucket: only its origin may, as in AWS.
        boto3.client("s3").put_bucket_cors(
            Bucket=LOCAL_BUCKET,
            CORSConfiguration={"CORSRules": console.cors_rules(self.console_origins())},
        )

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until no S3 event is queued or being handled (dead letters wait for a re-drive).

        Raises:
            TimeoutError: still busy after ``timeout`` seconds.
        """
        import time

        sqs = boto3.client("sqs")
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 3:  # three quiet looks in a row: nothing in flight between polls
            pending = 0
            for queue in self.queues.values():
                attrs = sqs.get_queue_attributes(
                    QueueUrl=queue.url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"]
                pending += sum(int(v) for v in attrs.values())
            busy = self.dispatcher is not None and self.dispatcher.busy
            quiet = quiet + 1 if pending == 0 and not busy else 0
            if time.monotonic() > deadline:
                raise TimeoutError(f"local stack still busy after {timeout}s")
            time.sleep(0.2)

    def stop(self) -> None:
        if self._api is not None:
            self._api.shutdown()
            self._api.server.server_close()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.app_module is not None:
            providers.reset()
        if self._redshift is not None:
            self._redshift.stop()
            self._redshift = None
        if self._moto is not None:
            self._moto.stop()
        logger.info("stack.stopped")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def isolated_stack(
    settings: LocalStackSettings, extra_env: dict[str, str] | None = None
) -> Iterator[LocalStack]:
    """A started stack that leaves the process environment as it found it when it stops (the
    app reads its settings from the environment, and a test run starts several stacks)."""
    saved = dict(os.environ)
    local = LocalStack(settings, extra_env=extra_env or {}).start()
    try:
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)
