"""Starts and stops the offline stack in one process, bound to 127.0.0.1 only.

moto runs in server mode as the S3 and SQS endpoint; the bucket sends ObjectCreated
notifications to a queue, filtered by the same prefixes the app's handlers declare (as S3 would
invoke the Lambdas); the dispatcher delivers them; the Chalice app serves HTTP. DuckDB lives in
DATA_DIR and allows one writer per database file, so the load handler (its only user) runs in
this process; split and validate handlers run in worker processes, in parallel.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib import console
from chalicelib.config import LOCAL_BUCKET, LocalStackSettings
from devstack.dispatcher import Dispatcher, routes_of

if TYPE_CHECKING:
    from types import ModuleType

logger = logging.getLogger(__name__)
HOST = "127.0.0.1"
QUEUE = "ingest-s3-events"
PROCESS_ROUTES = frozenset({"on_raw_created", "on_chunk_created"})
REGION = "us-east-1"


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
    }


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
    queue_url: str = ""
    dispatcher: Dispatcher | None = None
    app_module: ModuleType | None = None
    _moto: Any = None
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
        os.environ.update(self.extra_env)
        import app as app_module

        self.app_module = app_module
        for getter in (app_module.get_settings, app_module.get_s3, app_module.get_warehouse):
            getter.cache_clear()
        # Made now, while the environment points at this stack, and reused by every handler.
        # The warehouse too: functools.cache does not stop two handler threads that start at
        # once from each opening a connection, and two DuckDB connections loading the same
        # upload concurrently collide on its primary keys (Lambda runs one event at a time).
        app_module.get_s3()
        app_module.get_warehouse()
        queue_url = self.queue_url = self._wire_notifications(app_module)
        sqs = boto3.client("sqs")
        # Split and validate run in worker processes, as parallel Lambdas; the load stays here,
        # with the one DuckDB connection.
        self.dispatcher = Dispatcher(
            sqs,
            queue_url,
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

    def _wire_notifications(self, app_module: ModuleType) -> str:
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        s3.create_bucket(Bucket=LOCAL_BUCKET)
        queue_url = sqs.create_queue(QueueName=QUEUE, Attributes={"VisibilityTimeout": "120"})[
            "QueueUrl"
        ]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        queue_arn = arn["Attributes"]["QueueArn"]
        configs: list[Any] = []
        for route in routes_of(app_module.app):
            rules = [{"Name": "prefix", "Value": route.prefix}]
            if route.suffix:
                rules.append({"Name": "suffix", "Value": route.suffix})
            configs.append(
                {
                    "Id": route.name,
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": rules}},
                }
            )
        s3.put_bucket_notification_configuration(
            Bucket=LOCAL_BUCKET, NotificationConfiguration={"QueueConfigurations": configs}
        )
        return queue_url

    def _start_api(self, app_module: ModuleType) -> None:
        from chalice.config import Config
        from chalice.local import (
            ChaliceRequestHandler,
            CustomLocalChalice,
            LocalDevServer,
            create_local_server,
        )

        config = Config.create(chalice_app=app_module.app, app_name="csv-ingest")
        if isinstance(app_module.app, CustomLocalChalice):
            # create_local_server rebases the app's class; a second stack in the same process
            # (tests) reuses the rebased app as it is.
            self._api = LocalDevServer(app_module.app, config, HOST, self.settings.api_port)
        else:
            self._api = create_local_server(app_module.app, config, HOST, self.settings.api_port)
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
        """Block until no S3 event is queued or being handled.

        Raises:
            TimeoutError: still busy after ``timeout`` seconds.
        """
        import time

        sqs = boto3.client("sqs")
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 3:  # three quiet looks in a row: nothing in flight between polls
            attrs = sqs.get_queue_attributes(
                QueueUrl=self.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            pending = sum(int(v) for v in attrs.values())
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
            self.app_module.get_warehouse().close()
            self.app_module.get_warehouse.cache_clear()
        if self._moto is not None:
            self._moto.stop()
        logger.info("stack.stopped")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
