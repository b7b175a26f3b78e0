"""``make bench``'s side-by-side view computes its flatness verdict from the figures it is given."""

from __future__ import annotations

from typing import Any

import pytest

from devstack import benchreport


def _size(rows: int, rss: dict[str, float]) -> dict[str, Any]:
    return {
        "rows": rows,
        "input_bytes": rows * 48,
        "chunks": max(rows // 250_000, 1),
        "pipeline_rows_per_s": 100_000,
        "ratio_vs_floor": 0.1,
        "speedup_vs_seed": 40.0,
        "stages": {role: {"peak_rss_mb": rss[role]} for role in benchreport.HANDLERS},
    }


@pytest.mark.parametrize(
    ("small", "large", "verdicts"),
    [
        (100.0, 110.0, {"flat"}),
        (100.0, 125.0, {"flat"}),
        (100.0, 130.0, {"grows ×1.30"}),
    ],
)
def test_bench_report_flatness_from_measured_rss(
    small: float, large: float, verdicts: set[str]
) -> None:
    sizes = [
        _size(10_000_000, dict.fromkeys(benchreport.HANDLERS, large)),
        _size(1_000_000, dict.fromkeys(benchreport.HANDLERS, small)),
    ]
    ratios = benchreport.flatness(sizes)
    assert ratios == dict.fromkeys(benchreport.HANDLERS, round(large / small, 3))
    assert {benchreport.verdict(r) for r in ratios.values()} == verdicts
    table = "\n".join(benchreport.side_by_side(sizes))
    assert table.index("1,000,000 rows") < table.index("10,000,000 rows")  # smallest first
    assert f"{large / small:.2f}: {verdicts.pop()}" in table
