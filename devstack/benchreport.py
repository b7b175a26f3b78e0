"""What ``devstack.bench`` records: its tables, several sizes side by side, and the JSON summary.

Owns the shape of a run's results (``Measured``, ``SizeRun``), the markdown section written into
docs/benchmarks.md between ``bench`` markers, and the JSON summary block that
``devstack.scale`` reads (``SUMMARY_FORMAT``). It runs nothing: ``devstack.bench`` measures.
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
# The JSON summary's shape; devstack.scale reads only blocks of this format.
SUMMARY_FORMAT = 3
# The handlers whose peak RSS must not grow with the file, and how they are named in the JSON.
HANDLERS = ("split", "validate", "load", "split_gzip", "split_parts")
# Peak RSS from the smallest to the largest size within this ratio is called flat.
FLAT_RATIO = 1.25


@dataclass
class Measured:
    """One job's outcome: its own report plus what the operating system saw of it."""

    name: str
    report: dict[str, Any]
    peak_rss_mb: float
    wall_seconds: float  # of the whole child process, start-up included
    note: str = ""
    rows: int = 0
    extrapolated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return float(self.report["seconds"])

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class SizeRun:
    """Everything measured at one size: the jobs by role, the input and the load average."""

    rows: int
    chunk_rows: int
    input_bytes: int
    gzip_bytes: int
    # pipeline, split, validate, load, split_gzip, split_parts, floor, seed, seed_validate
    jobs: dict[str, Measured]
    checks: list[str]
    load_before: float
    load_after: float
    started: str  # UTC, minutes

    def summary(self) -> dict[str, Any]:
        """This size in the JSON summary's shape (``SUMMARY_FORMAT``)."""
        jobs = self.jobs
        pipeline, floor, seed = jobs["pipeline"], jobs["floor"], jobs["seed"]
        stages: dict[str, Any] = {}
        for role, job in jobs.items():
            entry: dict[str, Any] = {
                "seconds": round(job.seconds, 3),
                "cpu_seconds": round(float(job.report.get("cpu_seconds", 0.0)), 3),
                "peak_rss_mb": round(job.peak_rss_mb, 1),
                "input_bytes": self.gzip_bytes if role == "split_gzip" else self.input_bytes,
                "extrapolated": job.extrapolated,
            }
            if "s3_requests" in job.report:
                entry["s3_requests"] = job.report["s3_requests"]
            if "sample" in job.extra:
                entry["sample_rows"] = job.extra["sample"]
            for figure in ("parts", "part_cpu_seconds", "part_cpu_max", "chain_cpu_seconds"):
                if figure in job.report:
                    entry[figure] = round(float(job.report[figure]), 3)
            stages[role] = entry
        return {
            "rows": self.rows,
            "input_bytes": self.input_bytes,
            "gzip_bytes": self.gzip_bytes,
            "chunk_rows": self.chunk_rows,
            "chunks": int(jobs["split"].report["chunks"]),
            "pipeline_rows_per_s": round(pipeline.rows_per_s),
            "floor_rows_per_s": round(floor.rows_per_s),
            "seed_rows_per_s": round(seed.rows_per_s),
            "ratio_vs_floor": round(pipeline.rows_per_s / floor.rows_per_s, 3),
            "speedup_vs_seed": round(pipeline.rows_per_s / seed.rows_per_s, 1),
            "load_average": [round(self.load_before, 2), round(self.load_after, 2)],
            "stages": stages,
        }


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = "unknown CPU"
    memory = "?"
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        names = re.findall(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = names[0].strip() if names else cpu
    if meminfo.exists():
        found = re.search(r"MemTotal:\s*(\d+) kB", meminfo.read_text())
        memory = f"{int(found[1]) / 1024**2:.0f} GiB" if found else memory
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": memory,
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def mb(value: float) -> str:
    return f"{value:,.0f}"


def table(results: list[Measured]) -> list[str]:
    head = ["measurement", "seconds", "rows/s", "CPU s", "peak RSS MB", "notes"]
    rows = [head, ["---"] * len(head)]
    for r in results:
        seconds = f"{r.seconds:,.2f}" + (" (extrapolated)" if r.extrapolated else "")
        cpu = f"{r.report.get('cpu_seconds', 0):,.1f}"
        rows.append([r.name, seconds, f"{r.rows_per_s:,.0f}", cpu, mb(r.peak_rss_mb), r.note])
    return ["| " + " | ".join(cells) + " |" for cells in rows]


def _load_note(before: float, after: float) -> str:
    shared = "the machine was shared" if max(before, after) > 1 else "quiet"
    return f"Load average (1 min) {before:.1f} before, {after:.1f} after: {shared}."


def size_lines(run: SizeRun, heading: str) -> list[str]:
    """One size's full table, its checks and its two ratios."""
    summary = run.summary()
    peak = max(run.jobs[role].peak_rss_mb for role in ("split", "validate", "load"))
    return [
        f"{heading} {run.rows:,} rows ({run.input_bytes / 1e6:,.0f} MB), chunks of "
        f"{run.chunk_rows:,} rows",
        "",
        f"Started {run.started} UTC. {_load_note(run.load_before, run.load_after)}",
        "",
        *table(list(run.jobs.values())),
        "",
        *(f"- {check}" for check in run.checks),
        f"- pipeline / floor: **{summary['ratio_vs_floor']}**; "
        f"pipeline / seed: **{summary['speedup_vs_seed']}×**; "
        f"largest stage handler: **{peak:.1f} MB**",
    ]


def flatness(summaries: list[dict[str, Any]]) -> dict[str, float]:
    """Peak RSS of each handler at the largest size over that at the smallest."""
    small = min(summaries, key=lambda s: s["rows"])
    large = max(summaries, key=lambda s: s["rows"])
    return {
        role: round(large["stages"][role]["peak_rss_mb"] / small["stages"][role]["peak_rss_mb"], 3)
        for role in HANDLERS
    }


def verdict(ratio: float) -> str:
    return "flat" if ratio <= FLAT_RATIO else f"grows ×{ratio:.2f}"


def side_by_side(summaries: list[dict[str, Any]]) -> list[str]:
    """The sizes as columns: throughput, the two ratios, and each handler's peak RSS."""
    sizes = sorted(summaries, key=lambda s: s["rows"])
    ratios = flatness(sizes)
    head = ["", *(f"{s['rows']:,} rows" for s in sizes), "largest / smallest"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]

    def row(label: str, cells: list[str], last: str = "") -> None:
        lines.append("| " + " | ".join([label, *cells, last]) + " |")

    row("input MB", [f"{s['input_bytes'] / 1e6:,.0f}" for s in sizes])
    row("chunks", [f"{s['chunks']:,}" for s in sizes])
    row("pipeline rows/s", [f"{s['pipeline_rows_per_s']:,}" for s in sizes])
    row("pipeline / floor", [f"{s['ratio_vs_floor']}" for s in sizes])
    row("pipeline / seed", [f"{s['speedup_vs_seed']}×" for s in sizes])
    names = {"split_gzip": "split (gzip)", "split_parts": "split (by parts)"}
    for role in HANDLERS:
        cells = [mb(s["stages"][role]["peak_rss_mb"]) for s in sizes]
        row(
            f"{names.get(role, role)} peak RSS MB",
            cells,
            f"{ratios[role]:.2f}: {verdict(ratios[role])}",
        )
    return lines


def summary_block(runs: list[SizeRun], workers: int, started: str) -> dict[str, Any]:
    """The JSON summary: every size in ``sizes``; the largest size's headline figures on top."""
    sizes = [run.summary() for run in sorted(runs, key=lambda r: r.rows)]
    largest = sizes[-1]
    block: dict[str, Any] = {
        "format": SUMMARY_FORMAT,
        "run": started,
        "workers": workers,
        "rows": largest["rows"],
        "pipeline_rows_per_s": largest["pipeline_rows_per_s"],
        "floor_rows_per_s": largest["floor_rows_per_s"],
        "seed_rows_per_s": largest["seed_rows_per_s"],
        "peak_rss_mb": max(
            largest["stages"][r]["peak_rss_mb"] for r in ("split", "validate", "load")
        ),
        "ratio_vs_floor": largest["ratio_vs_floor"],
        "speedup_vs_seed": largest["speedup_vs_seed"],
        "sizes": sizes,
    }
    if len(sizes) > 1:
        block["peak_rss_ratio"] = flatness(sizes)
    return block


def section(runs: list[SizeRun], workers: int, started: str) -> tuple[list[str], dict[str, Any]]:
    """The section a run records (one size as before, or several side by side) and its JSON."""
    about = machine()
    runs = sorted(runs, key=lambda r: r.rows)
    block = summary_block(runs, workers, started)
    where = (
        f"Run {started} UTC on {about['cpu']}, {about['memory']}, Python {about['python']}, "
        f"{about['os']}."
    )
    if len(runs) == 1:
        lines = size_lines(runs[0], "###")
        lines[2] = f"{where} {_load_note(runs[0].load_before, runs[0].load_after)}"
    else:
        ratios = block["peak_rss_ratio"]
        small, large = runs[0].rows, runs[-1].rows
        flat = ", ".join(f"{r} {ratios[r]:.2f} ({verdict(ratios[r])})" for r in HANDLERS)
        every = all(ratio <= FLAT_RATIO for ratio in ratios.values())
        lines = [
            f"### {' and '.join(f'{r.rows:,}' for r in runs)} rows side by side, chunks of "
            f"{runs[0].chunk_rows:,} rows",
            "",
            f"{where} Each size was measured in turn; its load average is in its own table below.",
            "",
            *side_by_side(block["sizes"]),
            "",
            f"- peak RSS per handler, {large:,} rows over {small:,} rows: {flat}; "
            f"{'every handler flat' if every else 'not flat'} "
            f"(flat: within ×{FLAT_RATIO})",
        ]
        for run in runs:
            lines += ["", *size_lines(run, "####")]
    return [*lines, "", "```json", json.dumps(block), "```"], block


def record(rows: int | str, lines: list[str]) -> None:
    """Replace this run's section of docs/benchmarks.md (or add it), keeping the rest."""
    start, end = f"<!-- bench rows={rows} -->", f"<!-- /bench rows={rows} -->"
    body = "\n".join([start, *lines, end])
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
