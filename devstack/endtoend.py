"""From upload complete to loaded: the wall time of 1 GB, 100 GB and 1 TB, plain and gzip.

Owns the end-to-end part of docs/scale.md: the stages of ``devstack.scale``'s model put one after
another (planning, validation overlapping the chunk writes, the load), at a stated Lambda
concurrency and Redshift cluster, and the section ``devstack.scalemd`` writes from it. Every
figure comes from the model; the assumptions are constants here, named in the section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devstack.awsfigures import AWS, REDSHIFT_SLICES

if TYPE_CHECKING:
    from devstack.scale import Model, SizeModel

# The stated cluster: eight of the largest RA3 nodes.
CLUSTER_NODE, CLUSTER_NODES = "ra3.16xlarge", 8
# The stated concurrency: Lambda's default per account and Region, for the parts and then for
# validation (one after the other, so they never need it at once).
CONCURRENCY = int(AWS["lambda_concurrency"].value)


@dataclass(frozen=True)
class Timeline:
    """One file's way from upload complete to loaded; times in seconds from upload complete."""

    planned: float  # the last chunk object written
    validated: float  # the last chunk validated
    loaded: float
    load_seconds: float
    validate_concurrency: int

    @property
    def stages(self) -> dict[str, float]:
        """How long each stage holds the upload up, from the end of the one before."""
        return {
            "split planning": self.planned,
            "validation": self.validated - self.planned,
            "load": self.load_seconds,
        }

    @property
    def bottleneck(self) -> str:
        return max(self.stages.items(), key=lambda item: item[1])[0]


def slices() -> int:
    per_node = dict(REDSHIFT_SLICES)[CLUSTER_NODE]
    return per_node * CLUSTER_NODES


def load_seconds(model: Model, size: SizeModel) -> float:
    """The load on the stated cluster: each slice takes one COPY file at a time (AWS), at the
    rate the local engine loaded (COPY, de-duplication, MERGE) in one process (an assumption)."""
    per_file = size.chunk_bytes / 1e6 * model.figures.stages["load"].seconds_per_mb
    return math.ceil(size.chunks / slices()) * per_file


def timeline(model: Model, size: SizeModel, *, gzip: bool, concurrency: int) -> Timeline:
    """The wall times of ``size`` (gzip-compressed if ``gzip``) with validation ``concurrency``
    at a time. Chunks are validated as they are written: validation ends a chunk's time after
    the last is written, or when the validators have been through all of them, if later."""
    each = size.stages["validate"].seconds_each
    if gzip:
        writing_from, planned = 0.0, size.gzip_split.wall_seconds
    else:
        writing_from = size.stages["split"].wall_seconds - size.chain_seconds
        planned = size.stages["split"].wall_seconds
    through = writing_from + math.ceil(size.chunks / min(concurrency, size.chunks)) * each
    validated = max(planned + each, through)
    load = load_seconds(model, size)
    return Timeline(planned, validated, validated + load, load, concurrency)


def _time(seconds: float) -> str:
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:,.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds:,.1f} s"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def section(model: Model) -> list[str]:
    """The section of docs/scale.md: the wall times, the assumptions, the bottleneck."""
    dep = model.deployment
    sizes = model.sizes
    caps = (("the stage's", dep.validate_concurrency), ("the stated", CONCURRENCY))
    lines = [
        "## From upload complete to loaded",
        "",
        f"The stated setting: up to {CONCURRENCY:,} Lambdas at once (the regional default), "
        f"first for the parts, then for validation (`validate_max_concurrency` raised from "
        f"{dep.validate_concurrency:,} to {CONCURRENCY:,}), and a cluster of {CLUSTER_NODES} "
        f"{CLUSTER_NODE} nodes ({slices():,} slices). Assumptions: a Lambda computes at its "
        f"measured CPU seconds over its vCPU share and waits for nothing else, but the chain's and "
        f"the fan-out's S3 requests, {AWS['s3_small_request_ms'].value:,.0f} ms each, "
        f"{_threads()} at a time; a slice loads its COPY files one at a time (AWS) at the rate "
        f"the local engine loaded in one process, "
        f"{1 / model.figures.stages['load'].seconds_per_mb:,.1f} MB/s (COPY, de-duplication and "
        f"MERGE; Redshift's own rate per slice is not published); nothing is counted for cold "
        f"starts, queueing or the Data API's polling.",
        "",
        _row(["", *(s.label for s in sizes)]),
        _row(["---"] * (len(sizes) + 1)),
        _row(["parts planned at once", *(f"{s.parts:,}" for s in sizes)]),
        _row(
            [
                "a part's invocation; the chain (reads and writes)",
                *(f"{_time(s.part_seconds)}; {_time(s.chain_seconds)}" for s in sizes),
            ]
        ),
    ]
    for kind, gzip in (("plain", False), ("gzip", True)):
        for name, cap in caps:
            runs = [timeline(model, s, gzip=gzip, concurrency=cap) for s in sizes]
            label = f"**{kind}**, validation {cap:,} at a time ({name})"
            lines.append(_row([label, *(_cell(t) for t in runs)]))
    one_tb = timeline(model, sizes[-1], gzip=False, concurrency=CONCURRENCY)
    lines += [
        "",
        "Each cell: upload complete to loaded (split planning + validation after it + load), "
        "and the stage that takes longest.",
        "",
        f"At the stated setting a plain {sizes[-1].label} file is planned in "
        f"{_time(one_tb.planned)} and loaded {_time(one_tb.loaded)} after its upload completes; "
        f"the {one_tb.bottleneck} is then the bottleneck ({_time(one_tb.stages[one_tb.bottleneck])}"
        f"). A gzip file is planned by one reader (a deflate stream is read in order; its restart "
        f"points only let the reading go on in the next invocation), so its planning grows with "
        f"its size and is the bottleneck from 100 GB on.",
    ]
    return lines


def _threads() -> int:
    from chalicelib.pipeline.split_parallel import THREADS

    return THREADS


def _cell(run: Timeline) -> str:
    parts = " + ".join(_time(v) for v in run.stages.values())
    return f"{_time(run.loaded)} ({parts}; {run.bottleneck})"
