"""Reaching Redshift through the Redshift Data API: statements over HTTPS, no connection to hold.

Owns the four calls the project makes (ExecuteStatement, BatchExecuteStatement,
DescribeStatement, GetStatementResult), waiting on a statement with a bounded budget, reading
typed result fields, and sorting Data API failures into transient and permanent warehouse errors.
``DataApiWarehouse`` offers the protocol's plain statements (reports, health, DDL); the load's
batch transaction is built in ``sql/batchload.py`` and driven by ``pipeline/load_async.py``.
Statements are never logged: COPY text names the role and the bucket.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import (
    PermanentWarehouseError,
    SerializationConflictError,
    TransientWarehouseError,
    WarehouseError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from contextlib import AbstractContextManager

    from chalicelib.warehouse.protocol import UnloadResult
    from chalicelib.warehouse.settings import RedshiftSettings
    from chalicelib.warehouse.sql import Dialect

logger = logging.getLogger(__name__)
T = TypeVar("T")

RUNNING = frozenset({"SUBMITTED", "PICKED", "STARTED"})
# A plain statement (a report, SELECT 1) waits at most this long; the load's batch never waits
# here but in ``wait`` with the caller's budget.
QUERY_TIMEOUT_S = 25.0
# ExecuteStatementException / BatchExecuteStatementException: "The SQL statement encountered an
# environmental error while running" (Data API reference): not the statement's fault.
_TRANSIENT_CODES = {
    "ExecuteStatementException",
    "BatchExecuteStatementException",
    "ThrottlingException",
    "InternalServerException",
    "ActiveStatementsExceededException",
    "ActiveSessionsExceededException",
    "ActiveWaitingRequestsExceededException",
    "ServiceUnavailable",
}
# Redshift's serializable isolation violation (error 1023); PostgreSQL's is SQLSTATE 40001.
_CONFLICT = re.compile(r"\b1023\b|serializable isolation|could not serialize", re.IGNORECASE)
_TRANSIENT_TEXT = re.compile(
    r"deadlock detected|canceling statement due to|terminating connection|connection",
    re.IGNORECASE,
)
# Placeholders of the shared SQL (``?``) outside string literals and quoted identifiers.
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?")


class DataApiClient(Protocol):
    """The calls of boto3's ``redshift-data`` client this module makes."""

    def execute_statement(self, **kwargs: Any) -> Mapping[str, Any]: ...
    def batch_execute_statement(self, **kwargs: Any) -> Mapping[str, Any]: ...
    def describe_statement(self, **kwargs: Any) -> Mapping[str, Any]: ...
    def get_statement_result(self, **kwargs: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Target:
    """Which database the statements run in, and as whom (the Data API's auth parameters)."""

    database: str
    cluster_identifier: str | None = None
    workgroup: str | None = None
    db_user: str | None = None
    secret_arn: str | None = None

    @classmethod
    def of(cls, settings: RedshiftSettings) -> Target:
        """Secrets Manager when a secret is configured; else temporary credentials: as the
        database user on a provisioned cluster, as the IAM identity on a Serverless workgroup."""
        secret = settings.secret_arn if settings.auth == "secret" else None
        user = settings.user if not secret and not settings.workgroup else None
        return cls(
            database=settings.database,
            cluster_identifier=None if settings.workgroup else settings.cluster_identifier,
            workgroup=settings.workgroup,
            db_user=user,
            secret_arn=secret,
        )

    def kwargs(self) -> dict[str, str]:
        given = {
            "Database": self.database,
            "ClusterIdentifier": self.cluster_identifier,
            "WorkgroupName": self.workgroup,
            "DbUser": self.db_user,
            "SecretArn": self.secret_arn,
        }
        return {k: v for k, v in given.items() if v}


@dataclass(frozen=True)
class Status:
    """What DescribeStatement says about a statement (a batch: its first failed part)."""

    statement_id: str
    status: str
    error: str | None = None
    failed_query_id: int | None = None
    failed_sql: str | None = None

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    def failure(self) -> WarehouseError:
        """Our error for a FAILED or ABORTED statement (never the statement text)."""
        text = f"redshift: {self.error or self.status.lower()}"
        if self.status == "ABORTED":
            return TransientWarehouseError(f"{text} (statement aborted)")
        if _CONFLICT.search(self.error or ""):
            return SerializationConflictError(text)
        if _TRANSIENT_TEXT.search(self.error or ""):
            return TransientWarehouseError(text)
        return PermanentWarehouseError(text, query_id=self.failed_query_id)


def qmark_to_named(statement: str, params: Sequence[Any]) -> tuple[str, list[dict[str, str]]]:
    """The statement with ``?`` placeholders as ``:p1``, ``:p2``… and the Data API parameters.

    The Data API takes every value as a string and no NULL.

    >>> qmark_to_named("SELECT '?', x FROM t WHERE a = ? AND b = ?", [1, "y"])
    ("SELECT '?', x FROM t WHERE a = :p1 AND b = :p2", [{'name': 'p1', 'value': '1'}, {'name': 'p2', 'value': 'y'}])

    Raises:
        PermanentWarehouseError: the counts differ, or a value is None.
    """  # noqa: E501
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f":p{count}"

    text = _PLACEHOLDER.sub(number, statement)
    if count != len(params):
        raise PermanentWarehouseError(f"statement has {count} placeholders, {len(params)} values")
    values: list[dict[str, str]] = []
    for n, value in enumerate(params, start=1):
        if value is None:
            raise PermanentWarehouseError("the Data API takes no NULL parameter")
        shown = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
        values.append({"name": f"p{n}", "value": shown})
    return text, values


def field_value(field: Mapping[str, Any]) -> Any:
    """The Python value of one GetStatementResult field (NUMERIC arrives as text)."""
    if field.get("isNull"):
        return None
    for kind in ("longValue", "doubleValue", "booleanValue", "stringValue", "blobValue"):
        if kind in field:
            return field[kind]
    return None


class DataApi:
    """The Data API calls, for one target; every failure becomes a warehouse error."""

    def __init__(
        self,
        client: DataApiClient,
        target: Target,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._target = client, target
        self._sleep, self._clock = sleep, clock

    def _call(self, name: str, **kwargs: Any) -> Mapping[str, Any]:
        try:
            reply: Mapping[str, Any] = getattr(self._client, name)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            if code == "ResourceNotFoundException":
                raise PermanentWarehouseError(
                    f"redshift data api: {message or code}", aws_code=code
                ) from None
            kind = TransientWarehouseError if code in _TRANSIENT_CODES else PermanentWarehouseError
            raise kind(f"redshift data api: {code} {message}".strip(), aws_code=code) from None
        except BotoCoreError as exc:
            raise TransientWarehouseError(f"redshift data api: {type(exc).__name__}") from None
        return reply

    def submit(self, statements: Sequence[str], *, name: str, token: str, with_event: bool) -> str:
        """Start ``statements`` as one transaction (BatchExecuteStatement); return its id.

        ``token`` makes a repeated submit of the same work return the first statement's id.
        """
        reply = self._call(
            "batch_execute_statement",
            Sqls=list(statements),
            StatementName=name,
            ClientToken=token,
            WithEvent=with_event,
            **self._target.kwargs(),
        )
        return str(reply["Id"])

    def describe(self, statement_id: str) -> Status:
        reply = self._call("describe_statement", Id=statement_id)
        status, error = str(reply.get("Status", "")), reply.get("Error")
        for part in reply.get("SubStatements") or ():
            if part.get("Status") in ("FAILED", "ABORTED"):
                query_id = part.get("RedshiftQueryId")
                return Status(
                    statement_id,
                    status,
                    part.get("Error") or error,
                    int(query_id) if query_id and int(query_id) > 0 else None,
                    part.get("QueryString"),
                )
        return Status(statement_id, status, error)

    def wait(self, statement_id: str, seconds: float) -> Status:
        """Describe the statement until it ends or ``seconds`` pass; return the last status."""
        deadline, delay = self._clock() + seconds, 0.1
        while True:
            status = self.describe(statement_id)
            if not status.running or self._clock() + delay > deadline:
                return status
            self._sleep(delay)
            delay = min(delay * 2, 2.0)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (ExecuteStatement), wait for it, return its rows (if any).

        Raises:
            TransientWarehouseError: it did not end within ``QUERY_TIMEOUT_S`` or may be rerun.
            PermanentWarehouseError: Redshift refused it.
        """
        text, values = qmark_to_named(statement, params)
        extra: dict[str, Any] = {"Parameters": values} if values else {}
        reply = self._call("execute_statement", Sql=text, **extra, **self._target.kwargs())
        status = self.wait(str(reply["Id"]), QUERY_TIMEOUT_S)
        if status.running:
            raise TransientWarehouseError(
                f"redshift: statement still running after {QUERY_TIMEOUT_S}s"
            )
        if status.status != "FINISHED":
            raise status.failure()
        return list(self.rows(status.statement_id))

    def rows(self, statement_id: str) -> Iterator[tuple[Any, ...]]:
        """Every row of a finished statement's result, page by page."""
        if not self._call("describe_statement", Id=statement_id).get("HasResultSet"):
            return
        token: str | None = None
        while True:
            page = self._call(
                "get_statement_result", Id=statement_id, **({"NextToken": token} if token else {})
            )
            for record in page.get("Records", []):
                yield tuple(field_value(f) for f in record)
            token = page.get("NextToken")
            if not token:
                return


class DataApiWarehouse:
    """The ``Warehouse`` statements the Data API can answer one at a time (reports, health,
    DDL). Transactions with reads in the middle need one session, which the Data API's
    statements do not hold: those routes (batch rows, backup, restore) use the connector."""

    dialect: Dialect = "redshift"

    def __init__(self, api: DataApi) -> None:
        self.api = api

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.api.query(sql, params)

    def _unsupported(self, what: str) -> NoReturn:
        raise PermanentWarehouseError(
            f"{what} runs through redshift_connector, not the Data API "
            "(docs/data-api.md: what goes where)"
        )

    def copy_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        self._unsupported("COPY outside the load")

    def copy_parquet_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        self._unsupported("COPY from Parquet")

    def unload_to_parquet(self, query: str, prefix_uri: str) -> UnloadResult:
        self._unsupported("UNLOAD")

    def transaction(self) -> AbstractContextManager[None]:
        self._unsupported("a transaction")

    def run_transaction(self, work: Callable[[], T], lock: Sequence[str] = ()) -> T:
        self._unsupported("a transaction")

    def close(self) -> None:
        """Nothing to close: the Data API holds no connection."""
