"""The whole local stack on the local Redshift engine (WAREHOUSE=redshift) against DuckDB's.

The same generated files go through the stacks over HTTP (on Redshift twice: through
redshift_connector, and with INGEST_REDSHIFT_API=data through the local Data API stand-in);
every report, count and restore must come out equal. Also the deep health check, which really
reaches the bucket and the warehouse.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
import requests

from devstack import redshift_local
from devstack.client import ApiClient
from devstack.sample import write_samples
from devstack.settings import LocalStackSettings
from devstack.stack import LocalStack

if TYPE_CHECKING:
    from pathlib import Path

KEY = "redshift-stack-key"
YEARS = (2020, 2021, 2022)


def _run(name: str, folder: Path, data_dir: Path) -> dict[str, Any]:
    """Load the sample files through the stack ``name`` (``duckdb``, ``redshift`` or
    ``redshift-data``); return what the API shows."""
    saved = dict(os.environ)
    warehouse, _, api = name.partition("-")
    settings = LocalStackSettings(
        api_port=0,
        s3_port=0,
        api_key=KEY,
        data_dir=str(data_dir),
        workers=4,
        warehouse=warehouse,  # type: ignore[arg-type]
        redshift_api="data" if api else "connector",
    )
    stack = LocalStack(settings, extra_env={"INGEST_CHUNK_ROWS": "300"}).start()
    try:
        api = ApiClient(stack.api_url, KEY)
        seen: dict[str, Any] = {}
        for table in ("departments", "jobs", "hired_employees"):
            status = api.wait(api.upload(table, folder / f"{table}.csv"))
            seen[table] = {k: status[k] for k in ("state", "rows_valid", "rows_rejected", "error")}
        for year in YEARS:
            for report in ("hires-by-quarter", "departments-above-mean"):
                seen[f"{report} {year}"] = api.report(report, year)
        backup = api._call("POST", "/api/v1/backups", json={"table": "all"})
        seen["backup"] = {t: v["rows"] for t, v in backup["tables"].items()}
        restored = api._call(
            "POST", "/api/v1/restores", json={"backup_id": backup["backup_id"], "table": "all"}
        )
        seen["restored"] = restored["tables"]
        seen["after restore"] = api.report("hires-by-quarter", 2021)
        health = requests.get(
            f"{stack.api_url}/api/v1/health",
            params={"deep": "true"},
            headers={"x-api-key": KEY},
            timeout=30,
        )
        seen["health"] = (health.status_code, health.json())
        return seen
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    if not redshift_local.available():
        pytest.skip(f"local Redshift engine unavailable: {redshift_local.INSTALL_HINT}")
    folder = tmp_path_factory.mktemp("samples")
    write_samples(folder, hires=900)
    return {
        name: _run(name, folder, tmp_path_factory.mktemp(name))
        for name in ("duckdb", "redshift", "redshift-data")
    }


def test_redshift_stack_loads_and_reports_exactly_as_duckdb(
    runs: dict[str, dict[str, Any]],
) -> None:
    duck, red, data = dict(runs["duckdb"]), dict(runs["redshift"]), dict(runs["redshift-data"])
    health = {
        name: seen.pop("health")
        for name, seen in (("duckdb", duck), ("redshift", red), ("redshift-data", data))
    }
    assert red == duck
    assert data == duck
    assert red["hired_employees"]["state"] == "loaded" and red["hired_employees"]["rows_valid"]
    assert any(row for row in red["hires-by-quarter 2021"]["rows"])
    assert health["redshift"] == (
        200,
        {
            "status": "ok",
            "s3": "ok",
            "warehouse": {"engine": "redshift", "api": "connector", "status": "ok"},
        },
    )
    assert health["redshift-data"][1]["warehouse"] == {
        "engine": "redshift",
        "api": "data",
        "status": "ok",
    }
    assert health["duckdb"][1]["warehouse"] == {"engine": "duckdb", "api": None, "status": "ok"}
