"""Settings are parsed and checked once, from one mapping."""

from __future__ import annotations

import pytest

from chalicelib.config import Settings
from chalicelib.errors import ConfigError
from devstack.settings import LocalStackSettings


def test_from_env_reads_and_types_values() -> None:
    s = Settings.from_env(
        {"INGEST_BUCKET": "b", "INGEST_CHUNK_ROWS": "500", "INGEST_API_KEY": "s3cr3t-value"}
    )
    assert (s.bucket, s.chunk_rows, s.api_key, s.warehouse) == ("b", 500, "s3cr3t-value", "duckdb")
    assert "s3cr3t" not in repr(s)
    assert s.load_attempts == 3
    assert Settings.from_env({"INGEST_BUCKET": "b", "INGEST_LOAD_ATTEMPTS": "5"}).load_attempts == 5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "INGEST_BUCKET is required"),
        ({"INGEST_BUCKET": "b", "INGEST_CHUNK_ROWS": "ten"}, "must be an integer"),
        ({"INGEST_BUCKET": "b", "INGEST_CHUNK_ROWS": "0"}, "must be >= 1"),
        ({"INGEST_BUCKET": "b", "INGEST_WAREHOUSE": "oracle"}, "must be 'duckdb' or 'redshift'"),
        ({"INGEST_BUCKET": "b", "INGEST_WAREHOUSE": "redshift"}, "needs INGEST_REDSHIFT_DATABASE"),
        ({"INGEST_BUCKET": "b", "INGEST_LOAD_ATTEMPTS": "0"}, "INGEST_LOAD_ATTEMPTS must be >= 1"),
    ],
)
def test_from_env_refuses_bad_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_local_stack_settings_defaults_are_local_only() -> None:
    local = LocalStackSettings.from_env({})
    assert (local.api_port, local.s3_port, local.data_dir) == (8000, 5000, ".local")
    assert "local" in local.api_key
    assert LocalStackSettings.from_env({"API_PORT": "0", "API_KEY": "x"}).api_key == "x"
