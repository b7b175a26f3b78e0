"""What 1 GB, 100 GB and 1 TB cost and take on AWS, from measurements.

Reads the newest JSON summary ``make bench`` recorded in docs/benchmarks.md (per-stage CPU seconds,
bytes per row, S3 requests per chunk), the memory sizes, timeouts and fan-out cap of the deployed
stage (``.chalice/config.json``), the product's chunk limits (``chalicelib``) and the AWS figures
below, each with the page that states it; and writes the model into docs/scale.md between
``<!-- scale -->`` markers (``devstack.scalemd``). Every derived number is computed here; the test
``tests/unit/devstack/test_scale.py`` fails when the committed doc differs from what this writes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.api.multipart_uploads import MAX_OBJECT_BYTES
from chalicelib.config import DEFAULT_PLAN_RANGE_BYTES
from chalicelib.keys import CHUNK_DIGITS
from chalicelib.pipeline.runner import STAGES
from chalicelib.pipeline.split import CHUNK_MAX_BYTES, SINGLE_PASS_LIMITS
from chalicelib.pipeline.split_parallel import SLICE, THREADS
from chalicelib.pipeline.triggers import trigger_of
from deploy.stage import read_stage
from devstack.awsfigures import AWS, REDSHIFT_SLICES
from devstack.benchreport import SUMMARY_FORMAT

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
DOC = ROOT / "docs" / "scale.md"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
STAGE = "prod"
MB = 1_000_000
SIZES = (("1 GB", 10**9), ("100 GB", 10**11), ("1 TB", 10**12))
# Chalice's default when a function sets no lambda_memory_size.
CHALICE_DEFAULT_MEMORY_MB = 128


@dataclass(frozen=True)
class StageFigures:
    """One stage alone, per MB of CSV (the uncompressed rows, whatever form the file had)."""

    seconds_per_mb: float
    cpu_per_mb: float
    peak_rss_mb: float
    fixed_requests: dict[str, float]  # by request class, whatever the chunk count
    requests_per_chunk: dict[str, float]


@dataclass(frozen=True)
class Figures:
    """What the newest bench run measured, reduced to rates."""

    run: str
    sizes: tuple[int, ...]
    rows: int
    input_bytes: int
    chunks: int
    bytes_per_row: float
    gzip_ratio: float
    fitted: bool  # requests split into fixed + per chunk from two sizes with different chunk counts
    stages: dict[str, StageFigures]  # split, validate, load, split_gzip, split_parts
    part_cpu_per_mb: float  # planning a part under both hypotheses, CPU s per MB of the part
    chain_cpu_per_chunk: float  # the chain: CPU s per chunk written (summaries read included)


@dataclass(frozen=True)
class Deployment:
    """The deployed stage's Lambda settings, read from .chalice/config.json."""

    stage: str
    handlers: dict[str, str]  # pipeline stage -> Lambda handler
    memory_mb: dict[str, int]  # by pipeline stage
    timeout_s: dict[str, int]
    validate_concurrency: int
    data_api: bool
    chunk_rows: int  # INGEST_CHUNK_ROWS of the stage, else the product's default

    def vcpu(self, stage: str) -> float:
        return self.memory_mb[stage] / AWS["lambda_mb_per_vcpu"].value

    def gb(self, stage: str) -> float:
        return self.memory_mb[stage] / 1024


def request_class(operation: str) -> str:
    """S3's rate classes: GETs and HEADs, ranged GETs, LISTs, and writes (PUT/COPY/POST/DELETE)."""
    if operation == "GetObject (range)":
        return "ranged_get"
    if operation in ("GetObject", "HeadObject"):
        return "get"
    if operation.startswith("List"):
        return "list"
    return "put"


REQUEST_CLASSES = ("get", "ranged_get", "put", "list")


def _classes(requests: dict[str, int]) -> dict[str, float]:
    out = dict.fromkeys(REQUEST_CLASSES, 0.0)
    for operation, n in requests.items():
        out[request_class(operation)] += n
    return out


def newest_summary(text: str) -> dict[str, Any]:
    """The newest ``make bench`` JSON summary of the current format in docs/benchmarks.md.

    Raises:
        SystemExit: no summary of that format (run ``make bench`` first).
    """
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", text, re.DOTALL)]
    found = [b for b in blocks if b.get("format") == SUMMARY_FORMAT]
    if not found:
        raise SystemExit("docs/benchmarks.md has no bench summary of this format: run make bench")
    return max(found, key=lambda b: str(b["run"]))


def figures(summary: dict[str, Any]) -> Figures:
    """Rates per MB of CSV from the largest size; S3 requests fitted across the sizes."""
    sizes = sorted(summary["sizes"], key=lambda s: s["rows"])
    small, large = sizes[0], sizes[-1]
    fitted = large["chunks"] != small["chunks"]
    csv_mb = large["input_bytes"] / MB
    stages = {}
    for role in ("split", "validate", "load", "split_gzip", "split_parts"):
        measured = large["stages"][role]
        big = _classes(measured.get("s3_requests", {}))
        if fitted:
            little = _classes(small["stages"][role].get("s3_requests", {}))
            # A request made once per upload may vary by one between runs (a retried state
            # write): never fit a negative rate.
            span = large["chunks"] - small["chunks"]
            per_chunk = {c: max((big[c] - little[c]) / span, 0.0) for c in big}
            fixed = {c: max(big[c] - per_chunk[c] * large["chunks"], 0.0) for c in big}
        else:  # one chunk count: everything counted per chunk (an upper bound)
            per_chunk = {c: big[c] / large["chunks"] for c in big}
            fixed = dict.fromkeys(big, 0.0)
        stages[role] = StageFigures(
            seconds_per_mb=measured["seconds"] / csv_mb,
            cpu_per_mb=measured["cpu_seconds"] / csv_mb,
            peak_rss_mb=measured["peak_rss_mb"],
            fixed_requests=fixed,
            requests_per_chunk=per_chunk,
        )
    parts = large["stages"]["split_parts"]
    return Figures(
        part_cpu_per_mb=parts["part_cpu_seconds"] / csv_mb,
        chain_cpu_per_chunk=parts["chain_cpu_seconds"] / large["chunks"],
        run=str(summary["run"]),
        sizes=tuple(s["rows"] for s in sizes),
        rows=large["rows"],
        input_bytes=large["input_bytes"],
        chunks=large["chunks"],
        bytes_per_row=large["input_bytes"] / large["rows"],
        gzip_ratio=large["gzip_bytes"] / large["input_bytes"],
        fitted=fitted,
        stages=stages,
    )


def deployment(config: dict[str, Any], stage: str = STAGE) -> Deployment:
    """Memory, timeouts, fan-out cap and load path of ``stage``, as Chalice would deploy them."""
    read = read_stage(config, stage)
    raw = config["stages"][stage]
    functions = raw.get("lambda_functions", {})
    default = raw.get("lambda_memory_size", config.get("lambda_memory_size"))
    handlers: dict[str, str] = {name: trigger_of(name).handler for name in STAGES}
    memory = {
        name: int(
            functions.get(handler, {}).get("lambda_memory_size")
            or default
            or CHALICE_DEFAULT_MEMORY_MB
        )
        for name, handler in handlers.items()
    }
    env = {**config.get("environment_variables", {}), **raw.get("environment_variables", {})}
    from chalicelib.config import DEFAULT_CHUNK_ROWS, ENV_CHUNK_ROWS

    return Deployment(
        stage=stage,
        handlers=handlers,
        memory_mb=memory,
        timeout_s={name: read.timeouts[handler] for name, handler in handlers.items()},
        validate_concurrency=read.settings.validate_max_concurrency,
        data_api=env.get("INGEST_REDSHIFT_API") == "data",
        chunk_rows=int(env.get(ENV_CHUNK_ROWS) or DEFAULT_CHUNK_ROWS),
    )


@dataclass(frozen=True)
class StageModel:
    """One stage of one file on Lambda."""

    invocations: int
    seconds_each: float  # compute seconds of one invocation (the mean, for the split)
    gb_seconds: float
    requests: dict[str, int]  # by request class
    wall_seconds: float
    concurrency: int

    def rate(self, *classes: str) -> float:
        """Requests of these classes per second while the stage runs, all at once."""
        total = sum(self.requests[c] for c in classes)
        return total / self.wall_seconds if self.wall_seconds else 0.0


@dataclass(frozen=True)
class SizeModel:
    """A file of ``size`` bytes of hired_employees-like CSV, through every stage."""

    label: str
    size: int
    rows: int
    chunks: int
    chunk_bytes: float
    stages: dict[str, StageModel]
    validate_wide: StageModel  # the validate fan-out at Lambda's default regional concurrency
    gzip_split: StageModel  # the same rows gzip-compressed: one reader, resumed
    parts: int  # the plain file's parts (INGEST_PLAN_RANGE_BYTES, whole grid cells)
    part_seconds: float  # compute of one part's invocation
    chain_seconds: float  # the chain: compute, and its S3 requests THREADS at a time
    fan_out_seconds: float  # the raw object's invocation writing the parts' tasks
    engine_load_seconds: float  # the load at the rate of the local engine
    files_per_slice: dict[str, int]  # one node of each type


def _requests(stage: StageFigures, chunks: int) -> dict[str, int]:
    return {
        c: math.ceil(stage.fixed_requests[c] + stage.requests_per_chunk[c] * chunks)
        for c in REQUEST_CLASSES
    }


def chunk_count(size: int, bytes_per_row: float, chunk_rows: int) -> int:
    """Chunks of a file of ``size`` bytes: each cell of the byte grid cut every ``chunk_rows``
    rows (the cells all full, the last one as full as the file leaves it)."""
    cells, rest = divmod(size, CHUNK_MAX_BYTES)
    per_cell = math.ceil(CHUNK_MAX_BYTES / bytes_per_row / chunk_rows)
    return cells * per_cell + math.ceil(rest / bytes_per_row / chunk_rows)


def _one_reader(stage: StageFigures, csv_mb: float, chunks: int, dep: Deployment) -> StageModel:
    """A split by one reader, resumed across invocations (a gzip file)."""
    seconds = stage.cpu_per_mb * csv_mb / dep.vcpu("split")
    # Planning hands over to a fresh invocation before the timeout: at least this many.
    invocations = max(1, math.ceil(seconds / dep.timeout_s["split"]))
    requests = _requests(stage, chunks)
    # Each hand-over writes a cursor object and resumes the read with a ranged GET.
    requests["put"] += invocations - 1
    requests["ranged_get"] += invocations - 1
    return StageModel(
        invocations=invocations,
        seconds_each=seconds / invocations,
        gb_seconds=seconds * dep.gb("split"),
        requests=requests,
        wall_seconds=seconds,
        concurrency=1,
    )


def model_size(label: str, size: int, fig: Figures, dep: Deployment, chunk_rows: int) -> SizeModel:
    """Invocations, GB-seconds, S3 requests and wall time of each stage for one file size."""
    rows = math.ceil(size / fig.bytes_per_row)
    chunks = chunk_count(size, fig.bytes_per_row, chunk_rows)
    csv_mb = size / MB
    vcpu = dep.vcpu("split")
    part_bytes = -(-DEFAULT_PLAN_RANGE_BYTES // CHUNK_MAX_BYTES) * CHUNK_MAX_BYTES
    parts = math.ceil(size / part_bytes)
    part_seconds = fig.part_cpu_per_mb * (size / parts) / MB / vcpu
    # The raw object's invocation writes the parts' tasks, THREADS requests at a time; the
    # chain reads every summary the same way and hands out the slices' tasks, then the slices
    # write their chunk objects at once, each THREADS at a time.
    request = AWS["s3_small_request_ms"].value / 1000 / THREADS
    chain_slices = math.ceil(chunks / SLICE)
    per_chunk = fig.chain_cpu_per_chunk / vcpu + request
    tasks = parts * request
    # S3 takes at most so many writes a second on one prefix (the chunk objects share one).
    chain = max(
        (parts + chain_slices) * request + min(chunks, SLICE) * per_chunk,
        chunks / AWS["s3_put_per_prefix"].value,
    )
    busy = tasks + parts * part_seconds + (parts + chain_slices) * request + chunks * per_chunk
    running = min(parts, int(AWS["lambda_concurrency"].value))
    planned = StageModel(
        invocations=1 + parts + chain_slices,
        seconds_each=part_seconds,
        gb_seconds=busy * dep.gb("split"),
        requests=_requests(fig.stages["split_parts"], chunks),
        wall_seconds=tasks + math.ceil(parts / running) * part_seconds + chain,
        concurrency=running,
    )
    validate = fig.stages["validate"]
    each = validate.cpu_per_mb * (csv_mb / chunks) / dep.vcpu("validate")

    def fan_out(concurrency: int) -> StageModel:
        running = min(concurrency, chunks)
        requests = _requests(validate, chunks)
        # No faster than S3 serves one prefix's reads and writes (the worst case, one prefix).
        bound = max(
            (requests["get"] + requests["ranged_get"]) / AWS["s3_get_per_prefix"].value,
            (requests["put"] + requests["list"]) / AWS["s3_put_per_prefix"].value,
        )
        return StageModel(
            invocations=chunks,
            seconds_each=each,
            gb_seconds=chunks * each * dep.gb("validate"),
            requests=requests,
            wall_seconds=max(math.ceil(chunks / running) * each, bound),
            concurrency=running,
        )

    load = fig.stages["load"]
    engine_seconds = load.seconds_per_mb * csv_mb
    # Through a connection the Lambda waits for the whole load, so it is billed for all of it;
    # through the Data API it submits the statement and returns (not measured apart here).
    loaded = StageModel(
        invocations=2 if dep.data_api else 1,  # the Data API load ends in its completion handler
        seconds_each=engine_seconds,
        gb_seconds=engine_seconds * dep.gb("load"),
        requests=_requests(load, chunks),
        wall_seconds=engine_seconds,
        concurrency=1,
    )
    return SizeModel(
        label=label,
        size=size,
        rows=rows,
        chunks=chunks,
        chunk_bytes=size / chunks,
        stages={
            "split": planned,
            "validate": fan_out(dep.validate_concurrency),
            "load": loaded,
        },
        validate_wide=fan_out(int(AWS["lambda_concurrency"].value)),
        gzip_split=_one_reader(fig.stages["split_gzip"], csv_mb, chunks, dep),
        parts=parts,
        part_seconds=part_seconds,
        chain_seconds=chain,
        fan_out_seconds=tasks,
        engine_load_seconds=engine_seconds,
        files_per_slice={node: math.ceil(chunks / slices) for node, slices in REDSHIFT_SLICES},
    )


@dataclass(frozen=True)
class Ceilings:
    """The largest file and the longest load each design choice allows."""

    max_chunks: int
    chunk_bytes: float  # a full chunk: chunk_rows rows, or CHUNK_MAX_BYTES if that comes first
    plain_bytes: float  # min(chunk-number width x chunk, the largest object)
    plain_bound: str
    single_pass: dict[str, int]  # bytes as sent of a file copied in one invocation, by kind
    connector_load_bytes: float  # loaded within one Lambda invocation at the local engine's rate
    data_api_load_bytes: float  # within one Data API statement's 24 hours, same rate


def ceilings(fig: Figures, dep: Deployment, chunk_rows: int) -> Ceilings:
    max_chunks = 10**CHUNK_DIGITS
    chunk_bytes = min(chunk_rows * fig.bytes_per_row, float(CHUNK_MAX_BYTES))
    by_chunks = max_chunks * chunk_bytes
    plain = min(by_chunks, float(MAX_OBJECT_BYTES))
    load_bytes_per_s = MB / fig.stages["load"].seconds_per_mb
    return Ceilings(
        max_chunks=max_chunks,
        chunk_bytes=chunk_bytes,
        plain_bytes=plain,
        plain_bound="chunk numbers" if by_chunks <= MAX_OBJECT_BYTES else "object size",
        single_pass={kind: limit for kind, (limit, _) in SINGLE_PASS_LIMITS.items()},
        connector_load_bytes=AWS["lambda_max_seconds"].value * load_bytes_per_s,
        data_api_load_bytes=AWS["data_api_max_seconds"].value * load_bytes_per_s,
    )


@dataclass(frozen=True)
class Model:
    figures: Figures
    deployment: Deployment
    chunk_rows: int
    sizes: tuple[SizeModel, ...]
    ceilings: Ceilings


def build(benchmarks: str, config: dict[str, Any]) -> Model:
    """The whole model from docs/benchmarks.md's text and .chalice/config.json's content."""
    fig = figures(newest_summary(benchmarks))
    dep = deployment(config)
    rows = dep.chunk_rows
    sizes = tuple(model_size(label, size, fig, dep, rows) for label, size in SIZES)
    return Model(fig, dep, rows, sizes, ceilings(fig, dep, rows))


def current() -> Model:
    config = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))
    return build(BENCHMARKS.read_text(encoding="utf-8"), config)
