"""Drives the pipeline's stages the way S3 notifications would, with knobs for an adversary.

``Bus`` turns every object a stage writes into pending events for the handlers whose prefix and
suffix match (the app's triggers, as the local stack wires them) and delivers each as Lambda
would: the S3 notification (key URL-encoded) in an SQS message, as the stage's queue passes it,
to the app's own handler (``app.on_raw_created`` and the others), whose S3 client, settings and
warehouse are the bus's while it delivers. Knobs: copies of every event, a seeded shuffle,
interleaving (other events delivered in the middle of a handler, right after one of its
writes), a ``FaultPlan`` that breaks the Nth write, and a warehouse that can be down.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote_plus

from botocore.exceptions import ClientError

import app as app_module
from chalicelib import providers
from chalicelib.errors import PermanentWarehouseError, TransientWarehouseError
from devstack.functions import LambdaContext, routes_of
from tests.conftest import load_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from chalicelib.config import Settings

# The app's S3 event handlers, and the name of the stage each runs (for fault-point labels).
STAGE_OF = {"on_raw_created": "split", "on_chunk_created": "validate", "on_load_requested": "load"}
ROUTES = [r for r in routes_of(app_module.app) if r.name in STAGE_OF]
assert {r.name for r in ROUTES} == set(STAGE_OF), "the app's stage handlers changed"
# What the handlers call for their clients; the bus puts its own in while it delivers.
_PROVIDERS = ("s3", "settings", "warehouse")
_WIRING = threading.Lock()
_REQUEST_IDS = itertools.count(1)


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    """The ObjectCreated notification S3 sends for ``key`` (which it URL-encodes)."""
    return load_event("s3_object_created", bucket=bucket, key=quote_plus(key, safe="/"))


def queued_event(bucket: str, key: str, message_id: str) -> dict[str, Any]:
    """What the stage's SQS queue hands its handler: one message whose body is S3's
    notification for ``key``."""
    body = json.dumps(s3_event(bucket, key))
    return {"Records": [{"messageId": message_id, "body": body, "eventSource": "aws:sqs"}]}


_WRITES = {"put_object", "upload_fileobj", "upload_file", "copy_object", "delete_object"}
_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}")


class Crash(BaseException):  # noqa: N818 - it is not an error the code may handle
    """The handler's process died here: nothing after this point runs, not even except blocks."""


@dataclass
class FaultPlan:
    """Breaks the write with index ``at`` (0-based, over the whole run) in the way ``kind`` says.

    ``crash``: the process dies right after the write. ``error``: the write succeeded but the
    handler sees a permanent error (S3 AccessDenied, or the warehouse rejecting the statement).
    ``transient``: the same with an error a retry may fix (S3 SlowDown, warehouse unavailable).
    """

    at: int | None = None
    kind: str = "crash"
    steps: list[str] = field(default_factory=list)
    fired: str | None = None
    stage: str = "-"

    def after(self, what: str, *, warehouse: bool = False) -> None:
        index = len(self.steps)
        self.steps.append(f"{self.stage}: {_ID.sub('<id>', what)}")
        if index != self.at:
            return
        self.fired = self.steps[-1]
        if self.kind == "crash":
            raise Crash(self.fired)
        if self.kind == "error":
            if warehouse:
                raise PermanentWarehouseError("injected: statement rejected")
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "injected"}}, what)
        if warehouse:
            raise TransientWarehouseError("injected: warehouse unavailable")
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, what)


class S3Proxy:
    """A real S3 client whose writes also report to the bus (S3's notification) and the plan."""

    def __init__(self, client: Any, on_write: Callable[[str, str | None], None]) -> None:
        self._client = client
        self._on_write = on_write

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in _WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            key = kwargs.get("Key")
            if key is None and name in ("upload_fileobj", "upload_file") and len(args) > 2:
                key = args[2]
            self._on_write(name, key)
            return result

        return write


T = TypeVar("T")


class WarehouseProxy:
    """A real warehouse that reports each statement and commit to the plan, and can be down."""

    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self._inner = inner
        self._plan = plan
        self.dialect = inner.dialect
        self.depth = 0
        self.down = False
        self.statements: list[str] = []

    def _check_up(self) -> None:
        if self.down:
            raise TransientWarehouseError("warehouse unavailable: connection refused (injected)")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._check_up()
        rows = self._inner.execute(sql, params)
        self.statements.append(sql)
        self._plan.after("sql " + " ".join(sql.split()[:3]), warehouse=True)
        return list(rows)

    def copy_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        self._check_up()
        copied = int(self._inner.copy_from_s3(table, columns, manifest_uri))
        self._plan.after("COPY", warehouse=True)
        return copied

    def unload_to_parquet(self, query: str, prefix_uri: str) -> Any:
        self._check_up()
        return self._inner.unload_to_parquet(query, prefix_uri)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._check_up()
        self.depth += 1
        try:
            with self._inner.transaction():
                yield
        finally:
            self.depth -= 1
        self._plan.after("COMMIT", warehouse=True)

    def run_transaction(self, work: Callable[[], T], lock: Sequence[str] = ()) -> T:
        # Through this proxy's own transaction, so its commit is reported to the plan.
        with self.transaction():
            return work()

    def copy_parquet_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        self._check_up()
        return int(self._inner.copy_parquet_from_s3(table, columns, manifest_uri))

    def close(self) -> None:
        self._inner.close()


@dataclass
class Delivery:
    key: str
    route: str
    attempt: int = 1


class Bus:
    """Pending S3 events and the handlers they go to; ``run()`` delivers until none is left."""

    def __init__(
        self,
        s3: Any,
        warehouse: Any,
        settings: Settings,
        *,
        copies: int = 1,
        seed: int | None = None,
        interleave: float = 0.0,
        plan: FaultPlan | None = None,
        max_attempts: int = 3,
        redeliver_crashes: bool = True,
    ) -> None:
        self.settings = settings
        self.plan = plan or FaultPlan()
        self.raw_s3 = s3
        self.s3 = S3Proxy(s3, self._wrote)
        self.warehouse = WarehouseProxy(warehouse, self.plan)
        self.copies = copies
        self.rng = random.Random(seed)
        self.shuffle = seed is not None
        self.interleave = interleave
        self.max_attempts = max_attempts
        self.redeliver_crashes = redeliver_crashes
        self.pending: list[Delivery] = []
        self.dropped: list[Delivery] = []
        self.stats: Counter[str] = Counter()
        self._stages: list[str] = []
        self._wired = 0
        self._saved: dict[str, Any] = {}

    @contextmanager
    def wired(self) -> Iterator[None]:
        """The app's handlers use this bus's S3 client, settings and warehouse (re-entrant)."""
        with _WIRING:
            if self._wired == 0:
                self._saved = {name: getattr(providers, name) for name in _PROVIDERS}
                setattr(providers, "s3", lambda: self.s3)  # noqa: B010
                setattr(providers, "settings", lambda: self.settings)  # noqa: B010
                setattr(providers, "warehouse", self.connect)  # noqa: B010
            self._wired += 1
        try:
            yield
        finally:
            with _WIRING:
                self._wired -= 1
                if self._wired == 0:
                    for name, provider in self._saved.items():
                        setattr(providers, name, provider)

    def connect(self) -> WarehouseProxy:
        """What the load handler calls to reach the warehouse (fails while it is down)."""
        self.warehouse._check_up()
        return self.warehouse

    def _wrote(self, op: str, key: str | None) -> None:
        if key is not None:
            for route in ROUTES:
                if route.matches(key):
                    self.stats["events"] += 1
                    self.pending.extend(Delivery(key, route.name) for _ in range(self.copies))
        self.plan.after(f"{op} {key}")
        nested = len(self._stages)
        if (
            self.interleave
            and self.pending
            and self.warehouse.depth == 0
            and nested < 4
            and self.rng.random() < self.interleave
        ):
            self.stats["nested"] += 1
            self._step()

    def put(self, key: str, body: bytes) -> None:
        """A user's upload into raw/ (its event is queued like any other)."""
        self.plan.stage = "upload"
        self.s3.put_object(Bucket=self.settings.bucket, Key=key, Body=body)

    def deliver(self, delivery: Delivery) -> None:
        """Invoke the app's handler for ``delivery`` as Lambda would; a raise means a retry."""
        stage = STAGE_OF[delivery.route]
        handler = app_module.app.handler_map[delivery.route]
        request_id = f"delivery-{next(_REQUEST_IDS)}"
        event = queued_event(self.settings.bucket, delivery.key, request_id)
        context = LambdaContext(request_id, delivery.route)
        self.stats["deliveries"] += 1
        self._stages.append(stage)
        self.plan.stage = stage
        try:
            with self.wired():
                handler(event, context)
        except Crash:
            self.stats["crashes"] += 1
            if self.redeliver_crashes:
                self._again(delivery)
            else:
                self.dropped.append(delivery)
        except Exception:
            # The handler re-raised a transient error: Lambda delivers the event again.
            self.stats["retries"] += 1
            self._again(delivery)
        finally:
            self._stages.pop()
            self.plan.stage = self._stages[-1] if self._stages else "-"

    def _again(self, delivery: Delivery) -> None:
        if delivery.attempt < self.max_attempts:
            self.pending.append(replace(delivery, attempt=delivery.attempt + 1))
        else:
            self.dropped.append(delivery)

    def _step(self) -> None:
        index = self.rng.randrange(len(self.pending)) if self.shuffle else 0
        self.deliver(self.pending.pop(index))

    def run(self, limit: int = 100_000) -> None:
        for _ in range(limit):
            if not self.pending:
                return
            self._step()
        raise AssertionError("events never stopped coming")
