"""A 2,000,000-row upload split under a one-second budget loads exactly what the rules say.

The local stack runs with ``INGEST_MAX_INVOCATION_SECONDS=1``: the split plans a few chunks, hands
the rest on through ``splits/...`` and a fresh invocation (started by that object's S3 event)
reads on from the offset, while the chunks already planned are validated. The result is held to
the independent oracle, row by row; the figures are recorded before anything is asserted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devstack.sample import write_hired_employees
from tests.reliability.whole_file import load_and_check
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
    case = f"{ROWS:,} rows of {TABLE}, presigned POST, budget {BUDGET_SECONDS} s"
    upload = (TABLE, path, data)
    status = load_and_check(budget_stack, KEY, reliability, upload, case, BUDGET_SECONDS)
    assert status["split"] == "ranges"
    assert status["split_invocations"] >= 2, status  # planning was handed on
