"""``python -m devstack.bench`` (``make bench``): how fast the pipeline is, beside the alternatives.

On one deterministic ``hired_employees`` file (generated once into DATA_DIR/bench; a few percent
invalid rows of several kinds, names with quoted commas, some repeated ids) it measures in one
run: the whole local pipeline (presigned POST to ``loaded``), each stage alone in a fresh process
with its peak RSS, the DuckDB floor (the same rules in one DuckDB query) and the seed's approach
(pandas, 1,000-row chunks, a jsonschema check per row) on a sample. It prints a table, records it
in docs/benchmarks.md with the machine it ran on, and ends with one line of JSON. It is not a
test: the machine may be shared, so compare the ratios of one run, not absolute times.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.config import LOCAL_BUCKET, LocalStackSettings
from devstack.sample import write_hired_employees

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
TABLE = "hired_employees"
SEED_SAMPLE = 20_000


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


def run_job(job: str, args: dict[str, Any], env: dict[str, str] | None = None) -> Measured:
    """Run one job of devstack.benchjobs in a fresh process; it reports its own peak RSS."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack.benchjobs", job, json.dumps(args)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
    )
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench job {job} failed with exit code {proc.returncode}")
    report = json.loads(out.decode().strip().splitlines()[-1])
    return Measured(job, report, report["peak_rss_kb"] / 1024, time.perf_counter() - started)


def data_file(rows: int, folder: Path) -> Path:
    """The deterministic input file for ``rows`` rows, generated once."""
    path = folder / f"{TABLE}_{rows}.csv"
    if not path.exists():
        print(f"generating {rows:,} rows into {path} (once) ...", flush=True)
        partial = path.with_name(f"tmp-{path.name}")
        write_hired_employees(partial, rows)
        partial.rename(path)
    return path


def gzipped(path: Path) -> Path:
    """The input file gzip-compressed (level 6, as ``gzip`` does by default), made once."""
    packed = path.with_name(path.name + ".gz")
    if not packed.exists():
        partial = packed.with_name(f"tmp-{packed.name}")
        with path.open("rb") as source, gzip.open(partial, "wb", compresslevel=6) as sink:
            shutil.copyfileobj(source, sink, 1024 * 1024)
        partial.replace(packed)
    return packed


def stages(path: Path, rows: int, chunk_rows: int, folder: Path) -> list[Measured]:
    """Split, validate and load, each alone in a fresh process, against a local S3; then the
    split again on the same rows gzip-compressed (the later stages see the same chunks)."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "local-only",
        "AWS_SECRET_ACCESS_KEY": "local-only",  # moto accepts anything; not a credential
        "AWS_DEFAULT_REGION": "us-east-1",
        "INGEST_BUCKET": LOCAL_BUCKET,
        "INGEST_WAREHOUSE": "duckdb",
        "INGEST_CHUNK_ROWS": str(chunk_rows),
        "INGEST_DUCKDB_PATH": str(folder / "stages.duckdb"),
    }
    (folder / "stages.duckdb").unlink(missing_ok=True)
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="local-only",
            aws_secret_access_key="local-only",  # noqa: S106 - moto's, not a credential
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket=LOCAL_BUCKET)
        key = f"raw/{TABLE}/{path.name}"
        s3.upload_file(str(path), LOCAL_BUCKET, key)
        split = run_job("split", {"key": key}, env)
        split.rows = rows
        upload = {"table": TABLE, "upload": split.report["upload_id"]}
        validate = run_job("validate", {**upload, "chunks": split.report["chunks"]}, env)
        validate.rows = rows
        load = run_job("load", upload, env)
        load.rows = rows
        packed = gzipped(path)
        s3.upload_file(str(packed), LOCAL_BUCKET, f"raw/{TABLE}/{packed.name}")
        split_gzip = run_job("split", {"key": f"raw/{TABLE}/{packed.name}"}, env)
        split_gzip.rows = rows
    finally:
        server.stop()
    if split_gzip.report["chunks"] != split.report["chunks"]:
        raise RuntimeError("the gzip file did not give the same chunks as the plain one")
    split_gzip.name = "split alone, the same rows gzip-compressed"
    split_gzip.note = (
        f"{packed.stat().st_size / 1e6:,.0f} MB gzip (level 6) → the same "
        f"{_count(split.report['chunks'], 'chunk')}"
    )
    split.note = _count(split.report["chunks"], "chunk")
    validate.note = "1 process, every chunk in turn"
    load.note = "DuckDB: COPY, de-duplicate, MERGE"
    return [split, validate, load, split_gzip]


def _seed(path: Path, rows: int, sample: int, *, check_schema: bool) -> Measured:
    seed = run_job("seed", {"file": str(path), "sample": sample, "check_schema": check_schema})
    seed.rows = rows
    if sample < rows:
        seed.report["seconds"] = seed.report["seconds"] * rows / sample
        seed.report["cpu_seconds"] = seed.report["cpu_seconds"] * rows / sample
        seed.extrapolated = True
        seed.note = f"measured on the first {sample:,} rows, scaled to {rows:,}"
    return seed


def sweep(path: Path, rows: int, sizes: list[int], workers: int, folder: Path) -> list[str]:
    """The pipeline alone at several chunk sizes, for choosing the default."""
    head = [
        "chunk rows",
        "chunks",
        "MB per chunk",
        "seconds",
        "rows/s",
        "CPU s",
        "largest worker MB",
    ]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
    megabytes = path.stat().st_size / 1e6
    for size in sizes:
        print(f"pipeline with chunks of {size:,} rows ...", flush=True)
        job = {"file": str(path), "chunk_rows": size, "workers": workers}
        done = run_job("pipeline", {**job, "data_dir": str(folder / "stack")})
        report = done.report
        cells = [
            f"{size:,}",
            f"{report['chunks']:,}",
            f"{megabytes / report['chunks']:,.2f}",
            f"{done.seconds:,.1f}",
            f"{rows / done.seconds:,.0f}",
            f"{report['cpu_seconds']:,.1f}",
            _mb(report["worker_peak_rss_kb"] / 1024),
        ]
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return lines


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


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _mb(value: float) -> str:
    return f"{value:,.0f}"


def table(results: list[Measured]) -> list[str]:
    head = ["measurement", "seconds", "rows/s", "CPU s", "peak RSS MB", "notes"]
    rows = [head, ["---"] * len(head)]
    for r in results:
        seconds = f"{r.seconds:,.2f}" + (" (extrapolated)" if r.extrapolated else "")
        cpu = f"{r.report.get('cpu_seconds', 0):,.1f}"
        rows.append([r.name, seconds, f"{r.rows_per_s:,.0f}", cpu, _mb(r.peak_rss_mb), r.note])
    return ["| " + " | ".join(cells) + " |" for cells in rows]


def record(rows: int | str, lines: list[str]) -> None:
    """Replace this run's section of docs/benchmarks.md (or add it), keeping the rest."""
    start, end = f"<!-- bench rows={rows} -->", f"<!-- /bench rows={rows} -->"
    section = "\n".join([start, *lines, end])
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=None, help="default: the product's")
    parser.add_argument("--seed-sample", type=int, default=SEED_SAMPLE)
    parser.add_argument("--no-record", action="store_true", help="do not touch docs/")
    parser.add_argument(
        "--sweep",
        default="",
        help="chunk sizes to time the pipeline with instead, e.g. 1000,100000",
    )
    args = parser.parse_args(argv)
    from chalicelib.config import DEFAULT_CHUNK_ROWS

    chunk_rows = args.chunk_rows or int(os.environ.get("INGEST_CHUNK_ROWS") or DEFAULT_CHUNK_ROWS)
    local = LocalStackSettings.from_env()
    folder = Path(local.data_dir) / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = data_file(args.rows, folder)
    rows = args.rows
    load_before = os.getloadavg()
    started = datetime.now(UTC)
    if args.sweep:
        sizes = [int(size) for size in args.sweep.split(",")]
        lines = sweep(path, rows, sizes, local.workers, folder)
        load_after = os.getloadavg()
        about = machine()
        lines = [
            f"### Chunk sizes at {rows:,} rows, {local.workers} worker processes",
            "",
            f"Run {started:%Y-%m-%d %H:%M} UTC on {about['cpu']}, {about['memory']}. Load "
            f"average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after.",
            "",
            *lines,
        ]
        if not args.no_record:
            record(f"sweep-{rows}", lines)
        return 0
    print(f"{rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB, chunks of {chunk_rows:,} rows")

    print("pipeline ...", flush=True)
    pipeline = run_job(
        "pipeline",
        {
            "file": str(path),
            "chunk_rows": chunk_rows,
            "workers": local.workers,
            "data_dir": str(folder / "stack"),
        },
    )
    report = pipeline.report
    pipeline.name = "pipeline: presigned POST → loaded"
    pipeline.rows = rows
    stack_rss = pipeline.peak_rss_mb
    pipeline.peak_rss_mb = report["worker_peak_rss_kb"] / 1024
    pipeline.note = (
        f"{local.workers} worker processes, {_count(report['chunks'], 'chunk')}, upload "
        f"{report['upload_seconds']:.1f} s; RSS of the largest worker (the stack process: "
        f"API, moto's in-memory S3, DuckDB load, peaked at {_mb(stack_rss)} MB)"
    )
    if report["state"] != "loaded" or report["rows_total"] != rows:
        raise RuntimeError(f"the pipeline did not load the file: {report}")

    print("stages alone ...", flush=True)
    split, validate, load, split_gzip = stages(path, rows, chunk_rows, folder)
    split.name, validate.name, load.name = "split alone", "validate alone", "load alone"

    print("DuckDB floor ...", flush=True)
    floor = run_job("floor", {"file": str(path)})
    floor.name = "floor: DuckDB, same rules, one query"
    floor.rows = rows
    floor.note = f"{floor.report['rows_valid']:,} valid rows (before de-duplication)"

    sample = min(rows, args.seed_sample)
    print(f"seed approach on {sample:,} rows ...", flush=True)
    seed = _seed(path, rows, sample, check_schema=False)
    seed.name = "seed: pandas 1,000-row chunks, a jsonschema validator per row"
    strict = _seed(path, rows, max(sample // 5, 1), check_schema=True)
    strict.name = "seed, with jsonschema.validate() per row"
    strict.note += "; validate() also re-checks the schema on every call"

    results = [pipeline, split, validate, load, split_gzip, floor, seed, strict]
    valid_before_dedup = report["rows_valid"] + load.report["rows_superseded"]
    checks = [
        f"pipeline: {report['rows_valid']:,} rows loaded, {report['rows_rejected']:,} rejected "
        f"(of which {load.report['rows_superseded']:,} superseded by a later row with the same id)",
        f"valid rows before de-duplication: pipeline {valid_before_dedup:,}, "
        f"floor {floor.report['rows_valid']:,}",
    ]
    peak = max(split.peak_rss_mb, validate.peak_rss_mb, load.peak_rss_mb)
    summary = {
        "rows": rows,
        "pipeline_rows_per_s": round(pipeline.rows_per_s),
        "floor_rows_per_s": round(floor.rows_per_s),
        "seed_rows_per_s": round(seed.rows_per_s),
        "peak_rss_mb": round(peak, 1),
        "ratio_vs_floor": round(pipeline.rows_per_s / floor.rows_per_s, 3),
        "speedup_vs_seed": round(pipeline.rows_per_s / seed.rows_per_s, 1),
    }
    load_after = os.getloadavg()
    about = machine()
    lines = [
        f"### {rows:,} rows ({path.stat().st_size / 1e6:,.0f} MB), chunks of {chunk_rows:,} rows",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {about['cpu']}, {about['memory']}, "
        f"Python {about['python']}, {about['os']}. Load average (1 min) "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after: "
        f"{'the machine was shared' if max(load_before[0], load_after[0]) > 1 else 'quiet'}.",
        "",
        *table(results),
        "",
        *(f"- {check}" for check in checks),
        f"- pipeline / floor: **{summary['ratio_vs_floor']}**; "
        f"pipeline / seed: **{summary['speedup_vs_seed']}×**; "
        f"largest stage handler: **{summary['peak_rss_mb']} MB**",
        "",
        "```json",
        json.dumps(summary),
        "```",
    ]
    print()
    print("\n".join(lines))
    if not args.no_record:
        record(rows, lines)
        print(f"\nrecorded in {DOC.relative_to(ROOT)}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
