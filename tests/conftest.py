"""Shared fixtures: settings, fake AWS credentials, moto S3, an in-memory DuckDB warehouse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import Settings
from chalicelib.tables import TABLES
from chalicelib.warehouse import ensure_schema
from chalicelib.warehouse.duckdb import DuckDBWarehouse
from devstack import redshift_local
from devstack.redshift_local import LocalRedshift

if TYPE_CHECKING:
    from collections.abc import Iterator

EVENTS = Path(__file__).parent / "events"
BUCKET = "test-bucket"


def load_event(name: str, **replacements: str) -> dict[str, Any]:
    """A sample event payload from tests/events, with ``{placeholders}`` filled in."""
    text = (EVENTS / f"{name}.json").read_text(encoding="utf-8")
    for key, value in replacements.items():
        text = text.replace("{" + key + "}", value)
    data: dict[str, Any] = json.loads(text)
    return data


@pytest.fixture
def settings() -> Settings:
    return Settings(bucket=BUCKET, chunk_rows=4, api_key="test-key")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, and no endpoint override, so nothing can reach real AWS."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(scope="session")
def redshift_engine() -> Iterator[LocalRedshift]:
    """The local Redshift engine (PostgreSQL behind the translation proxy), one per test run."""
    if not redshift_local.available():
        pytest.skip(f"local Redshift engine unavailable: {redshift_local.INSTALL_HINT}")
    engine = LocalRedshift(s3=None).start()
    yield engine
    engine.stop()


@pytest.fixture
def warehouse(s3: Any) -> Iterator[DuckDBWarehouse]:
    wh = DuckDBWarehouse(":memory:", s3)
    ensure_schema(wh, TABLES.values())
    yield wh
    wh.close()
