"""``python -m devstack.scalemd``: docs/scale.md's generated block, from ``devstack.scale``'s model.

Owns the layout only (tables, units, wording around each computed figure); every number comes
from the ``Model`` it is given. The block sits between ``<!-- scale -->`` and ``<!-- /scale -->``;
the text around it is hand-written and kept.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING

from chalicelib.api.multipart_uploads import MAX_OBJECT_BYTES
from chalicelib.keys import CHUNK_DIGITS
from chalicelib.pipeline.runner import STAGES
from chalicelib.pipeline.split import CHUNK_MAX_BYTES
from devstack import endtoend
from devstack.awsfigures import AWS, REDSHIFT_NODES_URL, REDSHIFT_SLICES, S3_OBJECT_LIMITS_URL
from devstack.bench import BENCH_PART_BYTES
from devstack.scale import DOC, ROOT, current

if TYPE_CHECKING:
    from devstack.scale import Model, StageModel

START, END = "<!-- scale -->", "<!-- /scale -->"
_INTRO = """# Scale: 1 GB, 100 GB and 1 TB on AWS

What a file of each size costs in Lambda invocations, GB-seconds and S3 requests, how fast it
goes at a stated concurrency, and the largest file and longest load each design choice allows.
What follows this paragraph is written by `python -m devstack.scalemd` from the newest
`make bench` summary in docs/benchmarks.md, the stage's settings in `.chalice/config.json` and
the AWS figures listed with their pages; `tests/unit/devstack/test_scale.py` fails when this
file differs from what it would write. Re-run it after `make bench`.
"""


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _bytes(value: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if value >= size:
            return f"{value / size:,.3g} {unit}"
    return f"{value:,.0f} B"


def _time(seconds: float) -> str:
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:,.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds:,.1f} s"


def _fits(seconds: float, limit: int) -> str:
    return " (fits)" if seconds <= limit else f" (**over {limit:,} s**)"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _split_kind(model: Model) -> str:
    """Which split the bench ran, told by how validation read its chunks."""
    if model.figures.stages["validate"].requests_per_chunk["ranged_get"] > 0:
        return (
            "Validation read each chunk with a ranged GET of the raw file: the split measured "
            "is the planning one"
        )
    return (
        "Validation read each chunk as an object of its own: the split measured copied every "
        "chunk (the code before planning), so its S3 PUTs and CPU are the copying split's; "
        "`make bench` and this module again on the planning split replace them"
    )


def _measured(model: Model) -> list[str]:
    fig = model.figures
    how = (
        f"S3 requests as fixed + per chunk, fitted between the {fig.sizes[0]:,}-row and "
        f"{fig.sizes[-1]:,}-row runs"
        if fig.fitted
        else "S3 requests counted per chunk (one size measured: fixed requests included, "
        "an upper bound)"
    )
    sizes = ", ".join(f"{s:,}" for s in fig.sizes)
    lines = [
        "## Measured",
        "",
        f"From the `make bench` run of {fig.run} UTC (sizes {sizes} rows), its largest file:"
        f" {fig.rows:,} rows, {_bytes(fig.input_bytes)}, "
        f"{fig.chunks:,} chunks; {fig.bytes_per_row:.2f} bytes per row; gzip (level 6) makes it "
        f"{fig.gzip_ratio:.3f} of its size. Each stage alone, in one process, per MB of CSV "
        f"(for the gzip split, of the CSV inside); {how}. {_split_kind(model)}; `split` is one "
        f"reader, `split parts` the same file by parts of {_bytes(BENCH_PART_BYTES)}, every "
        f"invocation in turn (planning a part under both hypotheses: "
        f"{fig.part_cpu_per_mb:.4f} CPU s per MB, {1 / fig.part_cpu_per_mb:,.1f} MB per CPU "
        f"second; the chain: {fig.chain_cpu_per_chunk * 1000:,.1f} ms of CPU per chunk), "
        f"`split gzip` one reader of the gzip file, a restart point kept with every chunk:",
        "",
        _row(
            [
                "stage",
                "seconds / MB",
                "CPU s / MB",
                "MB / CPU s",
                "peak RSS MB",
                "S3 per chunk",
                "S3 fixed",
            ]
        ),
        _row(["---"] * 7),
    ]
    for role, stage in fig.stages.items():
        per = ", ".join(f"{c} {v:.2f}" for c, v in stage.requests_per_chunk.items() if v)
        fixed = ", ".join(f"{c} {v:.1f}" for c, v in stage.fixed_requests.items() if v)
        lines.append(
            _row(
                [
                    role.replace("_", " "),
                    f"{stage.seconds_per_mb:.4f}",
                    f"{stage.cpu_per_mb:.4f}",
                    f"{1 / stage.cpu_per_mb:,.1f}" if stage.cpu_per_mb else "",
                    f"{stage.peak_rss_mb:.0f}",
                    per or "0",
                    fixed or "0",
                ]
            )
        )
    lines += [
        "",
        "A Lambda's compute time is taken as the measured CPU seconds over its vCPU share "
        "(memory / 1,769 MB). That leaves out waiting for S3, which the local figures cannot "
        "separate from the emulator serving S3 in Python on the same cores; the wall times below "
        "are therefore floors for the compute-bound part, not promises.",
    ]
    return lines


def _constants(model: Model) -> list[str]:
    dep = model.deployment
    lines = [
        "## AWS figures and the deployed stage",
        "",
        _row(["figure", "value", "source"]),
        _row(["---"] * 3),
    ]
    for constant in AWS.values():
        value = f"{constant.value:,.0f} {constant.unit}"
        lines.append(_row([constant.what, value, f"<{constant.url}>"]))
    slices = ", ".join(f"{node} {n}" for node, n in REDSHIFT_SLICES)
    lines += [
        _row(
            [
                "default slices per node",
                slices,
                f"<{AWS['redshift_copy_file_per_slice'].url}>, <{REDSHIFT_NODES_URL}>",
            ]
        ),
        _row(
            [
                "largest object the product takes (`multipart_uploads.MAX_OBJECT_BYTES`)",
                f"{MAX_OBJECT_BYTES / 1024**4:.0f} TiB",
                f"<{S3_OBJECT_LIMITS_URL}> (5 TiB long-standing; the page now also lists 48.8 TiB)",
            ]
        ),
        "",
        f"Stage `{dep.stage}` of `.chalice/config.json`; chunks of {model.chunk_rows:,} rows "
        f"(`INGEST_CHUNK_ROWS`) or {CHUNK_MAX_BYTES / 2**20:.0f} MiB (`split.CHUNK_MAX_BYTES`), "
        f"whichever comes first; the load through "
        f"{'the Redshift Data API' if dep.data_api else 'a connection'}.",
        "",
        _row(["stage", "handler", "memory MB", "vCPU share", "timeout s"]),
        _row(["---"] * 5),
    ]
    for name in STAGES:
        lines.append(
            _row(
                [
                    name,
                    f"`{dep.handlers[name]}`",
                    f"{dep.memory_mb[name]:,}",
                    f"{dep.vcpu(name):.3f}",
                    f"{dep.timeout_s[name]:,}",
                ]
            )
        )
    return lines


def _requests(stage: StageModel) -> str:
    r = stage.requests
    return (
        f"{_n(r['get'])} GET, {_n(r['ranged_get'])} ranged GET, {_n(r['put'])} PUT, "
        f"{_n(r['list'])} LIST"
    )


def _rates(stage: StageModel) -> str:
    get = stage.rate("get", "ranged_get")
    put = stage.rate("put", "list")
    get_limit, put_limit = AWS["s3_get_per_prefix"].value, AWS["s3_put_per_prefix"].value
    return (
        f"GET {get:,.1f}/s ({get / get_limit:.1%} of {get_limit:,.0f}); "
        f"PUT+LIST {put:,.1f}/s ({put / put_limit:.1%} of {put_limit:,.0f})"
    )


def _sizes(model: Model) -> list[str]:
    sizes = model.sizes
    dep = model.deployment
    lines = [
        "## 1 GB, 100 GB and 1 TB",
        "",
        "A plain UTF-8 file of hired_employees-like rows. Request rates are each stage's "
        "requests over its wall time, all counted against one prefix (the stages spread them "
        "over several, so this is the worst case). LIST requests are counted with writes, "
        "the lower limit.",
        "",
        _row(["", *(s.label for s in sizes)]),
        _row(["---"] * (len(sizes) + 1)),
        _row(["rows", *(_n(s.rows) for s in sizes)]),
        _row(
            ["chunks (COPY files)", *(f"{_n(s.chunks)} × {_bytes(s.chunk_bytes)}" for s in sizes)]
        ),
    ]

    def add(label: str, cells: list[str]) -> None:
        lines.append(_row([label, *cells]))

    def block(title: str, stages: list[StageModel], timeout: int) -> None:
        add(f"**{title}**", [""] * len(stages))
        add("invocations", [_n(m.invocations) for m in stages])
        add(
            f"compute per invocation (timeout {timeout:,} s)",
            [_time(m.seconds_each) + _fits(m.seconds_each, timeout) for m in stages],
        )
        add("Lambda GB-seconds", [_n(m.gb_seconds) for m in stages])
        add("S3 requests", [_requests(m) for m in stages])
        add("peak request rate", [_rates(m) for m in stages])
        add("wall time", [_time(m.wall_seconds) for m in stages])

    block(
        "split planning: by parts at once, then the chain and its slices",
        [s.stages["split"] for s in sizes],
        dep.timeout_s["split"],
    )
    block(
        f"validate: {dep.validate_concurrency} at a time (`validate_max_concurrency`)",
        [s.stages["validate"] for s in sizes],
        dep.timeout_s["validate"],
    )
    wide = f"{AWS['lambda_concurrency'].value:,.0f} at a time (Lambda's regional default)"
    add(f"validate wall time, {wide}", [_time(s.validate_wide.wall_seconds) for s in sizes])
    add(f"validate peak request rate, {wide}", [_rates(s.validate_wide) for s in sizes])
    loads = [s.stages["load"] for s in sizes]
    timeout = dep.timeout_s["load"]
    add("**load**", [""] * len(sizes))
    add(
        "invocations" + (" (submit, then the completion handler)" if dep.data_api else ""),
        [_n(m.invocations) for m in loads],
    )
    add(
        "load time at the local engine's rate",
        [_time(m.wall_seconds) + _fits(m.wall_seconds, timeout) for m in loads],
    )
    add(
        "Lambda GB-seconds through a connection (it waits for the load)",
        [_n(m.gb_seconds) for m in loads],
    )
    add("S3 requests", [_requests(m) for m in loads])
    add("peak request rate", [_rates(m) for m in loads])
    for node, _ in REDSHIFT_SLICES:
        add(f"COPY files per slice, 1 {node}", [_n(s.files_per_slice[node]) for s in sizes])
    add(
        "the same rows gzip-compressed: one reader, resumed (invocations, wall time)",
        [f"{_n(s.gzip_split.invocations)}, {_time(s.gzip_split.wall_seconds)}" for s in sizes],
    )
    lines += [
        "",
        "The load's time is the load measured on the local engine (DuckDB in one process: COPY, "
        "de-duplication and MERGE) scaled to the size; Redshift spreads the COPY over its slices "
        "as the files-per-slice rows show, so it says how the size compares with the limits, not "
        "what a given cluster does. Through the Data API (the deployed stages) the Lambda only "
        "submits the statement and ends; its GB-seconds are not measured apart from the engine's. "
        "A plain file's split counts the raw object's invocation, one per part (its compute is "
        "the row's, planning both hypotheses), and one per slice of chunk objects; its wall "
        "time is the parts at Lambda's regional default concurrency, then the chain. A gzip "
        "file's invocations are the fewest its compute fits in at the handler's timeout; the "
        "margin it hands over with may add one. Wall times add nothing for start-up, queueing or "
        "hand-overs, and the stages are shown apart here (put one after another below).",
    ]
    return lines


def _limits(model: Model) -> list[str]:
    c = model.ceilings
    return [
        "## The largest file and the longest load each design choice allows",
        "",
        f"- **Plain file (planning resumes across invocations):** Lambda's time puts no ceiling "
        f"on it. Keys carry {CHUNK_DIGITS}-digit chunk numbers (`keys.CHUNK_DIGITS`), so at most "
        f"{c.max_chunks:,} chunks of {_bytes(c.chunk_bytes)} ({model.chunk_rows:,} rows at "
        f"{model.figures.bytes_per_row:.2f} bytes, under the {CHUNK_MAX_BYTES / 2**20:.0f} MiB "
        f"cap): {_bytes(c.max_chunks * c.chunk_bytes)}; the product takes objects up to "
        f"{MAX_OBJECT_BYTES / 1024**4:.0f} TiB ({_bytes(MAX_OBJECT_BYTES)}). "
        f"The largest plain file is **{_bytes(c.plain_bytes)}**, "
        f"bound by the {c.plain_bound}.",
        "- **gzip file (one reader, resumed across invocations at restart points):** Lambda's "
        "time puts no ceiling on it either; its chunks and keys bound it as they bound a plain "
        "file's CSV.",
        f"- **bzip2 or zstd file, or gzip of UTF-16 text (copied in one invocation):** refused "
        f"before any work "
        f"when larger than one invocation can copy (`split.SINGLE_PASS_LIMITS`): "
        f"{', '.join(f'{kind} {_bytes(limit)}' for kind, limit in c.single_pass.items())} as "
        f"sent, each with its remedy in the message.",
        f"- **Load through a connection:** bound by the Lambda's "
        f"{AWS['lambda_max_seconds'].value:,.0f} s; at the load rate measured on the local engine "
        f"({1 / model.figures.stages['load'].seconds_per_mb:,.1f} MB/s) that is "
        f"**{_bytes(c.connector_load_bytes)}**.",
        f"- **Load through the Data API** (the deployed stages): the statement may run "
        f"{AWS['data_api_max_seconds'].value / 3600:,.0f} h; at the same rate "
        f"**{_bytes(c.data_api_load_bytes)}**. Redshift's own rate depends on the cluster "
        f"(files per slice above); these two figures say how the two limits compare, not what a "
        f"given cluster does.",
    ]


def block(model: Model) -> str:
    parts = [
        _measured(model),
        _constants(model),
        _sizes(model),
        endtoend.section(model),
        _limits(model),
    ]
    lines = [START]
    for part in parts:
        lines += ["", *part]
    return "\n".join([*lines, "", END])


def render(text: str, model: Model) -> str:
    """``text`` with its generated block replaced (or a new doc when it has none)."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block(model), text)
    return _INTRO + "\n" + block(model) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.scalemd", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/scale.md is stale")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    new = render(text, current())
    if args.check:
        return 0 if new == text else 1
    DOC.write_text(new, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
