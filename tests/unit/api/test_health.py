"""The deep health check: each dependency really reached, a failure named, never hidden."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib import providers
from chalicelib.api import health
from chalicelib.config import Settings
from chalicelib.errors import ConfigError, TransientWarehouseError

if TYPE_CHECKING:
    from chalicelib.warehouse.duckdb import DuckDBWarehouse


def test_health_is_ok_when_the_bucket_and_a_query_answer(
    s3: Any, settings: Settings, warehouse: DuckDBWarehouse
) -> None:
    result = health.check(s3, settings, lambda: warehouse)

    assert result.to_json() == {
        "status": "ok",
        "s3": "ok",
        "warehouse": {"engine": "duckdb", "api": None, "status": "ok"},
    }


def test_health_is_degraded_and_says_why(s3: Any, warehouse: DuckDBWarehouse) -> None:
    def unreachable() -> DuckDBWarehouse:
        raise TransientWarehouseError("redshift: connection failed (communication error)")

    result = health.check(s3, Settings(bucket="no-such-bucket"), unreachable)

    assert not result.ok
    assert result.to_json() == {
        "status": "degraded",
        "s3": "bucket no-such-bucket: 404",
        "warehouse": {
            "engine": "duckdb",
            "api": None,
            "status": "redshift: connection failed (communication error)",
        },
    }


class FakeGateway:
    """API Gateway's GetApiKey for one key."""

    def __init__(self, key_id: str, value: str) -> None:
        self.key_id, self.value = key_id, value

    def get_api_key(self, **kwargs: Any) -> dict[str, Any]:
        if kwargs != {"apiKey": self.key_id, "includeValue": True}:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "NotFoundException"}}, "GetApiKey")
        return {"id": self.key_id, "value": self.value}


def test_the_stage_key_is_read_from_api_gateway_by_its_id() -> None:
    from chalicelib.api import apikey
    from chalicelib.errors import ConfigError

    gateway = FakeGateway("k1", "the-stage-key-0123456789")
    assert apikey.stage_key(gateway, "k1") == "the-stage-key-0123456789"
    try:
        apikey.stage_key(gateway, "other")
    except ConfigError as exc:
        assert "the-stage-key" not in exc.message and "NotFound" in exc.message
    else:
        raise AssertionError("a key that cannot be read must be a ConfigError")


def test_stage_key_is_the_apps_own_else_the_deployed_stages(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mock_aws():
        made = boto3.client("apigateway").create_api_key(
            name="stage", value="the-stage-key-0123456789", enabled=True
        )
        for given, expected in (
            (Settings(bucket="b", api_key_id=made["id"]), "the-stage-key-0123456789"),
            (Settings(bucket="b", api_key="local", api_key_id=made["id"]), "local"),
            (Settings(bucket="b"), None),
        ):
            monkeypatch.setattr(providers, "settings", lambda given=given: given)
            providers.stage_key.cache_clear()
            assert providers.stage_key() == expected
        monkeypatch.setattr(providers, "settings", lambda: Settings(bucket="b", api_key_id="nope"))
        providers.stage_key.cache_clear()
        with pytest.raises(ConfigError, match="cannot read API key nope"):
            providers.stage_key()
    providers.stage_key.cache_clear()


def test_deep_health_in_aws_takes_the_stages_key_though_the_app_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Deployed: INGEST_API_KEY unset, the stage's key read by its id.
    monkeypatch.setattr(providers, "settings", lambda: Settings(bucket="b", api_key_id="k1"))
    monkeypatch.setattr(providers, "stage_key", lambda: "the-stage-key-0123456789")
    with Client(app) as client:
        missing = client.http.get("/api/v1/health?deep=true")
        wrong = client.http.get("/api/v1/health?deep=true", headers={"x-api-key": "not-it"})
        shallow = client.http.get("/api/v1/health")
    assert missing.status_code == 401 and wrong.status_code == 403
    # Liveness asks for no key, and every other route is API Gateway's to check.
    assert shallow.status_code == 200 and shallow.json_body == {"status": "ok"}
