"""A 2,000,000-row upload split under a one-second budget loads exactly what the rules say.

The local stack runs with ``INGEST_MAX_INVOCATION_SECONDS=1``: the split plans a few chunks, hands
the rest on through ``splits/...`` and a fresh invocation (started by that object's S3 event)
reads on from the offset, while the chunks already planned are validated. The result is held to
the independent oracle, row by row; the figures are recorded before anything is asserted.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib import providers
from devstack.client import ApiClient
from devstack.sample import write_hired_employees
from tests.reliability.oracle import expect
from tests.reliability.verdict import check, observe, outcome
from tests.stacks import running_stack

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devstack.stack import LocalStack
    from tests.reliability.ledger import Ledger

KEY = "split-budget-test-key"  # local only
ROWS = 2_000_000
BUDGET_SECONDS = 1
TABLE = "hired_employees"


@pytest.fixture(scope="module")
def budget_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    extra = {"INGEST_MAX_INVOCATION_SECONDS": str(BUDGET_SECONDS)}
    data_dir = tmp_path_factory.mktemp("budget")
    with running_stack(data_dir, key=KEY, workers=2, env=extra) as local:
        yield local


def test_a_two_million_row_file_split_under_a_one_second_budget_loads_exactly(
    budget_stack: LocalStack, reliability: Ledger, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("data") / "hires.csv"
    write_hired_employees(path, ROWS)
    data = path.read_bytes()
    api = ApiClient(budget_stack.api_url, KEY)
    started = time.monotonic()
    upload_id = api.upload(TABLE, path)
    status = api.wait(upload_id, timeout=900)
    seconds = time.monotonic() - started
    settings = providers.settings()
    s3 = boto3.client("s3")
    raw_key = f"raw/{TABLE}/{upload_id}/{path.name}"
    out = outcome(s3, providers.warehouse(), settings, TABLE, raw_key)
    expected = expect(TABLE, data)
    figures = observe(expected, out)
    reliability.add(
        "split",
        f"{ROWS:,} rows of {TABLE}, presigned POST, budget {BUDGET_SECONDS} s",
        rows=figures["rows"],
        megabytes=round(len(data) / 1e6, 1),
        budget_s=BUDGET_SECONDS,
        invocations=status.get("split_invocations") or 0,
        chunks=status.get("chunks_total") or 0,
        seconds=round(seconds, 1),
        lost=figures["lost"],
        duplicates=figures["duplicates"],
    )
    assert status["state"] == "loaded", status
    assert status["split"] == "ranges"
    assert status["split_invocations"] >= 2, status  # planning was handed on
    check(expected, out)
