"""Starts and stops the offline stack, bound to 127.0.0.1 only, keeping its data in DATA_DIR.

The AWS emulator (ministack, a process of its own, with IAM enforced) is the S3 and SQS endpoint:
its bucket objects are written under DATA_DIR as they arrive and its queues when it stops, so a
restart on the same DATA_DIR finds them (docs/architecture.md). The bucket sends ObjectCreated
notifications to one queue per stage, filtered by the stage's prefix and suffix; each queue
dead-letters a message after ``max_receives`` failed deliveries, as the deployed stage's queues
do (deploy/); the emulator's event source mappings invoke one function per stage, and the
functions run here (``functions.py``). The Chalice app serves HTTP. DuckDB lives in DATA_DIR and
allows one writer per database file, so the load handler (its only writer) runs in this process;
split and validate handlers run in worker processes, in parallel. With ``WAREHOUSE=redshift``
the warehouse is the local Redshift engine (devstack/redshift_local), fresh for each start, and
so is the bucket.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import boto3

from chalicelib import providers
from chalicelib.config import LOCAL_QUEUE_PREFIX
from devstack import wiring
from devstack.emulator import ROOT_KEY, Emulator
from devstack.functions import FunctionHost
from devstack.settings import LOCAL_BUCKET, LocalStackSettings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

    from devstack.wiring import Queue

logger = logging.getLogger(__name__)
HOST = "127.0.0.1"
PROCESS_ROUTES = frozenset({"on_raw_created", "on_chunk_created"})
REGION = "us-east-1"
# Connections the API's listening socket queues before it accepts them. socketserver's default
# is 5: a burst of clients (a browser opens six connections at once; 20 scripted clients) then
# finds the queue full and is refused or reset. Linux caps it at net.core.somaxconn (4096).
API_BACKLOG = 1024


class StackError(RuntimeError):
    """The stack cannot start on this data folder."""


@dataclass(frozen=True)
class DataLayout:
    """Where a stack keeps what it holds, under its data folder."""

    root: Path

    @property
    def emulator(self) -> Path:
        return self.root / "emulator"

    @property
    def bucket(self) -> Path:
        return self.emulator / "s3"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def scratch(self) -> Path:
        """The emulator's folder for a stack that keeps nothing (removed when it stops)."""
        return self.root / "emulator-scratch"


def local_environment(settings: LocalStackSettings, endpoint: str) -> dict[str, str]:
    """Environment for the app and any client talking to the local stack: the emulator's
    endpoint and root credentials (the emulator's own, which open nothing outside it)."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ROOT_KEY,
        "AWS_SECRET_ACCESS_KEY": ROOT_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "INGEST_BUCKET": LOCAL_BUCKET,
        "INGEST_WAREHOUSE": "duckdb",
        "INGEST_DUCKDB_PATH": str(DataLayout(Path(settings.data_dir).resolve()).warehouse),
        "INGEST_API_KEY": settings.api_key,
        "INGEST_QUEUE_PREFIX": LOCAL_QUEUE_PREFIX,
    }


def _hold(folder: Path) -> IO[str]:
    """An exclusive lock on ``folder`` for as long as the returned file stays open (the kernel
    releases it when this process ends, however it ends).

    Raises:
        StackError: another running stack holds it.
    """
    handle = (folder / "stack.lock").open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StackError(
            f"another local stack is running with DATA_DIR={folder}: stop it, or set DATA_DIR"
        ) from None
    return handle


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
    functions: FunctionHost | None = None
    emulator: Emulator | None = None
    app_module: ModuleType | None = None
    api_backlog: int = API_BACKLOG
    _lock: IO[str] | None = None
    _redshift: Any = None
    _api: Any = None
    _api_thread: threading.Thread | None = None

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.settings.data_dir).resolve())

    @property
    def persistent(self) -> bool:
        """Whether a restart on the same data folder finds the data: with DuckDB, whose file is
        in it. The local Redshift engine is fresh for each start (its PostgreSQL cluster lives
        in a temporary folder the ``postgres`` user can reach), so its bucket is too: they must
        agree."""
        return self.settings.warehouse == "duckdb"

    def start(self) -> LocalStack:
        """Raises:
        StackError: another stack runs on this data folder.
        EmulatorError: the emulator is missing or would not start.
        """
        layout = self.layout
        layout.root.mkdir(parents=True, exist_ok=True)
        self._lock = _hold(layout.root)
        try:
            self._start(layout)
        except BaseException:
            self.stop()
            raise
        logger.info("stack.started", extra={"api_url": self.api_url, "s3_url": self.s3_url})
        return self

    def _start(self, layout: DataLayout) -> None:
        keep = self.persistent
        wiring.prune_state(layout.emulator / "state")
        self.emulator = Emulator(
            layout.emulator if keep else layout.scratch,
            port=self.settings.s3_port,
            keep_root=keep,
            tls=False,
            persist=keep,
        )
        self.emulator.start()
        self.s3_url = self.emulator.url
        # The app reads its configuration from the environment, as in Lambda.
        os.environ.update(local_environment(self.settings, self.s3_url))
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
        # Split and validate run in worker processes, as parallel Lambdas; the load stays here,
        # with the one DuckDB connection.
        self.functions = FunctionHost(
            app_module.app,
            workers=self.settings.workers,
            app_module=app_module.__name__,
            process_routes=PROCESS_ROUTES,
        ).start()
        self._start_api(app_module)
        # Last: the event sources start delivering as soon as they exist.
        self.queues = wiring.wire(
            self.emulator, self.settings, self.functions, self.console_origins()
        )

    @property
    def warehouse_description(self) -> str:
        if self._redshift is not None:
            via = " via the Data API stand-in" if self._redshift.data_api is not None else ""
            return f"redshift (local engine, 127.0.0.1:{self._redshift.port}{via})"
        return f"duckdb ({self.layout.warehouse})"

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
            busy = self.functions is not None and self.functions.busy
            quiet = quiet + 1 if pending == 0 and not busy else 0
            if time.monotonic() > deadline:
                raise TimeoutError(f"local stack still busy after {timeout}s")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop taking requests, let the handlers finish, then stop the emulator (which writes
        its queues to DATA_DIR as it stops) and release the data folder."""
        if self._api is not None:
            self._api.shutdown()
            self._api.server.server_close()
            self._api = None
            logger.info("stack.stopping", extra={"done": "api"})
        if self.emulator is not None and self.functions is not None and self.queues:
            wiring.pause(self.emulator, self.queues)
            logger.info("stack.stopping", extra={"done": "event sources paused"})
            self.functions.wait_idle(self.settings.function_timeout)
        if self.functions is not None:
            self.functions.stop()
            self.functions = None
            logger.info("stack.stopping", extra={"done": "functions"})
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
            logger.info("stack.stopping", extra={"done": "emulator"})
        if self.app_module is not None:
            providers.reset()
        if self._redshift is not None:
            self._redshift.stop()
            self._redshift = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None
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
