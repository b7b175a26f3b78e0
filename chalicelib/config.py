"""Settings for every stage, read from the environment in one place.

This is the only module of the Lambda bundle that reads ``os.environ``; everything else receives
a ``Settings``. It parses and checks values at cold start and raises ``ConfigError`` for bad
ones. A component's own settings live beside it and are parsed from the same mapping (the
Redshift adapter's in ``warehouse/settings.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from chalicelib import envvars
from chalicelib.errors import ConfigError
from chalicelib.warehouse.settings import RedshiftSettings, redshift_settings

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
# A plain file larger than this is planned by parts of this size at once (split_parallel.py).
ENV_PLAN_RANGE_BYTES = "INGEST_PLAN_RANGE_BYTES"
# The chunk byte grid: a chunk ends at the first record end at or past each multiple of it.
ENV_CHUNK_BYTES = "INGEST_CHUNK_BYTES"
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
# Eight grid cells: planned under both hypotheses in about 16 s of a 1,024 MB split Lambda
# (docs/scale.md), small next to its timeout, and 4,096 parts for a 1 TiB file.
DEFAULT_PLAN_RANGE_BYTES = 8 * DEFAULT_CHUNK_BYTES
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
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    plan_range_bytes: int = DEFAULT_PLAN_RANGE_BYTES

    @property
    def part_bytes(self) -> int:
        """The size of a part of a file planned by parts: whole cells of the chunk byte grid."""
        return -(-self.plan_range_bytes // self.chunk_bytes) * self.chunk_bytes

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
        chunk_rows = envvars.integer(env, ENV_CHUNK_ROWS, DEFAULT_CHUNK_ROWS, minimum=1)
        presign_expires = envvars.integer(env, ENV_PRESIGN_EXPIRES, 900, minimum=1)
        max_upload = envvars.integer(env, ENV_MAX_UPLOAD_BYTES, S3_MAX_SINGLE_UPLOAD, minimum=1)
        if max_upload > S3_MAX_SINGLE_UPLOAD:
            raise ConfigError(f"{ENV_MAX_UPLOAD_BYTES} cannot exceed {S3_MAX_SINGLE_UPLOAD}")
        redshift = redshift_settings(env) if warehouse == "redshift" else None
        load_attempts = envvars.integer(env, ENV_LOAD_ATTEMPTS, DEFAULT_LOAD_ATTEMPTS, minimum=1)
        max_seconds = envvars.seconds(env, ENV_MAX_INVOCATION_SECONDS)
        max_bytes = envvars.integer(env, ENV_MAX_INVOCATION_BYTES, 0, minimum=1) or None
        chunk_bytes = envvars.integer(env, ENV_CHUNK_BYTES, DEFAULT_CHUNK_BYTES, minimum=1)
        range_bytes = envvars.integer(
            env, ENV_PLAN_RANGE_BYTES, DEFAULT_PLAN_RANGE_BYTES, minimum=1
        )
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
            chunk_bytes=chunk_bytes,
            plan_range_bytes=range_bytes,
        )


def event_queue_prefix(env: Mapping[str, str] | None = None) -> str:
    """The prefix of the queues the stage handlers read (needed at import, before Settings)."""
    env = os.environ if env is None else env
    return env.get(ENV_QUEUE_PREFIX) or LOCAL_QUEUE_PREFIX


LOCAL_QUEUE_PREFIX = "ingest-local"
