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
