"""Figures for docs/reliability.md, collected while the tests run.

Tests call ``LEDGER.add(section, item, **figures)`` (through the ``reliability`` fixture) with
what they observed, before they assert anything; integer figures with the same name add up,
others keep the last value. At the end of a run that collected every report source (pass or
fail), ``conftest.py`` adds the tests' outcomes, saves it all as JSON in pytest's cache and
renders the Markdown report; ``python -m tests.reliability.ledger`` renders it again from that
JSON.
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
        "Each file is uploaded into raw/ and its S3 events delivered to the app's own handlers "
        "(split → validate → load, on an in-memory S3 that a contract test holds to the local "
        "stack's S3, and "
        "DuckDB); the upload's counts and the table are compared with an independent oracle "
        "(Python's csv module and the README rules): every valid row in the table once (last "
        "wins per id), every bad row in the rejects file exactly once with its line and a "
        "reason naming the field at fault. `rows`, `loaded` and `rejected` are the upload's own "
        "counts.",
        [
            ("files", "files"),
            ("rows", "rows"),
            ("valid", "loaded"),
            ("rejected", "rejected"),
            ("lost", "rows lost"),
            ("duplicates", "duplicates"),
            ("not_loaded", "uploads not ended loaded"),
        ],
    ),
    "events": (
        "Events replayed",
        "S3 notifications delivered more than once, shuffled, or interleaved with other "
        "handlers, to the app's own handlers; each run's final table, counts and rejected "
        "report are compared with a single in-order delivery's (`same final state` counts the "
        "runs that matched) and with the oracle. Runs marked *emulator* use the local "
        "stack's S3 (the AWS emulator, over HTTP) instead of the in-memory one.",
        [
            ("runs", "runs"),
            ("uploads", "uploads"),
            ("events", "events created"),
            ("deliveries", "deliveries"),
            ("same", "same final state"),
            ("not_loaded", "uploads not ended loaded"),
            ("lost", "rows lost"),
            ("duplicates", "duplicates"),
        ],
    ),
    "faults": (
        "Faults injected",
        "A fault after each write of each stage (S3 puts and copies, every warehouse statement, "
        "the commit), then recovery as named; each upload should end `loaded` with the "
        "oracle's rows.",
        [
            ("scenarios", "scenarios"),
            ("loaded", "ended loaded"),
            ("not_loaded", "ended otherwise"),
            ("lost", "rows lost"),
            ("duplicates", "duplicates"),
        ],
    ),
    "split": (
        "A split under a time budget",
        "A large generated file uploaded to the local stack (the AWS emulator and its event "
        "sources, DuckDB) with `INGEST_MAX_INVOCATION_SECONDS` set, so planning hands on between "
        "invocations; with `INGEST_PLAN_RANGE_BYTES` set too, a plain file is planned by many "
        "parts at once and its gzip by one reader resumed from restart points. The upload's "
        "counts, rejects file and table are compared with the oracle. `invocations` is the "
        "upload's own `split_invocations` (for parts: the raw object's, one per part, one per "
        "slice of chunk objects).",
        [
            ("rows", "rows"),
            ("megabytes", "MB"),
            ("budget_s", "budget (s)"),
            ("invocations", "split invocations"),
            ("chunks", "chunks"),
            ("seconds", "upload to loaded (s)"),
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
    "load": (
        "Load",
        "Concurrent clients against the running local stack on 127.0.0.1 (devstack/loadtest.py, "
        "devstack/loadclients.py), "
        "all starting at once, each request on a new connection: a health check, then an upload "
        "(presigned POST to the stack's S3, or a form POST to the API) and its status, or reads "
        "(uploads listing, a report, the OpenAPI document). Bounded: a fixed number of requests, "
        "30 s per request, 90 s in all. Latencies are of API requests; `errors` are failed "
        "requests (connection reset or refused, timeout, HTTP 4xx/5xx); rows are checked "
        "in the warehouse once the pipeline settles. Timings vary from run to run.",
        [
            ("clients", "clients"),
            ("requests", "requests"),
            ("errors", "failed requests"),
            ("error_kinds", "by kind"),
            ("unsent", "not sent (deadline)"),
            ("p50", "p50 ms"),
            ("p99", "p99 ms"),
            ("uploads", "uploads"),
            ("loaded", "ended loaded"),
            ("rows", "rows sent"),
            ("lost", "rows lost"),
            ("duplicates", "duplicates"),
        ],
    ),
}


class Ledger:
    """Ordered sections → ordered items → figures."""

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, dict[str, Any]]] = {}
        self.run: dict[str, Any] = {}

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
        return {"run": self.run, "sections": self.sections}

    def __repr__(self) -> str:
        return f"Ledger({sum(len(items) for items in self.sections.values())} items)"

    def missing(self) -> list[str]:
        """Sections no test recorded anything in."""
        return [name for name in SECTIONS if not self.sections.get(name)]


LEDGER = Ledger()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value).replace("|", "\\|")


def _run_lines(run: dict[str, Any], missing: list[str]) -> list[str]:
    failed = run.get("failed", [])
    lines = [
        "## Run",
        "",
        f"{run.get('collected', 0)} tests collected, {run.get('passed', 0)} passed, "
        f"{len(failed)} failed, {run.get('skipped', 0)} skipped"
        + (f", {run['not_run']} not run (the run stopped early)." if run.get("not_run") else "."),
        "",
    ]
    if failed:
        lines += ["Failed (their figures below are what they observed before failing):", ""]
        lines += [f"- `{name}`" for name in failed] + [""]
    if missing:
        lines += ["No figures for: " + ", ".join(SECTIONS[n][0] for n in missing) + ".", ""]
    return lines


def render(data: dict[str, Any]) -> str:
    """The Markdown report for the figures in ``data`` (as ``Ledger.to_json`` gives them)."""
    out = [
        "# Reliability report",
        "",
        "Written by the test run (`make test`: tests/reliability and the route walk in",
        "tests/functional/test_api.py) from what the tests observed, before they assert, whether",
        "the figures are zero or not; do not edit by hand. A nonzero `rows lost`, `duplicates`,",
        "`5xx`, `failed requests` or a failed test below is a finding. Figures are deterministic",
        "(seeded shuffles, derandomized Hypothesis) except those of the load section.",
        "",
    ]
    sections = data["sections"]
    out += _run_lines(data.get("run", {}), [n for n in SECTIONS if not sections.get(n)])
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
