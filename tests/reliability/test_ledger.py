"""The report shows what the run found, failures included: nothing in it is fixed in advance."""

from __future__ import annotations

from tests.reliability.ledger import Ledger, render


def test_ledger_report_shows_losses_duplicates_and_failed_tests() -> None:
    ledger = Ledger()
    ledger.add("faults", "crash: load", scenarios=1, loaded=0, not_loaded=1, lost=3, duplicates=0)
    ledger.add("faults", "crash: load", scenarios=1, loaded=1, not_loaded=0, lost=0, duplicates=2)
    ledger.add("load", "50 clients", clients=50, errors=4, error_kinds="connection reset: 4")
    ledger.run = {
        "collected": 10,
        "passed": 7,
        "skipped": 0,
        "failed": ["tests/reliability/test_faults.py::test_x"],
        "not_run": 2,
    }
    text = render(ledger.to_json())
    assert "| crash: load | 2 | 1 | 1 | 3 | 2 |" in text
    assert "| **total** | **2** | **1** | **1** | **3** | **2** |" in text
    assert "connection reset: 4" in text
    assert "10 tests collected, 7 passed, 1 failed, 0 skipped, 2 not run" in text
    assert "- `tests/reliability/test_faults.py::test_x`" in text
    assert (
        "No figures for: Bad input, Events replayed, A split under a time budget, Access attempts."
        in text
    )
