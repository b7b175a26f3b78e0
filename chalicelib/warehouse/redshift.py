"""The Redshift adapter: ``Warehouse`` over one ``redshift_connector`` connection.

Owns explicit transactions (BEGIN, table LOCK, COMMIT / ROLLBACK) with bounded reruns of
serialization conflicts, COPY and UNLOAD through S3 with the role Redshift assumes, and readable
COPY errors from the load-error system views. Connecting and error sorting live in
``redshift_connect.py``; SQL text in ``sql.py``. Statements are never logged: COPY and UNLOAD
text names the role and the bucket.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from chalicelib.errors import (
    IngestError,
    PermanentWarehouseError,
    SerializationConflictError,
    TransientWarehouseError,
    WarehouseError,
)
from chalicelib.keys import parse_s3_uri
from chalicelib.warehouse import sql
from chalicelib.warehouse.protocol import UnloadResult
from chalicelib.warehouse.redshift_connect import DRIVER_ERRORS, is_connection_error, translate

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from mypy_boto3_s3 import S3Client

    from chalicelib.warehouse.sql import Dialect

logger = logging.getLogger(__name__)

T = TypeVar("T")
# A conflict means another writer committed first; three reruns over 3.5 s are plenty once loads
# take table locks, and stay far inside the load Lambda's timeout.
CONFLICT_ATTEMPTS = 4
CONFLICT_BASE_DELAY_S = 0.5
# A connection idle this long (a frozen Lambda container) is checked before use: NAT gateways
# and firewalls drop idle TCP flows silently.
IDLE_CHECK_S = 60.0


class RedshiftWarehouse:
    """A ``Warehouse`` on Amazon Redshift. Statements run in autocommit mode unless inside a
    transaction, which this class opens and ends with explicit BEGIN / COMMIT / ROLLBACK."""

    dialect: Dialect = "redshift"

    def __init__(
        self,
        connect: Callable[[], Any],
        iam_role: str,
        s3: S3Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = CONFLICT_ATTEMPTS,
    ) -> None:
        sql.role_literal(iam_role)  # refuse a malformed role now, not at the first COPY
        self._connect, self._iam_role, self._s3 = connect, iam_role, s3
        self._sleep, self._clock, self._attempts = sleep, clock, attempts
        self._lock = threading.RLock()
        self._con: Any = None
        self._last_used = 0.0
        self._in_transaction = False
        self._rolled_back = False

    def _connection(self) -> Any:
        if self._in_transaction:
            if self._con is None:
                # A new connection would run the rest of the transaction's work in autocommit.
                raise TransientWarehouseError("redshift: connection lost inside a transaction")
            return self._con
        if self._con is not None and self._clock() - self._last_used > IDLE_CHECK_S:
            try:
                self._send("SELECT 1", ())
            except TransientWarehouseError:
                logger.info("warehouse.reconnecting", extra={"reason": "idle connection lost"})
        if self._con is None:
            try:
                con = self._connect()
            except IngestError:
                raise
            except DRIVER_ERRORS as exc:
                raise translate(exc) from None
            con.autocommit = True
            self._con, self._last_used = con, self._clock()
        return self._con

    def _send(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            cursor = self._con.cursor()
            cursor.paramstyle = "qmark"  # the shared SQL uses ? placeholders
            cursor.execute(statement, list(params) if params else None)
            rows = cursor.fetchall() if cursor.description else ()
        except DRIVER_ERRORS as exc:
            if is_connection_error(exc):
                self._drop()
            raise translate(exc) from exc
        self._last_used = self._clock()
        return [tuple(row) for row in rows]

    def _run(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._in_transaction and self._rolled_back:
            raise PermanentWarehouseError("the transaction was already rolled back")
        self._connection()
        return self._send(statement, params)

    def _drop(self) -> None:
        con, self._con = self._con, None
        try:
            if con is not None:
                con.close()
        except DRIVER_ERRORS:
            pass  # already gone; the server rolls back whatever it had open

    def _rollback(self) -> None:
        if self._rolled_back or self._con is None:
            return
        self._rolled_back = True
        try:
            self._send("ROLLBACK", ())
        except WarehouseError as exc:
            logger.warning("warehouse.rollback_failed", extra={"error": exc.message})
            self._drop()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._run(sql, params)

    @contextmanager
    def _transaction(self, lock: Sequence[str]) -> Iterator[None]:
        with self._lock:
            if self._in_transaction:
                raise PermanentWarehouseError("nested transactions are not supported")
            lock_statement = sql.lock(lock) if lock else None
            self._connection()  # connect, or replace an idle one, before the transaction starts
            self._in_transaction, self._rolled_back = True, False
            try:
                self._run("BEGIN")
                if lock_statement:
                    # First statement after BEGIN: a lock taken after the transaction's snapshot
                    # would not stop the serialization conflict it is there to prevent.
                    self._run(lock_statement)
                yield
                self._run("COMMIT")
            except BaseException:
                self._rollback()
                raise
            finally:
                self._in_transaction = False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._transaction(()):
            yield

    def run_transaction(self, work: Callable[[], T], lock: Sequence[str] = ()) -> T:
        attempt = 1
        while True:
            try:
                with self._transaction(lock):
                    return work()
            except SerializationConflictError as exc:
                if attempt >= self._attempts:
                    raise
                delay = CONFLICT_BASE_DELAY_S * 2 ** (attempt - 1)
                logger.warning(
                    "warehouse.conflict_retrying",
                    extra={"attempt": attempt, "delay_s": delay, "error": exc.message},
                )
                self._sleep(delay)
                attempt += 1

    def copy_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        return self._copy(table, sql.copy_csv(table, columns, manifest_uri, self._iam_role))

    def copy_parquet_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        return self._copy(
            table, sql.copy_parquet(table, columns, manifest_uri, "redshift", self._iam_role)
        )

    def _copy(self, table: str, statement: str) -> int:
        """Run a COPY; return rows loaded, or raise with what Redshift logged about the failure.

        Raises:
            PermanentWarehouseError: the COPY failed on the data or its location.
        """
        with self._lock:
            try:
                self._run(statement)
            except PermanentWarehouseError as exc:
                query_id = exc.fields.get("query_id")
                reason = self._load_error(
                    query_id if isinstance(query_id, int) else None, exc.message
                )
                reason = reason or exc.message
                raise PermanentWarehouseError(
                    f"COPY into {table} failed: {reason}", table=table
                ) from None
            rows = self._run(sql.last_copy_count())
        return int(rows[0][0]) if rows else 0

    def _load_error(self, query_id: int | None, message: str = "") -> str | None:
        """The first load-error rows of the failed COPY: by the query id its DETAIL names, in
        STL_LOAD_ERRORS (provisioned), whose ``query`` that id is; in SYS_LOAD_ERROR_DETAIL only
        where there is no STL (Serverless), since SYS's ``query_id`` is another number and the
        same value there can be another COPY's. Without an id, a data error ("Load into table
        ... failed") is this session's latest; any other failure (a missing file, an empty
        manifest) wrote no row, and an earlier COPY's would be the wrong one.

        The views are system logs, not part of any transaction: after the rollback they still
        hold the failed COPY's rows, and any session can read them.
        """
        if self._in_transaction:
            # An aborted transaction answers nothing until it ends; nothing in it can commit now.
            self._rollback()
        if query_id is not None:
            lookups = [(sql.load_errors_stl(), [query_id]), (sql.load_errors(), [query_id])]
        elif "load into table" in message.lower():
            lookups = [(sql.load_errors_stl("session"), []), (sql.load_errors("session"), [])]
        else:
            return None
        for query, params in lookups:
            try:
                with self._without_transaction():
                    rows = self._run(query, params)
            except WarehouseError:
                continue  # Serverless has no STL_LOAD_ERRORS
            return (
                "; ".join(
                    f"{str(f).strip()} line {line}, column {str(col).strip() or '?'}: "
                    f"{str(reason).strip()} (code {code})"
                    for f, line, col, code, reason in rows
                )
                or None
            )
        return None

    @contextmanager
    def _without_transaction(self) -> Iterator[None]:
        """Let a diagnostic query through after this adapter rolled the transaction back."""
        flag, self._in_transaction = self._in_transaction, False
        try:
            yield
        finally:
            self._in_transaction = flag

    def unload_to_parquet(self, query: str, prefix_uri: str) -> UnloadResult:
        """UNLOAD ``query`` and read back the manifest Redshift wrote next to the files.

        Raises:
            PermanentWarehouseError: the UNLOAD failed or left no readable manifest.
        """
        prefix_uri = prefix_uri.rstrip("/") + "/"
        self.execute(sql.unload_parquet(query, prefix_uri, self._iam_role))
        manifest_uri = f"{prefix_uri}manifest"
        bucket, key = parse_s3_uri(manifest_uri)
        try:
            manifest = json.loads(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except (ClientError, ValueError) as exc:
            raise PermanentWarehouseError(
                f"UNLOAD left no readable manifest at {manifest_uri}", reason=type(exc).__name__
            ) from exc
        entries = manifest.get("entries", [])
        rows = manifest.get("meta", {}).get("record_count")
        if rows is None:
            rows = sum(e.get("meta", {}).get("record_count", 0) for e in entries)
        return UnloadResult(tuple(e["url"] for e in entries), int(rows), manifest_uri)

    def close(self) -> None:
        with self._lock:
            self._drop()
