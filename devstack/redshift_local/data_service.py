"""A local stand-in of the four Redshift Data API calls the project makes, on the local engine.

An HTTP server on 127.0.0.1 that speaks the JSON protocol boto3's ``redshift-data`` client uses
(``X-Amz-Target: RedshiftData.ExecuteStatement`` …), reached with ``endpoint_url`` (or
``AWS_ENDPOINT_URL_REDSHIFT_DATA``). Each statement runs in a background thread on its own
``redshift_connector`` connection through the engine's proxy: ExecuteStatement in autocommit,
BatchExecuteStatement between BEGIN and COMMIT (a failure rolls the whole batch back, as in AWS).
With ``events`` set, a statement submitted ``WithEvent`` announces its end as the Data API does,
an EventBridge event "Redshift Data Statement Status Change" from ``aws.redshift-data`` (the
deployed stack in the emulator, whose rule invokes the completion function; ``make serve``
finishes loads by polling instead). Not emulated, and refused: sessions, result formats other
than JSON, ListStatements, CancelStatement. docs/redshift-local.md.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import redshift_connector

from devstack.redshift_local.data_checks import (
    MAX_ACTIVE,
    ApiError,
    Identity,
    check_row,
    check_statements,
    check_target,
    fingerprint,
    validate,
)

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
PAGE_ROWS = 500
ENDED = frozenset({"FINISHED", "FAILED", "ABORTED"})
TARGET_PREFIX = "RedshiftData."
_UNSUPPORTED = ("SessionId", "SessionKeepAliveSeconds", "ResultFormat", "ExecutionMode")
# ``:name`` placeholders outside string literals (``::`` casts are left alone).
_NAMED = re.compile(r"'(?:[^']|'')*'|::|:([A-Za-z_][A-Za-z0-9_]*)")
# A load error's DETAIL names the query as ``query:     185611517[child_sequence:1]``.
_DETAIL_QUERY = re.compile(r"^\s*query:\s*(\d+)(?:\[child_sequence:\d+\])?\s*$", re.MULTILINE)


@dataclass
class _Part:
    sql: str
    status: str = "SUBMITTED"
    error: str | None = None
    query_id: int = -1
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    has_result: bool = False
    result_rows: int = -1
    started: float = 0.0
    ended: float = 0.0


@dataclass
class _Statement:
    id: str
    parts: list[_Part]
    batch: bool
    request: dict[str, Any]
    created: float = field(default_factory=time.time)
    status: str = "SUBMITTED"
    error: str | None = None
    updated: float = field(default_factory=time.time)


def bind_named(sql: str, parameters: list[dict[str, str]]) -> str:
    """``sql`` with each ``:name`` replaced by its value as an untyped string literal, which the
    engine casts to whatever the context needs (the Data API's values are all strings)."""
    values = {p["name"]: p["value"] for p in parameters}

    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in values:
            raise ApiError("ValidationException", f"no value for parameter :{name}")
        return "'" + values[name].replace("'", "''") + "'"

    return _NAMED.sub(literal, sql)


def field_of(value: Any) -> dict[str, Any]:
    """One GetStatementResult field, typed as the Data API types it (NUMERIC as text)."""
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, datetime):
        return {"stringValue": value.strftime("%Y-%m-%d %H:%M:%S")}
    if isinstance(value, date | Decimal):
        return {"stringValue": str(value)}
    return {"stringValue": str(value)}


class DataApiServer(ThreadingHTTPServer):
    """The stand-in; ``start()`` then ``stop()``. ``connect`` opens a connection to the engine."""

    daemon_threads = True

    def __init__(
        self,
        connect_kwargs: dict[str, Any],
        identity: Identity,
        port: int = 0,
        events: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__((HOST, port), _Handler)
        self.connect_kwargs = connect_kwargs
        self.identity = identity
        # Sends one EventBridge entry (PutEvents' shape); None: no events.
        self.events = events
        self.statements: dict[str, _Statement] = {}
        self.tokens: dict[str, tuple[str, str]] = {}
        self.faults: dict[str, str] = {}
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    def start(self) -> DataApiServer:
        self._thread = threading.Thread(target=self.serve_forever, name="data-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def fail_next(self, operation: str, kind: str) -> None:
        """Answer the next call of ``operation`` with the exception ``kind`` (for tests: the
        environmental errors AWS reports as ExecuteStatementException and
        BatchExecuteStatementException cannot be caused from outside)."""
        with self.lock:
            self.faults[operation] = kind

    # The four calls -------------------------------------------------------------------------

    def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        handler = {
            "ExecuteStatement": self._execute,
            "BatchExecuteStatement": self._batch,
            "DescribeStatement": self._describe,
            "GetStatementResult": self._result,
        }.get(operation)
        if handler is None:
            raise ApiError("UnknownOperationException", f"{operation} is not emulated locally")
        validate(operation, request)
        with self.lock:
            fault = self.faults.pop(operation, None)
        if fault:
            raise ApiError(fault, "The SQL statement encountered an environmental error.")
        return handler(request)

    def _execute(self, request: dict[str, Any]) -> dict[str, Any]:
        check_statements([request["Sql"]])
        sql = bind_named(request["Sql"], request.get("Parameters") or [])
        return self._start([_Part(sql)], request, batch=False)

    def _batch(self, request: dict[str, Any]) -> dict[str, Any]:
        sqls = request["Sqls"]
        check_statements(sqls)
        if request.get("Parameters"):
            raise ApiError("ValidationException", "batch parameters are not emulated locally")
        return self._start([_Part(s) for s in sqls], request, batch=True)

    def _start(self, parts: list[_Part], request: dict[str, Any], *, batch: bool) -> dict[str, Any]:
        for name in _UNSUPPORTED:
            if name in request:
                raise ApiError("ValidationException", f"{name} is not emulated locally")
        check_target(request, self.identity)
        token, shape = request.get("ClientToken"), fingerprint(request)
        with self.lock:
            if token and token in self.tokens:
                # AWS idempotency: the same token with the same request is the first statement;
                # with a different request it is an error, never the first statement's answer.
                known, first_shape = self.tokens[token]
                if first_shape != shape:
                    raise ApiError(
                        "ValidationException",
                        f"ClientToken {token} was already used with different parameters",
                    )
                return self._started(self.statements[known])
            active = sum(s.status in ("SUBMITTED", "STARTED") for s in self.statements.values())
            if active >= MAX_ACTIVE:
                raise ApiError(
                    "ActiveStatementsExceededException",
                    f"The number of active statements exceeds the limit of {MAX_ACTIVE}",
                )
            statement = _Statement(str(uuid.uuid4()), parts, batch, request)
            self.statements[statement.id] = statement
            if token:
                self.tokens[token] = (statement.id, shape)
        threading.Thread(
            target=self._run, args=(statement,), name=f"data-api-{statement.id[:8]}", daemon=True
        ).start()
        return self._started(statement)

    def _started(self, statement: _Statement) -> dict[str, Any]:
        request = statement.request
        reply = {
            "Id": statement.id,
            "CreatedAt": statement.created,
            "Database": request["Database"],
        }
        for name in ("ClusterIdentifier", "WorkgroupName", "DbUser", "SecretArn"):
            if request.get(name):
                reply[name] = request[name]
        return reply

    def _describe(self, request: dict[str, Any]) -> dict[str, Any]:
        statement = self._find(request)
        with self.lock:
            parts = list(statement.parts)
            reply: dict[str, Any] = {
                "Id": statement.id,
                "Status": statement.status,
                "CreatedAt": statement.created,
                "UpdatedAt": statement.updated,
                "Database": statement.request["Database"],
                "Duration": int((statement.updated - statement.created) * 1e9),
                "HasResultSet": (not statement.batch) and parts[0].has_result,
                "ResultRows": -1 if statement.batch else parts[0].result_rows,
                "QueryString": "" if statement.batch else parts[0].sql,
                "RedshiftQueryId": 0 if statement.batch else parts[0].query_id,
            }
            if statement.error:
                reply["Error"] = statement.error
            if statement.batch:
                reply["SubStatements"] = [
                    {
                        "Id": f"{statement.id}:{n}",
                        "Status": part.status,
                        "QueryString": part.sql,
                        "HasResultSet": part.has_result,
                        "ResultRows": part.result_rows,
                        "RedshiftQueryId": part.query_id,
                        "CreatedAt": statement.created,
                        "UpdatedAt": part.ended or statement.updated,
                        **({"Error": part.error} if part.error else {}),
                    }
                    for n, part in enumerate(parts, start=1)
                ]
        return reply

    def _result(self, request: dict[str, Any]) -> dict[str, Any]:
        statement = self._find(request)
        if statement.batch:
            raise ApiError("ValidationException", "ask for a sub-statement's result (not emulated)")
        part = statement.parts[0]
        if statement.status != "FINISHED" or not part.has_result:
            raise ApiError("ValidationException", "Query does not have result. Please check.")
        offset = int(request.get("NextToken") or 0)
        page = part.rows[offset : offset + PAGE_ROWS]
        records = [[field_of(v) for v in row] for row in page]
        for record in records:
            check_row(record)
        reply: dict[str, Any] = {
            "Records": records,
            "ColumnMetadata": [{"name": c, "label": c} for c in part.columns],
            "TotalNumRows": len(part.rows),
        }
        if offset + PAGE_ROWS < len(part.rows):
            reply["NextToken"] = str(offset + PAGE_ROWS)
        return reply

    def _find(self, request: dict[str, Any]) -> _Statement:
        statement_id = str(request["Id"]).split(":")[0]
        with self.lock:
            found = self.statements.get(statement_id)
        if found is None:
            raise ApiError("ResourceNotFoundException", f"Query {statement_id} does not exist.")
        return found

    # Running statements ---------------------------------------------------------------------

    def _set(self, statement: _Statement, status: str, error: str | None = None) -> None:
        with self.lock:
            statement.status, statement.updated = status, time.time()
            if error:
                statement.error = error
        if status in ENDED and statement.request.get("WithEvent") and self.events is not None:
            self._announce(statement)

    def _announce(self, statement: _Statement) -> None:
        """The Data API's event for a statement that ended: "Redshift Data Statement Status
        Change", detail with statementName, statementId, state and rows (Amazon Redshift
        Management Guide, "Monitoring events for the Amazon Redshift Data API in Amazon
        EventBridge")."""
        assert self.events is not None
        request = statement.request
        detail = {
            "statementName": request.get("StatementName", ""),
            "statementId": statement.id,
            "redshiftQueryId": -1,
            "state": statement.status,
            "rows": sum(max(p.result_rows, 0) for p in statement.parts),
            "expireAt": int(statement.created) + 24 * 3600,
        }
        try:
            self.events(
                {
                    "Source": "aws.redshift-data",
                    "DetailType": "Redshift Data Statement Status Change",
                    "Detail": json.dumps(detail),
                }
            )
        except Exception as exc:  # the Data API's events are best effort, in AWS as here
            logger.warning("data_api.event_lost", extra={"error": str(exc)})

    def _run(self, statement: _Statement) -> None:
        self._set(statement, "STARTED")
        try:
            con = redshift_connector.connect(**self.connect_kwargs)
        except Exception as exc:
            self._set(statement, "FAILED", f"could not connect: {type(exc).__name__}")
            return
        try:
            con.autocommit = True
            cursor = con.cursor()
            if statement.batch:
                cursor.execute("BEGIN")
            for part in statement.parts:
                if not self._run_part(cursor, statement, part):
                    if statement.batch:
                        cursor.execute("ROLLBACK")
                    return
            if statement.batch:
                cursor.execute("COMMIT")
            self._set(statement, "FINISHED")
        except Exception as exc:  # the connection failed mid-way: the server rolled back
            self._set(statement, "FAILED", f"ERROR: {exc}")
        finally:
            con.close()

    def _run_part(self, cursor: Any, statement: _Statement, part: _Part) -> bool:
        part.status, part.started = "STARTED", time.time()
        try:
            cursor.execute(part.sql)
            described = cursor.description
            rows = [tuple(r) for r in cursor.fetchall()] if described else []
        except Exception as exc:
            fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            message = f"ERROR: {fields.get('M') or exc}"
            query = _DETAIL_QUERY.search(fields.get("D", ""))
            with self.lock:
                part.status, part.error, part.ended = "FAILED", message, time.time()
                part.query_id = int(query.group(1)) if query else -1
            self._set(statement, "FAILED", message)
            return False
        with self.lock:
            part.rows, part.has_result = rows, bool(described)
            part.columns = [d[0] for d in described or ()]
            part.result_rows = len(rows) if described else max(cursor.rowcount, 0)
            part.status, part.ended = "FINISHED", time.time()
        return True


class _Handler(BaseHTTPRequestHandler):
    server: DataApiServer

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        target = self.headers.get("X-Amz-Target", "")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            if not target.startswith(TARGET_PREFIX):
                raise ApiError("UnknownOperationException", f"unknown target {target!r}")
            if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
                raise ApiError(
                    "MissingAuthenticationTokenException", "Request is missing Authentication Token"
                )
            request = json.loads(self.rfile.read(length) or b"{}")
            status, body = 200, self.server.call(target[len(TARGET_PREFIX) :], request)
        except ApiError as exc:
            status, body = 400, {"__type": exc.kind, "message": exc.message}
        except ValueError:
            status, body = 400, {"__type": "SerializationException", "message": "bad JSON"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: Any) -> None:
        logger.debug("data_api.request", extra={"line": fmt % args})
