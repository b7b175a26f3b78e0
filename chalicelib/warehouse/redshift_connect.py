"""Reaching Redshift: connection arguments for each auth mode, and what driver errors mean.

Owns turning ``RedshiftSettings`` (password, IAM, or a Secrets Manager secret read at each
connect, so rotation needs no redeploy) into ``redshift_connector.connect`` arguments, and sorting
driver and AWS SDK exceptions into transient and permanent warehouse errors. It runs no SQL;
``redshift.py`` does. Credentials and secrets are never logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Protocol, cast

import boto3
import redshift_connector
from botocore.exceptions import BotoCoreError, ClientError
from redshift_connector.error import Error as DriverError
from redshift_connector.error import InterfaceError, OperationalError

from chalicelib.errors import (
    ConfigError,
    PermanentWarehouseError,
    SerializationConflictError,
    TransientWarehouseError,
    WarehouseError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from chalicelib.warehouse.settings import RedshiftSettings

logger = logging.getLogger(__name__)
# redshift_connector logs connection properties and statements at DEBUG.
logging.getLogger("redshift_connector").setLevel(logging.INFO)

# redshift_connector's ``timeout`` is the socket's timeout for every read, not only the
# connect's: kept for the connect, then lifted, so that a long COPY, MERGE, UNLOAD or a LOCK
# waiting its turn is bounded by the database (statement_timeout, WLM rules), not cut off.
CONNECT_TIMEOUT_S = 30
APPLICATION_NAME = "csv-ingest"

# SQLSTATEs a retry may fix: serialization, deadlock, lock not available, statement timeout or
# cancel, server shutdown, insufficient resources. Class 08 is connection trouble.
_TRANSIENT_STATES = {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"}
_TRANSIENT_CLASSES = ("08", "53")
_TRANSIENT_AWS_CODES = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "InternalServiceError",
    "InternalFailure",
}
# Driver errors without a server response that mean the socket is gone, not that input is bad.
_CONNECTION_TEXT = (
    "communication error",
    "connection is closed",
    "unable to determine ip",
    "connection time out",
)
DRIVER_ERRORS = (DriverError, OSError, ClientError, BotoCoreError)
# A load error's DETAIL is a block of "key: value" lines, one of them the query: "query: <id>"
# from older Redshift, "query:     185611517[child_sequence:1]" from current Redshift.
_DETAIL_QUERY = re.compile(r"^\s*query:\s*(\d+)(?:\[child_sequence:\d+\])?\s*$", re.MULTILINE)


class SecretsClient(Protocol):
    """The one Secrets Manager call the adapter makes."""

    def get_secret_value(self, *, SecretId: str) -> Mapping[str, Any]: ...


def _server_fields(exc: BaseException) -> dict[str, str]:
    """The ErrorResponse fields (S, C, M, D, ...) the driver puts in ``args[0]``, if any."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, dict) else {}


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError | BotoCoreError):
        return True
    if not isinstance(exc, InterfaceError | OperationalError):
        return False
    if _server_fields(exc):
        return False
    text = str(exc.args[0] if exc.args else "").lower()
    return any(part in text for part in _CONNECTION_TEXT)


def translate(exc: BaseException) -> WarehouseError:
    """Our error for a driver (or AWS SDK) exception; the message never holds the statement."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        kind = TransientWarehouseError if code in _TRANSIENT_AWS_CODES else PermanentWarehouseError
        return kind(f"redshift credentials: {code}", aws_code=code)
    fields = _server_fields(exc)
    state, message, detail = fields.get("C", ""), fields.get("M", ""), fields.get("D", "")
    # Redshift reports a serializable isolation violation as error 1023 with SQLSTATE XX000.
    if state == "40001" or message.strip() == "1023" or "Serializable isolation" in detail:
        return SerializationConflictError(f"redshift: 1023 {detail}".strip(), sqlstate=state)
    if is_connection_error(exc):
        return TransientWarehouseError(f"redshift: connection failed ({exc})")
    if state in _TRANSIENT_STATES or state.startswith(_TRANSIENT_CLASSES):
        return TransientWarehouseError(f"redshift: {message} [{state}]", sqlstate=state)
    # The DETAIL of other errors can quote row values, so only the message is kept, and from a
    # failed COPY's DETAIL block only its query id, the key of its rows in the load-error views.
    text = f"{message} [{state}]" if fields else str(exc)
    query = _DETAIL_QUERY.search(detail)
    if query:
        return PermanentWarehouseError(
            f"redshift: {text}", sqlstate=state, query_id=int(query.group(1))
        )
    return PermanentWarehouseError(f"redshift: {text}", sqlstate=state)


def connect_kwargs(
    settings: RedshiftSettings, secret: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``redshift_connector.connect`` in the configured auth mode.

    Raises:
        ConfigError: the secret lacks a username or password, or no host is known.
    """
    kwargs: dict[str, Any] = {
        "database": settings.database,
        "port": settings.port,
        "timeout": CONNECT_TIMEOUT_S,
        "application_name": APPLICATION_NAME,
    }
    if settings.host:
        kwargs["host"] = settings.host
    if not settings.ssl:
        kwargs["ssl"] = False
    if settings.auth == "password":
        kwargs.update(user=settings.user, password=settings.password)
    elif settings.auth == "iam":
        # Temporary credentials from the Lambda role: GetClusterCredentials for a provisioned
        # cluster, redshift-serverless GetCredentials for a workgroup. Without a host the driver
        # also calls DescribeClusters / GetWorkgroup.
        kwargs["iam"] = True
        if settings.region:
            kwargs["region"] = settings.region
        if settings.workgroup:
            kwargs.update(is_serverless=True, serverless_work_group=settings.workgroup)
        else:
            kwargs.update(cluster_identifier=settings.cluster_identifier, db_user=settings.user)
    else:
        if not secret or not secret.get("username") or not secret.get("password"):
            raise ConfigError(f"secret {settings.secret_arn} has no username and password")
        kwargs.update(user=secret["username"], password=secret["password"])
        if "host" not in kwargs and secret.get("host"):
            # Secrets Manager's Redshift secrets hold the endpoint's port beside its host.
            kwargs["host"] = secret["host"]
            if secret.get("port"):
                kwargs["port"] = int(secret["port"])
    if not kwargs.get("host") and settings.auth != "iam":
        raise ConfigError("no Redshift host: set INGEST_REDSHIFT_HOST or put 'host' in the secret")
    return kwargs


def read_secret(secrets: SecretsClient, arn: str) -> dict[str, Any]:
    """The JSON object stored in a Secrets Manager secret (never logged).

    Raises:
        TransientWarehouseError: Secrets Manager is throttling or unreachable.
        PermanentWarehouseError: the secret cannot be read (access, missing).
        ConfigError: the secret is not a JSON object.
    """
    try:
        text = secrets.get_secret_value(SecretId=arn).get("SecretString") or ""
    except (ClientError, BotoCoreError) as exc:
        error = translate(exc)
        raise type(error)(f"cannot read secret {arn}: {error.message}", **error.fields) from None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        # ``from None``: the decode error would carry the secret's text.
        raise ConfigError(f"secret {arn} is not a JSON object") from None
    return value


def _unbounded_reads(con: Any) -> None:
    """Lift the connect timeout from the connection's socket (the driver keeps it for every
    read); TCP keepalives, on by default in the driver, still notice a dead peer."""
    sock = getattr(con, "_usock", None)
    if sock is not None:
        sock.settimeout(None)


def connector(
    settings: RedshiftSettings, secrets: SecretsClient | None = None
) -> Callable[[], Any]:
    """A function that opens a new connection; a secret is read at each connect (rotation)."""

    def connect() -> Any:
        nonlocal secrets
        secret = None
        if settings.auth == "secret" and settings.secret_arn:
            if secrets is None:
                secrets = cast("SecretsClient", boto3.client("secretsmanager"))
            secret = read_secret(secrets, settings.secret_arn)
        started = time.monotonic()
        con = redshift_connector.connect(**connect_kwargs(settings, secret))
        _unbounded_reads(con)
        if settings.statement_timeout_s:
            con.autocommit = True
            # statement_timeout (ms) stops any statement that runs longer (r_statement_timeout).
            con.cursor().execute(
                f"SET statement_timeout TO {int(settings.statement_timeout_s) * 1000}"
            )
        logger.info(
            "warehouse.connected",
            extra={
                "auth": settings.auth,
                "host": settings.host or settings.workgroup,
                "duration_ms": round((time.monotonic() - started) * 1000),
            },
        )
        return con

    return connect
