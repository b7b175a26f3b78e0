"""Settings for every stage, read from the environment in one place.

This is the only module that reads ``os.environ``; everything else receives a ``Settings``.
It parses and checks values at cold start and raises ``ConfigError`` for bad ones.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from chalicelib.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_BUCKET = "INGEST_BUCKET"
ENV_CHUNK_ROWS = "INGEST_CHUNK_ROWS"
ENV_WAREHOUSE = "INGEST_WAREHOUSE"
ENV_DUCKDB_PATH = "INGEST_DUCKDB_PATH"
ENV_API_KEY = "INGEST_API_KEY"
# A deployed stage's API Gateway key (its id): the deep health check compares callers with it.
ENV_API_KEY_ID = "INGEST_API_KEY_ID"
ENV_PRESIGN_EXPIRES = "INGEST_PRESIGN_EXPIRES"
ENV_MAX_UPLOAD_BYTES = "INGEST_MAX_UPLOAD_BYTES"
ENV_LOAD_ATTEMPTS = "INGEST_LOAD_ATTEMPTS"
ENV_QUEUE_PREFIX = "INGEST_QUEUE_PREFIX"
# What one invocation may spend before it hands its work on (pipeline/budget.py).
ENV_MAX_INVOCATION_SECONDS = "INGEST_MAX_INVOCATION_SECONDS"
ENV_MAX_INVOCATION_BYTES = "INGEST_MAX_INVOCATION_BYTES"
ENV_REDSHIFT_HOST = "INGEST_REDSHIFT_HOST"
ENV_REDSHIFT_PORT = "INGEST_REDSHIFT_PORT"
ENV_REDSHIFT_DATABASE = "INGEST_REDSHIFT_DATABASE"
ENV_REDSHIFT_USER = "INGEST_REDSHIFT_USER"
ENV_REDSHIFT_PASSWORD = "INGEST_REDSHIFT_PASSWORD"  # noqa: S105 - env var name, not a secret
ENV_REDSHIFT_IAM_ROLE = "INGEST_REDSHIFT_IAM_ROLE"
ENV_REDSHIFT_AUTH = "INGEST_REDSHIFT_AUTH"
ENV_REDSHIFT_CLUSTER_ID = "INGEST_REDSHIFT_CLUSTER_ID"
ENV_REDSHIFT_WORKGROUP = "INGEST_REDSHIFT_WORKGROUP"
ENV_REDSHIFT_SECRET_ARN = "INGEST_REDSHIFT_SECRET_ARN"  # noqa: S105 - env var name, not a secret
ENV_REDSHIFT_REGION = "INGEST_REDSHIFT_REGION"
# "false" only for the local engine (devstack/redshift_local), which speaks no TLS.
ENV_REDSHIFT_SSL = "INGEST_REDSHIFT_SSL"
# connector: redshift_connector over TCP (the Lambda in the cluster's VPC); data: the Redshift Data
# API (HTTPS, a load may outlast the Lambda; docs/data-api.md).
ENV_REDSHIFT_API = "INGEST_REDSHIFT_API"
# true: the load finishes on the Data API's EventBridge event; false: by re-queueing itself.
ENV_REDSHIFT_DATA_EVENTS = "INGEST_REDSHIFT_DATA_EVENTS"
# How long a load invocation waits on its Data API statement before handing over.
ENV_REDSHIFT_DATA_WAIT = "INGEST_REDSHIFT_DATA_WAIT_SECONDS"

# Chosen from `make bench --sweep` at 1M rows (docs/benchmarks.md): 250k rows took the least CPU
# (16.9 s, against 19.0 s at 100k and 24.8 s at 25k: fewer S3 requests and invocations) at a wall
# time within the noise of the fastest, with the largest chunk handler at 124 MB. A chunk is
# ~12 MB of cleaned CSV, inside Redshift's advice of 1 MB-1 GB per COPY file; a 10M-row upload
# is 40 objects per stage. The seed's 1,000 rows stays selectable (it took 700 s for 1M rows).
DEFAULT_CHUNK_ROWS = 250_000
# A presigned POST can carry at most 5 GB (S3's single-PUT limit).
S3_MAX_SINGLE_UPLOAD = 5 * 1024**3
# A stage's queue delivers a message up to its maxReceiveCount (5 by default, docs/deploy.md)
# before dead-lettering it. The load gives up sooner, on its third delivery that finds the
# warehouse unavailable: the upload is then `failed` with a retry hint rather than stuck `loading`.
DEFAULT_LOAD_ATTEMPTS = 3

WarehouseKind = Literal["duckdb", "redshift"]
# password: user and password from the environment (dev clusters); iam: temporary credentials from
# GetClusterCredentials / redshift-serverless GetCredentials; secret: a Secrets Manager secret.
RedshiftAuth = Literal["password", "iam", "secret"]
REDSHIFT_AUTHS: tuple[RedshiftAuth, ...] = ("password", "iam", "secret")
RedshiftApi = Literal["connector", "data"]
DEFAULT_DATA_WAIT_S = 20
# The role Redshift assumes for COPY/UNLOAD; it is written into SQL text, so its shape is checked.
IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")


@dataclass(frozen=True)
class RedshiftSettings:
    """Connection settings for the Redshift adapter; the password is never logged."""

    host: str | None
    port: int
    database: str
    user: str | None
    password: str | None = field(repr=False)
    iam_role: str
    auth: RedshiftAuth = "password"
    cluster_identifier: str | None = None
    workgroup: str | None = None
    secret_arn: str | None = None
    region: str | None = None
    ssl: bool = True
    api: RedshiftApi = "connector"
    data_events: bool = True
    data_wait_s: int = DEFAULT_DATA_WAIT_S

    def __repr__(self) -> str:
        return (
            f"RedshiftSettings(api={self.api!r}, auth={self.auth!r}, host={self.host!r}, "
            f"database={self.database!r}, user={self.user!r})"
        )


@dataclass(frozen=True)
class Settings:
    """Everything a handler needs to know about its deployment."""

    bucket: str
    warehouse: WarehouseKind = "duckdb"
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    duckdb_path: str = ":memory:"
    api_key: str | None = None
    api_key_id: str | None = None
    presign_expires: int = 900
    max_upload_bytes: int = S3_MAX_SINGLE_UPLOAD
    redshift: RedshiftSettings | None = None
    load_attempts: int = DEFAULT_LOAD_ATTEMPTS
    # Each stage's queue is <queue_prefix>-<stage>, its dead-letter queue <...>-dlq (triggers.py).
    queue_prefix: str = "ingest-local"
    # Caps on one split invocation; None: the Lambda's remaining time (pipeline/budget.py).
    max_invocation_seconds: float | None = None
    max_invocation_bytes: int | None = None

    def __repr__(self) -> str:
        key = "set" if self.api_key else "unset"
        return (
            f"Settings(bucket={self.bucket!r}, warehouse={self.warehouse!r}, "
            f"chunk_rows={self.chunk_rows}, api_key={key})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables.

        Raises:
            ConfigError: a required variable is missing or a value does not parse.
        """
        env = os.environ if env is None else env
        bucket = env.get(ENV_BUCKET, "").strip()
        if not bucket:
            raise ConfigError(f"{ENV_BUCKET} is required")
        warehouse = env.get(ENV_WAREHOUSE, "duckdb")
        if warehouse not in ("duckdb", "redshift"):
            raise ConfigError(f"{ENV_WAREHOUSE} must be 'duckdb' or 'redshift', got {warehouse!r}")
        chunk_rows = _int(env, ENV_CHUNK_ROWS, DEFAULT_CHUNK_ROWS, minimum=1)
        presign_expires = _int(env, ENV_PRESIGN_EXPIRES, 900, minimum=1)
        max_upload = _int(env, ENV_MAX_UPLOAD_BYTES, S3_MAX_SINGLE_UPLOAD, minimum=1)
        if max_upload > S3_MAX_SINGLE_UPLOAD:
            raise ConfigError(f"{ENV_MAX_UPLOAD_BYTES} cannot exceed {S3_MAX_SINGLE_UPLOAD}")
        redshift = _redshift(env) if warehouse == "redshift" else None
        load_attempts = _int(env, ENV_LOAD_ATTEMPTS, DEFAULT_LOAD_ATTEMPTS, minimum=1)
        max_seconds = _seconds(env, ENV_MAX_INVOCATION_SECONDS)
        max_bytes = _int(env, ENV_MAX_INVOCATION_BYTES, 0, minimum=1) or None
        return cls(
            bucket=bucket,
            warehouse=warehouse,  # type: ignore[arg-type]  # checked above
            chunk_rows=chunk_rows,
            duckdb_path=env.get(ENV_DUCKDB_PATH, ":memory:"),
            api_key=env.get(ENV_API_KEY) or None,
            api_key_id=env.get(ENV_API_KEY_ID) or None,
            presign_expires=presign_expires,
            max_upload_bytes=max_upload,
            redshift=redshift,
            load_attempts=load_attempts,
            queue_prefix=event_queue_prefix(env),
            max_invocation_seconds=max_seconds,
            max_invocation_bytes=max_bytes,
        )


def _seconds(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _redshift(env: Mapping[str, str]) -> RedshiftSettings:
    def get(name: str) -> str | None:
        return env.get(name, "").strip() or None

    auth = get(ENV_REDSHIFT_AUTH) or "password"
    if auth not in REDSHIFT_AUTHS:
        raise ConfigError(f"{ENV_REDSHIFT_AUTH} must be one of {', '.join(REDSHIFT_AUTHS)}")
    required = [ENV_REDSHIFT_DATABASE, ENV_REDSHIFT_IAM_ROLE]
    unused: list[str] = []
    if auth == "password":
        required += [ENV_REDSHIFT_HOST, ENV_REDSHIFT_USER, ENV_REDSHIFT_PASSWORD]
        unused += [ENV_REDSHIFT_SECRET_ARN]
    elif auth == "iam":
        if bool(get(ENV_REDSHIFT_CLUSTER_ID)) == bool(get(ENV_REDSHIFT_WORKGROUP)):
            raise ConfigError(
                f"{ENV_REDSHIFT_AUTH}=iam needs exactly one of "
                f"{ENV_REDSHIFT_CLUSTER_ID} (provisioned) or {ENV_REDSHIFT_WORKGROUP} (serverless)"
            )
        if get(ENV_REDSHIFT_CLUSTER_ID):
            required.append(ENV_REDSHIFT_USER)  # GetClusterCredentials issues a password for it
        unused += [ENV_REDSHIFT_PASSWORD, ENV_REDSHIFT_SECRET_ARN]
    else:
        required.append(ENV_REDSHIFT_SECRET_ARN)
        unused += [ENV_REDSHIFT_USER, ENV_REDSHIFT_PASSWORD]
    missing = [name for name in required if not get(name)]
    if missing:
        raise ConfigError(f"warehouse 'redshift' with {auth} auth needs {', '.join(missing)}")
    ignored = [name for name in unused if get(name)]
    if ignored:
        raise ConfigError(f"{', '.join(ignored)} cannot be used with {ENV_REDSHIFT_AUTH}={auth}")
    api = get(ENV_REDSHIFT_API) or "connector"
    if api not in ("connector", "data"):
        raise ConfigError(f"{ENV_REDSHIFT_API} must be 'connector' or 'data', got {api!r}")
    if api == "data" and not (get(ENV_REDSHIFT_CLUSTER_ID) or get(ENV_REDSHIFT_WORKGROUP)):
        raise ConfigError(
            f"{ENV_REDSHIFT_API}=data needs {ENV_REDSHIFT_CLUSTER_ID} or {ENV_REDSHIFT_WORKGROUP}"
        )
    iam_role = env[ENV_REDSHIFT_IAM_ROLE].strip()
    if not IAM_ROLE_ARN.fullmatch(iam_role):
        raise ConfigError(f"{ENV_REDSHIFT_IAM_ROLE} must be an IAM role ARN, got {iam_role!r}")
    return RedshiftSettings(
        host=get(ENV_REDSHIFT_HOST),
        port=_int(env, ENV_REDSHIFT_PORT, 5439, minimum=1),
        database=env[ENV_REDSHIFT_DATABASE].strip(),
        user=get(ENV_REDSHIFT_USER),
        password=env.get(ENV_REDSHIFT_PASSWORD) or None,
        iam_role=iam_role,
        auth=auth,
        cluster_identifier=get(ENV_REDSHIFT_CLUSTER_ID),
        workgroup=get(ENV_REDSHIFT_WORKGROUP),
        secret_arn=get(ENV_REDSHIFT_SECRET_ARN),
        region=get(ENV_REDSHIFT_REGION),
        ssl=_flag(env, ENV_REDSHIFT_SSL, default=True),
        api=api,  # type: ignore[arg-type]  # checked above
        data_events=_flag(env, ENV_REDSHIFT_DATA_EVENTS, default=True),
        data_wait_s=_int(env, ENV_REDSHIFT_DATA_WAIT, DEFAULT_DATA_WAIT_S, minimum=0),
    )


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise ConfigError(f"{name} must be 'true' or 'false', got {raw!r}")
    return raw == "true"


def event_queue_prefix(env: Mapping[str, str] | None = None) -> str:
    """The prefix of the queues the stage handlers read (needed at import, before Settings)."""
    env = os.environ if env is None else env
    return env.get(ENV_QUEUE_PREFIX) or LOCAL_QUEUE_PREFIX


LOCAL_QUEUE_PREFIX = "ingest-local"
LOCAL_API_KEY = "local-only-api-key"  # documented default for the offline stack; never deployed
LOCAL_BUCKET = "ingest-local"


@dataclass(frozen=True)
class LocalStackSettings:
    """Knobs of the offline stack (``make serve``/``make demo``), documented in the README."""

    api_port: int = 8000
    s3_port: int = 5000
    api_key: str = LOCAL_API_KEY
    data_dir: str = ".local"
    workers: int = 4
    warehouse: WarehouseKind = "duckdb"  # redshift: the local engine in devstack/redshift_local
    redshift_api: RedshiftApi = "connector"  # data: through the local Data API stand-in
    # Deliveries before a stage's queue dead-letters a message (the deployed default, too).
    max_receives: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalStackSettings:
        """Read API_PORT, S3_PORT, API_KEY, DATA_DIR, LOCAL_WORKERS, WAREHOUSE and
        INGEST_REDSHIFT_API.

        Raises:
            ConfigError: a port or count does not parse.
        """
        env = os.environ if env is None else env
        return cls(
            api_port=_int(env, "API_PORT", 8000, minimum=0),
            s3_port=_int(env, "S3_PORT", 5000, minimum=0),
            api_key=env.get("API_KEY") or LOCAL_API_KEY,
            data_dir=env.get("DATA_DIR") or ".local",
            workers=_int(env, "LOCAL_WORKERS", 4, minimum=1),
            warehouse=_local_warehouse(env.get("WAREHOUSE") or "duckdb"),
            redshift_api=_local_api(env.get(ENV_REDSHIFT_API) or "connector"),
        )


def _local_api(value: str) -> RedshiftApi:
    if value == "connector":
        return "connector"
    if value == "data":
        return "data"
    raise ConfigError(f"{ENV_REDSHIFT_API} must be 'connector' or 'data', got {value!r}")


def _local_warehouse(value: str) -> WarehouseKind:
    if value == "duckdb":
        return "duckdb"
    if value == "redshift":
        return "redshift"
    raise ConfigError(f"WAREHOUSE must be 'duckdb' or 'redshift', got {value!r}")
