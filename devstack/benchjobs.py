"""The jobs ``devstack.bench`` measures, each run in a fresh process of its own.

``python -m devstack.bench`` starts ``python -m devstack.benchjobs <job> <json arguments>`` for
each measurement and reads the child's peak RSS from the operating system when it exits; the
child prints one line of JSON with what it did and how long the work itself took. Jobs: the whole
local pipeline, each stage alone (against an S3 endpoint the parent runs), the DuckDB floor and
the seed's approach. A stage alone also counts the S3 requests its client sent, by operation
(a GetObject with a Range header apart), for docs/scale.md.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.pipeline.runner import Stage, StageEvent

T = TypeVar("T")
SEED_CHUNK_ROWS = 1000  # the seed read its files with pandas, 1,000 rows at a time
RANGED_GET = "GetObject (range)"
# What the stage-alone jobs' S3 client has sent so far, by operation.
S3_REQUESTS: Counter[str] = Counter()


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_kb(pid: int | str = "self") -> int:
    """Peak resident memory of a process, in KiB.

    Read from /proc (VmHWM): the rusage of a child also counts what its parent had mapped when it
    forked, which would credit each job with the benchmark's own memory.
    """
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if pid == "self" else 0


def process_cpu(pid: int) -> float:
    """CPU seconds a running process has used so far (0 if it is gone)."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return 0.0
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_warm(pids: list[int], timeout: float = 60.0) -> None:
    """Wait until the worker processes have started and gone idle (their cold start is over)."""
    deadline = time.monotonic() + timeout
    last = -1.0
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sum(process_cpu(pid) for pid in pids)
        if now == last:
            return
        last = now


def pipeline(args: dict[str, Any]) -> dict[str, Any]:
    """Upload through a presigned POST on a fresh local stack and wait until it is loaded."""
    from chalicelib import logs
    from devstack.client import ApiClient
    from devstack.emulator import end_orphan, group_members
    from devstack.settings import LocalStackSettings
    from devstack.stack import LocalStack

    data_dir = Path(args["data_dir"])
    # Each run starts on an empty stack: the emulator keeps its objects in the data folder.
    end_orphan(data_dir / "emulator")
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    logs.setup()
    # Append mode: the worker processes write to the same file.
    (data_dir / "stack.log").unlink(missing_ok=True)
    handler = logging.FileHandler(data_dir / "stack.log", encoding="utf-8")
    handler.setFormatter(logs.JsonFormatter())
    logging.getLogger().handlers = [handler]
    settings = LocalStackSettings(
        api_port=0, s3_port=0, data_dir=str(data_dir), workers=int(args["workers"])
    )
    stack = LocalStack(settings, extra_env={"INGEST_CHUNK_ROWS": str(args["chunk_rows"])})
    stack.start()
    try:
        api = ApiClient(stack.api_url, settings.api_key, timeout=3600)
        assert stack.functions is not None and stack.emulator is not None
        assert stack.emulator.process is not None
        emulator = stack.emulator.process.pid
        workers = stack.functions.worker_pids()
        _wait_warm(workers)
        # The workers' start-up (imports, a cold start) is not the pipeline's work: count from here.
        cpu = _cpu() + sum(process_cpu(pid) for pid in workers)
        emulator_cpu = sum(process_cpu(pid) for pid in group_members(emulator))
        started = time.perf_counter()
        upload_id = api.upload("hired_employees", Path(args["file"]))
        uploaded = time.perf_counter() - started
        # Each status read costs the stack a few S3 requests: poll gently, not to slow it down.
        status = api.wait(upload_id, timeout=24 * 3600, poll=0.25)
        seconds = time.perf_counter() - started
        workers = stack.functions.worker_pids()
        emulator_used = sum(process_cpu(pid) for pid in group_members(emulator)) - emulator_cpu
        used = _cpu() + sum(process_cpu(pid) for pid in workers) - cpu + emulator_used
        worker_peaks = [peak_rss_kb(pid) for pid in workers]
        emulator_peak = sum(peak_rss_kb(pid) for pid in group_members(emulator))
    finally:
        stack.stop()
    return {
        "seconds": seconds,
        "upload_seconds": uploaded,
        "cpu_seconds": used,
        "state": status["state"],
        "rows_total": status["rows_total"],
        "rows_valid": status["rows_valid"],
        "rows_rejected": status["rows_rejected"],
        "chunks": status["chunks_total"],
        "worker_peak_rss_kb": max(worker_peaks, default=0),
        "emulator_cpu_seconds": emulator_used,
        "emulator_peak_rss_kb": emulator_peak,
    }


def _count_request(request: Any, event_name: str, **_: Any) -> None:
    """Count one HTTP request as it is sent (retries included, as S3 bills them)."""
    operation = event_name.rsplit(".", 1)[-1]
    if operation == "GetObject" and "Range" in request.headers:
        operation = RANGED_GET
    S3_REQUESTS[operation] += 1


def _s3_and_settings() -> tuple[Any, Any]:
    import boto3

    from chalicelib.config import Settings

    s3 = boto3.client("s3")
    s3.meta.events.register("before-send.s3", _count_request)
    return s3, Settings.from_env()


def _requests() -> dict[str, int]:
    return dict(sorted(S3_REQUESTS.items()))


def _as_handler(
    stage: Stage, s3: Any, settings: Any, key: str, work: Callable[[Any, Any, StageEvent], T]
) -> T:
    """Run a stage as its S3 handler does (``events.run_stage``: log context, error policy,
    memory handed back after the invocation); a stage that failed stops the benchmark."""
    from chalicelib.pipeline.runner import run_stage

    result = run_stage(
        stage, s3, settings.bucket, key, None, lambda event: work(s3, settings, event)
    )
    if result is None:
        raise RuntimeError(f"{stage} failed on {key}")
    return result


def split(args: dict[str, Any]) -> dict[str, Any]:
    """The split stage alone, on a raw object already in the bucket."""
    from chalicelib.pipeline import split

    s3, settings = _s3_and_settings()
    cpu, started = _cpu(), time.perf_counter()
    result = _as_handler("split", s3, settings, args["key"], split.split_upload)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": _cpu() - cpu,
        "upload_id": result.upload_id,
        "chunks": result.chunks,
        "records": result.records,
        "s3_requests": _requests(),
    }


def split_parts(args: dict[str, Any]) -> dict[str, Any]:
    """The split by parts alone, as one warm container taking every invocation in turn: the raw
    object's (the tasks), each part's (planned under both hypotheses), then the chain's (the
    chunks and the manifest); CPU seconds of the parts and of the chain apart."""
    from dataclasses import replace

    from chalicelib import keys, storage
    from chalicelib.pipeline import split, triggers

    s3, settings = _s3_and_settings()
    settings = replace(settings, plan_range_bytes=int(args["part_bytes"]))
    cpu, started = _cpu(), time.perf_counter()
    made = _as_handler("split", s3, settings, args["key"], split.split_upload)
    prefix = f"{keys.SPLITS}{args['table']}/{made.upload_id}/"
    seen: set[str] = set()
    part_cpu: list[float] = []
    chain_cpu = 0.0
    chunks = 0
    while True:
        tasks = [
            k
            for k in storage.list_keys(s3, settings.bucket, prefix)
            if triggers.starts("split", k) and k not in seen
        ]
        if not tasks:
            break
        for task in tasks:
            seen.add(task)
            before = _cpu()
            done = _as_handler("split", s3, settings, task, split.split_upload)
            if "/parts/" in task:
                part_cpu.append(_cpu() - before)
            else:
                chain_cpu += _cpu() - before
                chunks += done.chunks
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": _cpu() - cpu,
        "upload_id": made.upload_id,
        "parts": len(part_cpu),
        "part_cpu_seconds": sum(part_cpu),
        "part_cpu_max": max(part_cpu, default=0.0),
        "chain_cpu_seconds": chain_cpu,
        "chunks": chunks,
        "s3_requests": _requests(),
    }


def validate(args: dict[str, Any]) -> dict[str, Any]:
    """The validate stage alone: every chunk of an upload in turn, as one warm container."""
    from chalicelib import keys
    from chalicelib.pipeline import validate as stage

    s3, settings = _s3_and_settings()
    cpu, started = _cpu(), time.perf_counter()
    rows_in = valid = 0
    for n in range(int(args["chunks"])):
        key = keys.chunk_key(args["table"], args["upload"], n)
        done = _as_handler("validate", s3, settings, key, stage.validate_chunk)
        rows_in += done.rows_in
        valid += done.rows_valid
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": _cpu() - cpu,
        "rows_in": rows_in,
        "rows_valid": valid,
        "s3_requests": _requests(),
    }


def load(args: dict[str, Any]) -> dict[str, Any]:
    """The load stage alone, into a fresh DuckDB file."""
    from chalicelib import keys
    from chalicelib.pipeline import load as stage
    from chalicelib.tables import TABLES
    from chalicelib.warehouse import ensure_schema, make_warehouse

    s3, settings = _s3_and_settings()
    warehouse = make_warehouse(settings, s3)
    ensure_schema(warehouse, TABLES.values())
    S3_REQUESTS.clear()  # the load's own requests, not the set-up's
    cpu, started = _cpu(), time.perf_counter()
    result = _as_handler(
        "load",
        s3,
        settings,
        keys.load_key(args["table"], args["upload"]),
        lambda s3, settings, event: stage.load_upload(s3, warehouse, settings, event),
    )
    seconds = time.perf_counter() - started
    warehouse.close()
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu() - cpu,
        "state": result.state,
        "rows_loaded": result.rows_loaded,
        "rows_superseded": result.rows_superseded,
        "s3_requests": _requests(),
    }


# The same rules as the schema, in DuckDB SQL: what a user would write instead of this product
# (a benchmark reference, not product SQL, so it lives here and not in warehouse/sql.py).
# Integers are matched as text before any cast: TRY_CAST('12.5' AS BIGINT) would round to 13,
# and '1e3' would become 1000.
_CANONICAL_ID = (
    "regexp_full_match({c}, '0|-?[1-9][0-9]*') "
    "AND TRY_CAST({c} AS HUGEINT) BETWEEN 1 AND 9223372036854775807"
)
_UTC = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
FLOOR_SQL = f"""
CREATE TABLE hired AS
WITH raw AS (
  SELECT * FROM read_csv(?, header = false, auto_detect = false, delim = ',', quote = '"',
    escape = '"', null_padding = true, strict_mode = false, ignore_errors = true,
    columns = {{'id': 'VARCHAR', 'name': 'VARCHAR', 'datetime': 'VARCHAR',
                'department_id': 'VARCHAR', 'job_id': 'VARCHAR'}})
), judged AS (
  SELECT *,
    {_CANONICAL_ID.format(c="id")}
    AND length(name) BETWEEN 1 AND 256 AND regexp_matches(name, '\\S')
    AND regexp_full_match(datetime, '{_UTC}')
    AND try_strptime(datetime, '%Y-%m-%dT%H:%M:%SZ') IS NOT NULL
    AND {_CANONICAL_ID.format(c="department_id")}
    AND {_CANONICAL_ID.format(c="job_id")} AS ok
  FROM raw
)
SELECT CAST(id AS BIGINT) AS id, name, strptime(datetime, '%Y-%m-%dT%H:%M:%SZ') AS datetime,
  CAST(department_id AS BIGINT) AS department_id, CAST(job_id AS BIGINT) AS job_id
FROM judged WHERE coalesce(ok, false)
"""


def floor(args: dict[str, Any]) -> dict[str, Any]:
    """DuckDB alone: read the CSV, apply the same rules, keep the valid rows in a table."""
    import duckdb

    con = duckdb.connect()
    cpu, started = _cpu(), time.perf_counter()
    con.execute(FLOOR_SQL, [args["file"]])
    row = con.execute("SELECT COUNT(*) FROM hired").fetchone()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": _cpu() - cpu,
        "rows_valid": int(row[0]) if row else 0,
    }


def seed(args: dict[str, Any]) -> dict[str, Any]:
    """The seed's way, on the first ``sample`` rows: pandas chunks, a jsonschema validator per row.

    Built without re-checking the schema each time (``jsonschema.validate`` would, several times
    slower): the fairer reading of the seed.
    """
    import jsonschema
    import pandas

    from chalicelib.csvfile.fields import coerce
    from chalicelib.csvfile.rowcheck import FORMATS
    from chalicelib.tables import get_table

    table = get_table("hired_employees")
    sample = int(args["sample"])
    cpu, started = _cpu(), time.perf_counter()
    rows = valid = 0
    chunks = pandas.read_csv(
        args["file"],
        header=None,
        names=list(table.column_names),
        dtype=str,
        keep_default_na=False,
        chunksize=SEED_CHUNK_ROWS,
        nrows=sample,
        on_bad_lines="skip",
    )
    for frame in chunks:
        kept = []
        for _, row in frame.iterrows():
            rows += 1
            values = coerce(table, [str(v) for v in row.tolist()])
            if args.get("check_schema"):  # jsonschema.validate: checks the schema every time
                try:
                    jsonschema.validate(values, table.schema, format_checker=FORMATS)
                except jsonschema.ValidationError:
                    continue
            elif not jsonschema.Draft202012Validator(table.schema, format_checker=FORMATS).is_valid(
                values
            ):
                continue
            kept.append(values)
        valid += len(kept)
        pandas.DataFrame(kept, columns=list(table.column_names))
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": _cpu() - cpu,
        "rows": rows,
        "rows_valid": valid,
    }


JOBS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "pipeline": pipeline,
    "split": split,
    "split_parts": split_parts,
    "validate": validate,
    "load": load,
    "floor": floor,
    "seed": seed,
}


def main(argv: list[str]) -> int:
    job, args = argv[0], json.loads(argv[1])
    result = JOBS[job](args)
    result["peak_rss_kb"] = peak_rss_kb()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
