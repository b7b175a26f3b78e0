"""One file through the running stack and held to the independent oracle: the upload, the wait
for its end, the ledger row recorded before anything is asserted, then the row-by-row check."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib import providers
from devstack.client import ApiClient
from tests.reliability.oracle import expect
from tests.reliability.verdict import check, observe, outcome

if TYPE_CHECKING:
    from pathlib import Path

    from devstack.stack import LocalStack
    from tests.reliability.ledger import Ledger


def load_and_check(
    stack: LocalStack,
    key: str,
    reliability: Ledger,
    upload: tuple[str, Path, bytes],
    case: str,
    budget_s: int,
) -> dict[str, Any]:
    """Upload ``upload`` (table, file, the CSV it holds) through a presigned POST, record the
    split's figures under ``case`` and check every row; the upload's final status."""
    table, path, data = upload
    api = ApiClient(stack.api_url, key)
    started = time.monotonic()
    upload_id = api.upload(table, path)
    status: dict[str, Any] = api.wait(upload_id, timeout=900)
    seconds = time.monotonic() - started
    raw_key = f"raw/{table}/{upload_id}/{path.name}"
    out = outcome(boto3.client("s3"), providers.warehouse(), providers.settings(), table, raw_key)
    expected = expect(table, data)
    figures = observe(expected, out)
    reliability.add(
        "split",
        case,
        rows=figures["rows"],
        megabytes=round(path.stat().st_size / 1e6, 1),
        budget_s=budget_s,
        invocations=status.get("split_invocations") or 0,
        chunks=status.get("chunks_total") or 0,
        seconds=round(seconds, 1),
        lost=figures["lost"],
        duplicates=figures["duplicates"],
    )
    assert status["state"] == "loaded", status
    check(expected, out)
    return status
