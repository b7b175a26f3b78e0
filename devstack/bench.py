"""``python -m devstack.bench`` (``make bench``): how fast the pipeline is, beside the alternatives.

On a deterministic ``hired_employees`` file of each size asked for (``--rows 1000000,10000000``;
generated once into DATA_DIR/bench; a few percent invalid rows of several kinds, names with quoted
commas, some repeated ids) it measures in one run: the whole local pipeline (presigned POST to
``loaded``), each stage alone in a fresh process with its peak RSS and S3 requests, the DuckDB
floor (the same rules in one DuckDB query) and the seed's approach (pandas, 1,000-row chunks, a
jsonschema check per row) on a sample. It prints the tables, records one section in
docs/benchmarks.md (``devstack.benchreport``: several sizes side by side, with whether each
handler's peak RSS stayed flat) and ends with one line of JSON. It is not a test: the machine may
be shared, so compare the ratios of one run, not absolute times.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.config import DEFAULT_CHUNK_BYTES
from devstack.benchreport import DOC, ROOT, Measured, SizeRun, count, mb, record, section
from devstack.sample import write_hired_employees
from devstack.settings import LOCAL_BUCKET, LocalStackSettings

TABLE = "hired_employees"
SEED_SAMPLE = 20_000


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


# The split by parts is measured with parts of one chunk grid cell: several parts even at
# 1,000,000 rows (47 MB).
BENCH_PART_BYTES = DEFAULT_CHUNK_BYTES


def stages(path: Path, rows: int, chunk_rows: int, folder: Path) -> list[Measured]:
    """Split, validate and load, each alone in a fresh process, against the AWS emulator the
    local stack runs (objects on disk, as there); then the split again on the same rows
    gzip-compressed (the later stages see the same chunks), and by parts (the same chunks
    again)."""
    from devstack.emulator import Emulator

    server = Emulator(folder / "stages-emulator", tls=False, persist=True).start()
    env = {
        **server.client_environment(),
        "INGEST_BUCKET": LOCAL_BUCKET,
        "INGEST_WAREHOUSE": "duckdb",
        "INGEST_CHUNK_ROWS": str(chunk_rows),
        "INGEST_DUCKDB_PATH": str(folder / "stages.duckdb"),
    }
    (folder / "stages.duckdb").unlink(missing_ok=True)
    try:
        s3 = server.client("s3")
        s3.create_bucket(Bucket=LOCAL_BUCKET)
        key = f"raw/{TABLE}/{path.name}"
        s3.upload_file(str(path), LOCAL_BUCKET, key)
        # "split alone" is the one reader: no file here is planned by parts.
        one_reader = {**env, "INGEST_PLAN_RANGE_BYTES": str(10**15)}
        split = run_job("split", {"key": key}, one_reader)
        split.rows = rows
        upload = {"table": TABLE, "upload": split.report["upload_id"]}
        validate = run_job("validate", {**upload, "chunks": split.report["chunks"]}, env)
        validate.rows = rows
        load = run_job("load", upload, env)
        load.rows = rows
        packed = gzipped(path)
        s3.upload_file(str(packed), LOCAL_BUCKET, f"raw/{TABLE}/{packed.name}")
        split_gzip = run_job("split", {"key": f"raw/{TABLE}/{packed.name}"}, one_reader)
        split_gzip.rows = rows
        parted = f"raw/{TABLE}/parts-{path.name}"
        s3.copy_object(Bucket=LOCAL_BUCKET, Key=parted, CopySource=f"{LOCAL_BUCKET}/{key}")
        split_parts = run_job(
            "split_parts", {"key": parted, "table": TABLE, "part_bytes": BENCH_PART_BYTES}, env
        )
        split_parts.rows = rows
    finally:
        server.stop()
    if split_gzip.report["chunks"] != split.report["chunks"]:
        raise RuntimeError("the gzip file did not give the same chunks as the plain one")
    if split_parts.report["chunks"] != split.report["chunks"]:
        raise RuntimeError("the split by parts did not give the same chunks as one reader")
    split_parts.name = "split alone, by parts planned at once (run here one after another)"
    report = split_parts.report
    split_parts.note = (
        f"{count(report['parts'], 'part')} of {BENCH_PART_BYTES / 2**20:.0f} MiB, both "
        f"hypotheses: {report['part_cpu_seconds']:.1f} CPU s (largest part "
        f"{report['part_cpu_max']:.2f}); chain writing the same "
        f"{count(report['chunks'], 'chunk')}: {report['chain_cpu_seconds']:.2f} CPU s"
    )
    split_gzip.name = "split alone, the same rows gzip-compressed"
    split_gzip.note = (
        f"{packed.stat().st_size / 1e6:,.0f} MB gzip (level 6) → the same "
        f"{count(split.report['chunks'], 'chunk')}, each with its restart point"
    )
    split.note = count(split.report["chunks"], "chunk")
    validate.note = "1 process, every chunk in turn"
    load.note = "DuckDB: COPY, de-duplicate, MERGE"
    return [split, validate, load, split_gzip, split_parts]


def _seed(path: Path, rows: int, sample: int, *, check_schema: bool) -> Measured:
    seed = run_job("seed", {"file": str(path), "sample": sample, "check_schema": check_schema})
    seed.rows = rows
    if sample < rows:
        seed.report["seconds"] = seed.report["seconds"] * rows / sample
        seed.report["cpu_seconds"] = seed.report["cpu_seconds"] * rows / sample
        seed.extrapolated = True
        seed.note = f"measured on the first {sample:,} rows, scaled to {rows:,}"
    seed.extra["sample"] = min(sample, rows)
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
            mb(report["worker_peak_rss_kb"] / 1024),
        ]
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return lines


def measure(path: Path, rows: int, chunk_rows: int, seed_sample: int, folder: Path) -> SizeRun:
    """Every measurement at one size, in turn."""
    workers = LocalStackSettings.from_env().workers
    load_before = os.getloadavg()[0]
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    print(f"{rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB, chunks of {chunk_rows:,} rows")
    print("pipeline ...", flush=True)
    pipeline = run_job(
        "pipeline",
        {
            "file": str(path),
            "chunk_rows": chunk_rows,
            "workers": workers,
            "data_dir": str(folder / "stack"),
        },
    )
    report = pipeline.report
    pipeline.name = "pipeline: presigned POST → loaded"
    pipeline.rows = rows
    stack_rss = pipeline.peak_rss_mb
    pipeline.peak_rss_mb = report["worker_peak_rss_kb"] / 1024
    pipeline.note = (
        f"{workers} worker processes, {count(report['chunks'], 'chunk')}, upload "
        f"{report['upload_seconds']:.1f} s; CPU s include the emulator's "
        f"{report['emulator_cpu_seconds']:.1f}; RSS of the largest worker (the stack process: "
        f"API, DuckDB load, peaked at {mb(stack_rss)} MB; the emulator, S3 and SQS: "
        f"{mb(report['emulator_peak_rss_kb'] / 1024)} MB)"
    )
    if report["state"] != "loaded" or report["rows_total"] != rows:
        raise RuntimeError(f"the pipeline did not load the file: {report}")

    print("stages alone ...", flush=True)
    split, validate, load, split_gzip, split_parts = stages(path, rows, chunk_rows, folder)
    split.name, validate.name, load.name = "split alone", "validate alone", "load alone"

    print("DuckDB floor ...", flush=True)
    floor = run_job("floor", {"file": str(path)})
    floor.name = "floor: DuckDB, same rules, one query"
    floor.rows = rows
    floor.note = f"{floor.report['rows_valid']:,} valid rows (before de-duplication)"

    sample = min(rows, seed_sample)
    print(f"seed approach on {sample:,} rows ...", flush=True)
    seed = _seed(path, rows, sample, check_schema=False)
    seed.name = "seed: pandas 1,000-row chunks, a jsonschema validator per row"
    strict = _seed(path, rows, max(sample // 5, 1), check_schema=True)
    strict.name = "seed, with jsonschema.validate() per row"
    strict.note += "; validate() also re-checks the schema on every call"

    valid_before_dedup = report["rows_valid"] + load.report["rows_superseded"]
    checks = [
        f"pipeline: {report['rows_valid']:,} rows loaded, {report['rows_rejected']:,} rejected "
        f"(of which {load.report['rows_superseded']:,} superseded by a later row with the same id)",
        f"valid rows before de-duplication: pipeline {valid_before_dedup:,}, "
        f"floor {floor.report['rows_valid']:,}",
    ]
    jobs = {
        "pipeline": pipeline,
        "split": split,
        "validate": validate,
        "load": load,
        "split_gzip": split_gzip,
        "split_parts": split_parts,
        "floor": floor,
        "seed": seed,
        "seed_validate": strict,
    }
    return SizeRun(
        rows=rows,
        chunk_rows=chunk_rows,
        input_bytes=path.stat().st_size,
        gzip_bytes=gzipped(path).stat().st_size,
        jobs=jobs,
        checks=checks,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        started=started,
    )


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"row counts must be whole numbers >= 1: {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.bench", description=__doc__)
    parser.add_argument(
        "--rows", type=_sizes, default=[1_000_000], help="one size, or several: 1000000,10000000"
    )
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
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    if args.sweep:
        rows = args.rows[-1]
        path = data_file(rows, folder)
        load_before = os.getloadavg()
        sizes = [int(size) for size in args.sweep.split(",")]
        lines = sweep(path, rows, sizes, local.workers, folder)
        load_after = os.getloadavg()
        from devstack.benchreport import machine

        about = machine()
        lines = [
            f"### Chunk sizes at {rows:,} rows, {local.workers} worker processes",
            "",
            f"Run {started} UTC on {about['cpu']}, {about['memory']}. Load "
            f"average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after.",
            "",
            *lines,
        ]
        if not args.no_record:
            record(f"sweep-{rows}", lines)
        return 0
    runs = []
    for rows in args.rows:
        path = data_file(rows, folder)
        runs.append(measure(path, rows, chunk_rows, args.seed_sample, folder))
    lines, block = section(runs, local.workers, started)
    print()
    print("\n".join(lines))
    if not args.no_record:
        record(",".join(str(run.rows) for run in runs), lines)
        print(f"\nrecorded in {DOC.relative_to(ROOT)}")
    print(json.dumps({k: v for k, v in block.items() if k != "sizes"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
