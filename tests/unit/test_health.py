"""The deep health check: each dependency really reached, a failure named, never hidden."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.api import health
from chalicelib.config import Settings
from chalicelib.errors import TransientWarehouseError

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


class Request:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def test_deep_health_in_aws_takes_the_stages_key_though_the_app_has_none(
    monkeypatch: Any,
) -> None:
    import app

    # Deployed: INGEST_API_KEY unset, INGEST_API_KEY_ID naming the stage's key.
    monkeypatch.setattr(app, "get_settings", lambda: Settings(bucket="b", api_key_id="k1"))
    monkeypatch.setattr(app, "get_stage_key", lambda: "the-stage-key-0123456789")
    assert (
        app.key_refusal(Request({"x-api-key": "the-stage-key-0123456789"}), required=True) is None
    )
    missing = app.key_refusal(Request({}), required=True)
    wrong = app.key_refusal(Request({"x-api-key": "not-it"}), required=True)
    assert missing is not None and missing.status_code == 401
    assert wrong is not None and wrong.status_code == 403
    # Every other route: API Gateway checked the key; the app does not ask API Gateway again.
    assert app.key_refusal(Request({}), required=False) is None
