"""The split by parts: a large plain file planned by many invocations at once.

Owns planning a file that can be read by ranges and is larger than one part
(``Settings.part_bytes``, whole cells of the chunk byte grid): the invocation the raw object
starts reads the header, then writes one task per part,
``splits/<table>/<id>/<plan>/parts/<n>.json``, whose creation starts an invocation that plans
that part under both quoting hypotheses (``csvfile/parallel.py``) and stores the summary
(``planned/<n>.summary``). The parts' fan-in is a tree of markers, ten children a node, as in
``completion.py``: whoever completes the root writes the chain task (``chain/<first
chunk>.json``) once. The chain reads every summary, picks each part's hypothesis, numbers the
lines, writes the manifest and records the chunk count, then writes the chunk objects by slices
(one task per slice, so they are written at once), each handed on when its budget runs low.

Why it is safe to run twice: a part's summary depends on the file and the plan's settings only,
markers are facts, the chain task is written with ``If-None-Match``, and the chain writes the same
chunk n whoever writes it; every invocation checks first that the upload is still splitting by
this plan.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import keys, storage
from chalicelib.csvfile import utf16
from chalicelib.csvfile.parallel import PartSummary, chain, line_start_at_or_after, plan_part
from chalicelib.csvfile.ranges import Span
from chalicelib.pipeline import chunks, completion, split_ranges, state
from chalicelib.pipeline.split_ranges import Outcome, plan_id, start_validating

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.csvfile.boundaries import Source
    from chalicelib.csvfile.ranges import Planner
    from chalicelib.pipeline.budget import Budget
    from chalicelib.pipeline.runner import StageEvent
    from chalicelib.pipeline.state import Upload

logger = logging.getLogger(__name__)

# S3 requests one invocation keeps in flight: the fan-out's tasks, the chain's reads and writes.
THREADS = 32
# The chain checks its budget after each batch of chunk objects, and writes at most a slice of
# them per invocation: a 1 TB file's 89,000 chunks are written by 45 invocations at once.
WRITE_BATCH = 256
SLICE = 2000
FANOUT = 10
# A line start is looked for in pieces of this size after a part's edge.
_EDGE_BYTES = 64 * 1024


@dataclass(frozen=True)
class _Plan:
    """The upload and what its plan by parts needs, as a part's or the chain's task holds it."""

    upload: Upload
    plan: str
    task: dict[str, Any]


def fan_out(
    s3: S3Client,
    settings: Settings,
    upload: Upload,
    planner: Planner,
    detected: dict[str, Any],
    size: int,
) -> Outcome:
    """Write a task for each part of the file after its header (``planner`` stands at the data's
    start); each task's creation starts the invocation that plans the part."""
    step = settings.part_bytes
    data_start = planner.offset
    units = detected.pop("units", None)
    raw_size = size
    if units is not None:  # offsets count a UTF-16 file's code units
        size = utf16.unit_at_or_after(size)
    edges = [data_start, *range((data_start // step + 1) * step, size, step), size]
    parts = len(edges) - 1
    plan = plan_id(upload, settings, parts)
    common = {
        "data_start": data_start,
        "first_line": planner.line,
        "size": size,
        "raw_size": raw_size,
        "units": units,
        "parts": parts,
        "detected": {**detected, "planning": "parallel", "parts": parts},
    }

    def write(n: int) -> None:
        body = {**common, "part": n, "start": edges[n], "end": edges[n + 1]}
        key = keys.split_part_key(upload.table, upload.upload_id, plan, n)
        storage.put_json(s3, settings.bucket, key, body)

    _each(write, range(parts))
    logger.info("split.fanned_out", extra={"parts": parts, "bytes": size, "plan": plan})
    return Outcome(0, 0, handed_on=True)


def run(s3: S3Client, settings: Settings, event: StageEvent, budget: Budget) -> Outcome | None:
    """Plan the part, or chain the parts, that ``event``'s task names; None if there is nothing
    to do any more (the upload moved on, or the task is from an earlier plan)."""
    found = _current(s3, settings, event)
    if found is None:
        return None
    if event.part is not None:
        return _plan_part(s3, settings, found, event.part)
    return _chain(s3, settings, found, event.chain or 0, budget)


def _current(s3: S3Client, settings: Settings, event: StageEvent) -> _Plan | None:
    bucket = settings.bucket
    upload = state.read(s3, bucket, event.table, event.upload_id or "")
    task = storage.get_json(s3, bucket, event.key)
    reason = None
    if upload is None or task is None:
        reason = "no such upload or task"
    elif upload.state != "splitting" and not (
        # The chain records the chunk count before the chunks are written: its slices come after.
        event.chain is not None and upload.state == "validating"
    ):
        reason = f"upload is {upload.state}"
    elif plan_id(upload, settings, int(task.get("parts", 0)) or None) != event.plan:
        reason = "from an earlier plan"
    if reason is not None or upload is None or task is None:
        logger.info("split.task_ignored", extra={"reason": reason})
        return None
    return _Plan(upload, event.plan or "", task)


def _plan_part(s3: S3Client, settings: Settings, found: _Plan, n: int) -> Outcome:
    upload, task, bucket = found.upload, found.task, settings.bucket
    started = time.monotonic()
    key, etag = upload.source_key or "", upload.source_etag or ""
    size = int(task["size"])
    reading = _Reading(task.get("units"), int(task.get("raw_size", size)))

    def line_start(position: int) -> int:
        if position in (int(task["data_start"]), size):
            return position
        return _line_start(s3, bucket, (key, etag), position, size, reading)

    start, end = line_start(int(task["start"])), line_start(int(task["end"]))
    end = max(start, end)  # a line that crosses the whole part: the part holds nothing

    def opener() -> Source:
        return reading.open(s3, bucket, (key, etag), start, end)

    summary = plan_part(
        opener,
        (start, end),
        first=n == 0,
        last=end == size,
        max_records=settings.chunk_rows,
        max_bytes=settings.chunk_bytes,
        delimiter=(upload.options or {}).get("delimiter", ","),
    )
    table, upload_id = upload.table, upload.upload_id
    summary_key = keys.split_summary_key(table, upload_id, found.plan, n)
    storage.put_json(s3, bucket, summary_key, summary.to_json())
    logger.info(
        "split.part_planned",
        extra={
            "part": n,
            "bytes": end - start,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    if _climb(s3, bucket, found, n, int(task["parts"])):
        chain_key = keys.split_chain_key(table, upload_id, found.plan, 0)
        keep = ("data_start", "first_line", "size", "raw_size", "units", "parts", "detected")
        body = {k: task[k] for k in keep}
        if storage.put_json_if_absent(s3, bucket, chain_key, {**body, "invocation": 1}):
            logger.info("split.parts_planned", extra={"parts": task["parts"]})
    return Outcome(0, 0, handed_on=True)


@dataclass(frozen=True)
class _Reading:
    """How a plan's offsets map to the raw file: its bytes, or a UTF-16 file's code units."""

    units: str | None
    raw_size: int

    def open(
        self, s3: S3Client, bucket: str, source: tuple[str, str], start: int, end: int
    ) -> Source:
        """The file's bytes (or code units) ``[start, end)``."""
        if self.units is None:
            return chunks.open_range(s3, bucket, *source, start, end)
        first = utf16.raw_offset(start, self.raw_size)
        last = utf16.raw_offset(end, self.raw_size)
        raw = chunks.open_range(s3, bucket, *source, first, last)
        return utf16.CodeUnits(raw, big_endian=self.units == "be")

    def as_read(self, span: Span) -> Span:
        return span if self.units is None else split_ranges.in_file(span, self.raw_size)


def _line_start(
    s3: S3Client,
    bucket: str,
    source: tuple[str, str],
    position: int,
    size: int,
    reading: _Reading,
) -> int:
    """The first line start at or after ``position`` in the file (of ``size`` bytes or units)."""
    head, at = b"", position - 1
    while at < size:
        piece_end = min(at + _EDGE_BYTES, size)
        piece = reading.open(s3, bucket, source, at, piece_end).read()
        head += piece
        at = piece_end
        if head[:1] == b"\n" or head.find(b"\n", 1) >= 0:
            break
    return line_start_at_or_after(head, position)


def _climb(s3: S3Client, bucket: str, found: _Plan, n: int, parts: int) -> bool:
    """Mark what part ``n``'s summary completes in the tree of planned parts; True if the
    whole tree is complete (every part is planned)."""
    table, upload_id, plan = found.upload.table, found.upload.upload_id, found.plan
    level, index = 0, n
    while FANOUT**level < parts:
        level += 1
        index //= FANOUT
        span = FANOUT ** (level - 1)
        children = range(index * FANOUT, min(index * FANOUT + FANOUT, -(-parts // span)))
        prefix = keys.split_tree_children_prefix(table, upload_id, plan, level, index)
        present = set()
        for key in storage.list_keys(s3, bucket, prefix):
            name = key.rsplit("/", 1)[1].split(".", 1)[0]
            if name.isdigit():
                present.add(int(name))
        if not present.issuperset(children):
            return False
        if FANOUT**level < parts:
            marker = keys.split_tree_key(table, upload_id, plan, level, index)
            storage.put_json(s3, bucket, marker, {"level": level, "index": index})
    return True


def _chain(s3: S3Client, settings: Settings, found: _Plan, first: int, budget: Budget) -> Outcome:
    """Chain the parts' summaries into the plan: the manifest and the upload's chunk count,
    then the chunk objects, a slice of ``SLICE`` chunks per invocation (this one writes the
    first; each of the others gets a task of its own, so they are written at once)."""
    if "end" in found.task:
        return _write_slice(s3, settings, found, first, budget)
    upload, task, bucket = found.upload, found.task, settings.bucket
    table, upload_id = upload.table, upload.upload_id
    started = time.monotonic()
    parts = int(task["parts"])

    def read(n: int) -> PartSummary:
        data = storage.get_json(s3, bucket, keys.split_summary_key(table, upload_id, found.plan, n))
        if data is None:
            raise RuntimeError(f"split plan {found.plan} lacks the summary of part {n}")
        return PartSummary.from_json(data)

    reading = _Reading(task.get("units"), int(task.get("raw_size", task["size"])))
    spans = [reading.as_read(s) for s in chain(_each(read, range(parts)), int(task["first_line"]))]
    if len(spans) > keys.MAX_CHUNKS:
        chunks.check_count(len(spans) - 1)
    slices = range(0, len(spans), SLICE)
    invocations = 1 + parts + len(slices)
    detected = {**task["detected"], "split_invocations": invocations}
    _write_manifest(s3, bucket, upload, spans, invocations)
    # The count is on record before the chunks exist: a chunk validated before the last is
    # written then climbs the completion tree knowing where its root is.
    moved = start_validating(s3, bucket, upload, len(spans), detected)
    if moved is None:
        return Outcome(0, sum(s.records for s in spans), False, len(spans))

    def hand_out(n: int) -> None:
        key = keys.split_chain_key(table, upload_id, found.plan, n)
        storage.put_json(s3, bucket, key, _slice_task(task, spans, n, min(n + SLICE, len(spans))))

    _each(hand_out, slices[1:])
    records = sum(s.records for s in spans)
    logger.info(
        "split.completed",
        extra={
            "chunks": len(spans),
            "records": records,
            **detected,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    end = min(SLICE, len(spans))
    outcome = _write(s3, settings, found, (0, spans), (0, end), budget)
    completion.request_load_if_complete(s3, bucket, moved)
    return Outcome(outcome.chunks, records, outcome.handed_on, len(spans))


def _slice_task(task: dict[str, Any], spans: list[Span], first: int, end: int) -> dict[str, Any]:
    """The task of writing chunks ``[first, end)``: it carries their spans, so the invocation
    that writes them reads nothing else."""
    rows = [[s.start, s.end, s.first_line, s.last_line, s.records] for s in spans[first:end]]
    return {**task, "first": first, "end": end, "spans": rows}


def _write_slice(
    s3: S3Client, settings: Settings, found: _Plan, first: int, budget: Budget
) -> Outcome:
    """Write the chunk objects ``[first, end)`` that the slice's task holds."""
    task = found.task
    spans = [Span(*row) for row in task["spans"]]
    return _write(
        s3, settings, found, (int(task["first"]), spans), (first, int(task["end"])), budget
    )


def _write(
    s3: S3Client,
    settings: Settings,
    found: _Plan,
    planned: tuple[int, list[Span]],
    numbers: tuple[int, int],
    budget: Budget,
) -> Outcome:
    """Write chunks ``numbers`` (first, end) of ``planned`` (the number of its first span, its
    spans); hand the rest on when the budget runs low."""
    upload, bucket = found.upload, settings.bucket
    table, upload_id = upload.table, upload.upload_id
    source = (upload.source_key or "", upload.source_etag or "")
    options = upload.options or {"encoding": "utf-8", "delimiter": ","}
    if found.task.get("units") is not None:
        options = {**options, "encoding": utf16.codec(found.task["units"] == "be")}
    base, spans = planned

    def write(n: int) -> None:
        chunks.write_range(s3, bucket, (table, upload_id, n), source, spans[n - base], options)

    first, end = numbers
    n, slowest = first, 0.0
    while n < end:
        step = time.monotonic()
        batch = range(n, min(n + WRITE_BATCH, end))
        _each(write, batch)
        n = batch.stop
        slowest = max(slowest, time.monotonic() - step)
        if n < end and not budget.allows(slowest, 0):
            key = keys.split_chain_key(table, upload_id, found.plan, n)
            rest = _slice_task(found.task, spans, n - base, end - base)
            storage.put_json(s3, bucket, key, {**rest, "first": n, "end": end})
            logger.info("split.handed_on", extra={"chunk": n, "end": end})
            return Outcome(n - first, 0, handed_on=True)
    return Outcome(n - first, 0, handed_on=False)


def _write_manifest(
    s3: S3Client, bucket: str, upload: Upload, spans: list[Span], invocations: int
) -> None:
    storage.put_json(
        s3,
        bucket,
        keys.split_manifest_key(upload.table, upload.upload_id),
        {
            "upload_id": upload.upload_id,
            "source_key": upload.source_key,
            "source_etag": upload.source_etag,
            "records": sum(s.records for s in spans),
            "split": "ranges",
            "invocations": invocations,
            "chunks": [{"n": n, **span.to_json()} for n, span in enumerate(spans)],
        },
    )


def _each(work: Callable[[int], Any], numbers: Iterable[int]) -> list[Any]:
    """``work`` on each number, ``THREADS`` at a time; the results in order."""
    numbers = list(numbers)
    if len(numbers) <= 1:
        return [work(n) for n in numbers]
    with ThreadPoolExecutor(max_workers=min(THREADS, len(numbers))) as pool:
        return list(pool.map(work, numbers))
