"""The whole local stack on the local Redshift engine (WAREHOUSE=redshift) against DuckDB's.

The same generated files go through the stacks over HTTP (on Redshift twice: through
redshift_connector, and with INGEST_REDSHIFT_API=data through the local Data API stand-in);
every report, count and restore must come out equal. Also the deep health check, which really
reaches the bucket and the warehouse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from devstack import redshift_local
from devstack.client import ApiClient
from devstack.sample import write_samples
from tests.stacks import running_stack

if TYPE_CHECKING:
    from pathlib import Path

KEY = "redshift-stack-key"
YEARS = (2020, 2021, 2022)


def _run(name: str, folder: Path, data_dir: Path) -> dict[str, Any]:
    """Load the sample files through the stack ``name`` (``duckdb``, ``redshift`` or
    ``redshift-data``); return what the API shows."""
    warehouse, _, api = name.partition("-")
    with running_stack(
        data_dir,
        key=KEY,
        workers=4,
        warehouse=warehouse,
        redshift_api="data" if api else "connector",
        env={"INGEST_CHUNK_ROWS": "300"},
    ) as stack:
        client = ApiClient(stack.api_url, KEY)
        seen: dict[str, Any] = {}
        for table in ("departments", "jobs", "hired_employees"):
            status = client.wait(client.upload(table, folder / f"{table}.csv"))
            seen[table] = {k: status[k] for k in ("state", "rows_valid", "rows_rejected", "error")}
        for year in YEARS:
            for report in ("hires-by-quarter", "departments-above-mean"):
                seen[f"{report} {year}"] = client.report(report, year)
        backup = client.call("create_backup", json={"table": "all"})
        seen["backup"] = {t: v["rows"] for t, v in backup["tables"].items()}
        restored = client.call(
            "create_restore", json={"backup_id": backup["backup_id"], "table": "all"}
        )
        seen["restored"] = restored["tables"]
        seen["after restore"] = client.report("hires-by-quarter", 2021)
        health = requests.get(
            f"{stack.api_url}/api/v1/health",
            params={"deep": "true"},
            headers={"x-api-key": KEY},
            timeout=30,
        )
        seen["health"] = (health.status_code, health.json())
        return seen


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
