"""Figures for docs/reliability.md, collected while the tests run.

Tests call ``LEDGER.add(section, item, **figures)`` (through the ``reliability`` fixture); numeric
figures with the same name add up, text figures keep the last value. At the end of a full passing
run, ``conftest.py`` saves them as JSON in pytest's cache and renders the Markdown report;
``python -m tests.reliability.ledger`` renders the report again from that JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "reliability.md"
CACHE_KEY = "reliability/outcomes"
CACHE_FILE = ROOT / ".pytest_cache" / "v" / "reliability" / "outcomes"

# section → (title, what was checked, [(figure, column heading)])
SECTIONS: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "input": (
        "Bad input",
        "Each file runs through split → validate → load (an in-memory S3 that a contract test "
        "holds to moto, and DuckDB) and the result is "
        "compared with an independent oracle (Python's csv module and the README rules): "
        "`rows_total == rows_valid + rows_rejected`, every bad row in the rejected report "
        "exactly once with its line and a reason naming the field at fault, the table holding "
        "exactly the valid rows (last wins per id).",
        [
            ("files", "files"),
            ("rows", "rows"),
            ("valid", "loaded"),
            ("rejected", "rejected"),
            ("lost", "rows lost"),
            ("duplicates", "duplicates"),
        ],
    ),
    "events": (
        "Events replayed",
        "S3 notifications delivered more than once, shuffled, or interleaved with other "
        "handlers; the final table, counts and rejected report must equal a single in-order "
        "delivery.",
        [
            ("uploads", "uploads"),
            ("events", "events created"),
            ("deliveries", "deliveries"),
            ("same", "same final state"),
            ("lost", "rows lost"),
            ("duplicates", "duplicates"),
        ],
    ),
    "faults": (
        "Faults injected",
        "A fault after each write of each stage (S3 puts and copies, every warehouse statement, "
        "the commit), then recovery as named; the upload must end `loaded` with the oracle's "
        "rows.",
        [
            ("scenarios", "scenarios"),
            ("loaded", "ended loaded"),
            ("lost", "rows lost"),
            ("duplicates", "duplicates"),
        ],
    ),
    "access": (
        "Access attempts",
        "Requests against the running local stack (HTTP); each must be refused with a 4xx, or "
        "treat the input as data; S3 calls the app made are checked against the bucket's own "
        "prefixes.",
        [
            ("requests", "requests"),
            ("refused", "refused (4xx)"),
            ("server_errors", "5xx"),
            ("outside", "S3 calls outside the prefixes"),
            ("leaks", "secrets leaked"),
        ],
    ),
}


class Ledger:
    """Ordered sections → ordered items → figures."""

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, dict[str, Any]]] = {}

    def add(self, section: str, item: str, **figures: Any) -> None:
        if section not in SECTIONS:
            raise KeyError(f"unknown report section {section!r}")
        row = self.sections.setdefault(section, {}).setdefault(item, {})
        for name, value in figures.items():
            if isinstance(value, bool) or not isinstance(value, int):
                row[name] = value
            else:
                row[name] = row.get(name, 0) + value

    def to_json(self) -> dict[str, Any]:
        return {"sections": self.sections}

    def __repr__(self) -> str:
        return f"Ledger({sum(len(items) for items in self.sections.values())} items)"

    def complete(self) -> bool:
        return all(self.sections.get(name) for name in SECTIONS)


LEDGER = Ledger()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value).replace("|", "\\|")


def render(data: dict[str, Any]) -> str:
    """The Markdown report for the figures in ``data`` (as ``Ledger.to_json`` gives them)."""
    out = [
        "# Reliability report",
        "",
        "Generated from the test run by `make test` (tests/reliability, and the route walk in",
        "tests/functional/test_api.py); do not edit by hand. The figures are deterministic",
        "(seeded shuffles, derandomized Hypothesis), so the file only changes when the tests do.",
        "",
    ]
    sections = data["sections"]
    for name, (title, what, columns) in SECTIONS.items():
        items = sections.get(name, {})
        out += [f"## {title}", "", what, ""]
        out.append("| " + " | ".join(["what was tried", *(h for _, h in columns)]) + " |")
        out.append("|" + "---|" * (len(columns) + 1))
        totals: dict[str, int] = {}
        for item, figures in items.items():
            cells = [_cell(figures.get(f)) for f, _ in columns]
            out.append("| " + " | ".join([_cell(item), *cells]) + " |")
            for f, _ in columns:
                value = figures.get(f)
                if isinstance(value, int) and not isinstance(value, bool):
                    totals[f] = totals.get(f, 0) + value
        total_cells = [f"**{totals[f]}**" if f in totals else "" for f, _ in columns]
        out.append("| " + " | ".join(["**total**", *total_cells]) + " |")
        out.append("")
    return "\n".join(out)


def write_report(data: dict[str, Any], path: Path = REPORT) -> bool:
    """Write the report if it changed; True when the file was (re)written."""
    text = render(data)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def main() -> int:
    if not CACHE_FILE.exists():
        sys.stderr.write(f"no figures at {CACHE_FILE}; run `make test` first\n")
        return 1
    write_report(json.loads(CACHE_FILE.read_text(encoding="utf-8")))
    sys.stdout.write(f"wrote {REPORT.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
