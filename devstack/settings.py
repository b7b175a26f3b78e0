"""Knobs of the offline stack (``make serve``, ``make demo``), documented in the README.

Read from the few local variables the README lists (``API_PORT``, ``S3_PORT``, ``API_KEY``,
``DATA_DIR``, ``LOCAL_WORKERS``, ``WAREHOUSE``, ``INGEST_REDSHIFT_API``). Never part of the Lambda
bundle: a deployed function has no local stack.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import envvars
from chalicelib.errors import ConfigError
from chalicelib.warehouse.settings import ENV_REDSHIFT_API, RedshiftApi

if TYPE_CHECKING:
    from collections.abc import Mapping

    from chalicelib.config import WarehouseKind

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
    # Each stage function's timeout, and its queue's visibility timeout (AWS requires at least
    # the function's): how long the emulator waits for a handler, and after how long a failed
    # or unfinished delivery is made again.
    function_timeout: int = 120

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalStackSettings:
        """Read API_PORT, S3_PORT, API_KEY, DATA_DIR, LOCAL_WORKERS, WAREHOUSE and
        INGEST_REDSHIFT_API.

        Raises:
            ConfigError: a port or count does not parse.
        """
        env = os.environ if env is None else env
        return cls(
            api_port=envvars.integer(env, "API_PORT", 8000, minimum=0),
            s3_port=envvars.integer(env, "S3_PORT", 5000, minimum=0),
            api_key=env.get("API_KEY") or LOCAL_API_KEY,
            data_dir=env.get("DATA_DIR") or ".local",
            workers=envvars.integer(env, "LOCAL_WORKERS", 4, minimum=1),
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
