"""A 2,000,000-row file planned by parts, and its gzip by one resumed reader, load exactly.

The local stack runs with ``INGEST_MAX_INVOCATION_SECONDS=1`` and parts of a few MB
(``INGEST_PLAN_RANGE_BYTES``, on a chunk grid of ``INGEST_CHUNK_BYTES``): a plain file with
quoted line breaks goes through many part planners at once and a chain that writes its chunks;
the same file gzipped goes through one reader handing on from restart points. Each result is
held to the independent oracle, row by row; the figures are recorded before anything is
asserted. (A module of its own, so its stack, set for parts of a few MB, is never alive beside
the one-reader stack of ``test_split_budget.py`` and the two never compete for the cores.)
"""

from __future__ import annotations

import csv
import gzip
from typing import TYPE_CHECKING, Any

import pytest

from devstack.sample import hired_employees_rows
from tests.reliability.whole_file import load_and_check
from tests.stacks import running_stack

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from devstack.stack import LocalStack
    from tests.reliability.ledger import Ledger

KEY = "split-parts-test-key"  # local only
ROWS = 2_000_000
BUDGET_SECONDS = 1
TABLE = "hired_employees"
# Parts of 8 MB on a grid of 4 MB: about 13 parts for the 2,000,000 rows (about 100 MB).
PART_BYTES, GRID_BYTES = 8_000_000, 4_000_000


@pytest.fixture(scope="module")
def parts_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    extra = {
        "INGEST_MAX_INVOCATION_SECONDS": str(BUDGET_SECONDS),
        "INGEST_PLAN_RANGE_BYTES": str(PART_BYTES),
        "INGEST_CHUNK_BYTES": str(GRID_BYTES),
    }
    data_dir = tmp_path_factory.mktemp("parts")
    with running_stack(data_dir, key=KEY, workers=2, env=extra) as local:
        yield local


@pytest.fixture(scope="module")
def quoted_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated rows, one name in 50 holding a line break (so quoted over two lines)."""
    path = tmp_path_factory.mktemp("data") / "hires-quoted.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for n, fields in enumerate(hired_employees_rows(ROWS, seed=11)):
            if n % 50 == 7 and len(fields) > 1:
                fields[1] = fields[1].replace(" ", "\n", 1)
            writer.writerow(fields)
    return path


def _load_and_check(
    stack: LocalStack, reliability: Ledger, path: Path, data: bytes, label: str
) -> dict[str, Any]:
    case = f"{ROWS:,} rows of {TABLE}, {label}, budget {BUDGET_SECONDS} s"
    return load_and_check(stack, KEY, reliability, (TABLE, path, data), case, BUDGET_SECONDS)


def test_a_plain_file_with_quoted_line_breaks_planned_by_parts_loads_exactly(
    parts_stack: LocalStack, reliability: Ledger, quoted_file: Path
) -> None:
    data = quoted_file.read_bytes()
    assert data.count(b'"') > ROWS // 30  # quoted fields, some over two lines
    label = f"quoted line breaks, parts of {PART_BYTES / 1e6:.0f} MB"
    status = _load_and_check(parts_stack, reliability, quoted_file, data, label)
    parts = -(-len(data) // PART_BYTES)
    assert (status["split"], status["planning"]) == ("ranges", "parallel"), status
    assert status["split_invocations"] >= 1 + parts + 1, status  # fan-out, parts, chain


def test_the_same_file_gzipped_is_planned_across_resumed_invocations_and_loads_exactly(
    parts_stack: LocalStack,
    reliability: Ledger,
    quoted_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = quoted_file.read_bytes()
    packed = tmp_path_factory.mktemp("gzip") / "hires-quoted.csv.gz"
    packed.write_bytes(gzip.compress(data, 6, mtime=0))
    label = "the quoted-line-break file gzipped, resumed"
    status = _load_and_check(parts_stack, reliability, packed, data, label)
    assert (status["split"], status["planning"], status["compression"]) == (
        "ranges",
        "sequential",
        "gzip",
    ), status
    assert status["split_invocations"] >= 2, status  # planning was handed on
