"""docs/scale.md is what ``devstack.scale`` computes from the committed benchmark figures.

The committed doc must equal what the module writes from docs/benchmarks.md and
.chalice/config.json, a few cells are recomputed here from the JSON independently, and a changed
measurement must change the doc. Nothing here runs a benchmark.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest

from chalicelib.config import DEFAULT_PLAN_RANGE_BYTES, ENV_CHUNK_ROWS
from chalicelib.keys import CHUNK_DIGITS
from chalicelib.pipeline.split import CHUNK_MAX_BYTES
from devstack import endtoend, scale, scalemd
from devstack.awsfigures import AWS
from devstack.benchreport import SUMMARY_FORMAT

TB = 10**12


def _texts() -> tuple[str, dict[str, Any], str]:
    benchmarks = scale.BENCHMARKS.read_text(encoding="utf-8")
    config = json.loads(scale.CHALICE_CONFIG.read_text(encoding="utf-8"))
    return benchmarks, config, scale.DOC.read_text(encoding="utf-8")


def _newest(benchmarks: str) -> dict[str, Any]:
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", benchmarks, re.DOTALL)]
    return max((b for b in blocks if b.get("format") == SUMMARY_FORMAT), key=lambda b: b["run"])


def _largest(summary: dict[str, Any]) -> dict[str, Any]:
    return max(summary["sizes"], key=lambda s: s["rows"])


def test_scale_doc_is_what_the_module_writes() -> None:
    benchmarks, config, doc = _texts()
    assert scalemd.render(doc, scale.build(benchmarks, config)) == doc, (
        "run: python -m devstack.scalemd"
    )


def test_scale_model_cells_recomputed_from_the_json() -> None:
    benchmarks, config, doc = _texts()
    model = scale.build(benchmarks, config)
    size = _largest(_newest(benchmarks))
    prod = config["stages"]["prod"]
    functions = prod["lambda_functions"]
    chunk_rows = int(prod["environment_variables"][ENV_CHUNK_ROWS])
    one_tb = next(s for s in model.sizes if s.size == TB)

    bytes_per_row = size["input_bytes"] / size["rows"]
    rows = math.ceil(TB / bytes_per_row)
    # every full grid cell cut every chunk_rows rows, then what is left of the file
    cells, rest = divmod(TB, CHUNK_MAX_BYTES)
    chunks = cells * math.ceil(CHUNK_MAX_BYTES / bytes_per_row / chunk_rows) + math.ceil(
        rest / bytes_per_row / chunk_rows
    )
    assert (one_tb.rows, one_tb.chunks) == (rows, chunks)
    assert f"{chunks:,} ×" in doc

    memory = functions["on_chunk_created"]["lambda_memory_size"]
    cpu_per_mb = size["stages"]["validate"]["cpu_seconds"] / (size["input_bytes"] / 1e6)
    seconds = cpu_per_mb * (TB / 1e6 / chunks) / (memory / 1769)
    validate = one_tb.stages["validate"]
    assert validate.invocations == chunks
    assert validate.gb_seconds == pytest.approx(chunks * seconds * memory / 1024)
    assert f"{validate.gb_seconds:,.0f}" in doc
    cap = prod["deploy_settings"]["validate_max_concurrency"]
    assert validate.wall_seconds == pytest.approx(math.ceil(chunks / cap) * seconds)

    split_memory = functions["on_raw_created"]["lambda_memory_size"]
    parts_measured = size["stages"]["split_parts"]
    part_bytes = -(-DEFAULT_PLAN_RANGE_BYTES // CHUNK_MAX_BYTES) * CHUNK_MAX_BYTES
    parts = math.ceil(TB / part_bytes)
    part_seconds = (
        parts_measured["part_cpu_seconds"] / (size["input_bytes"] / 1e6) * (TB / parts / 1e6)
    ) / (split_memory / 1769)
    split = one_tb.stages["split"]
    assert (one_tb.parts, one_tb.part_seconds) == (parts, pytest.approx(part_seconds))
    assert split.invocations == 1 + parts + math.ceil(chunks / 2000)
    waves = math.ceil(parts / AWS["lambda_concurrency"].value)
    assert split.wall_seconds == pytest.approx(
        one_tb.fan_out_seconds + waves * part_seconds + one_tb.chain_seconds
    )
    gzip_seconds = (
        size["stages"]["split_gzip"]["cpu_seconds"] / (size["input_bytes"] / 1e6) * (TB / 1e6)
    ) / (split_memory / 1769)
    assert one_tb.gzip_split.wall_seconds == pytest.approx(gzip_seconds)
    assert one_tb.gzip_split.invocations == math.ceil(
        gzip_seconds / functions["on_raw_created"]["lambda_timeout"]
    )
    assert one_tb.files_per_slice["ra3.xlplus"] == math.ceil(chunks / 2)

    full_chunk = min(chunk_rows * bytes_per_row, CHUNK_MAX_BYTES)
    assert model.ceilings.plain_bytes == pytest.approx(
        min(10**CHUNK_DIGITS * full_chunk, 5 * 1024**4)
    )


def _perturbed(benchmarks: str, stage: str, factor: float) -> str:
    """The benchmarks text with one measured figure of the newest run scaled."""
    newest = _newest(benchmarks)
    original = json.dumps(newest)
    assert original in benchmarks  # the block is written as json.dumps writes it
    _largest(newest)["stages"][stage]["cpu_seconds"] *= factor
    return benchmarks.replace(original, json.dumps(newest))


def test_scale_doc_changes_when_a_measured_figure_changes() -> None:
    benchmarks, config, doc = _texts()
    before = scale.build(benchmarks, config)
    after = scale.build(_perturbed(benchmarks, "validate", 2.0), config)
    for old, new in zip(before.sizes, after.sizes, strict=True):
        assert new.stages["validate"].gb_seconds == pytest.approx(
            2 * old.stages["validate"].gb_seconds
        )
        assert new.stages["split"] == old.stages["split"]
    assert scalemd.render(doc, after) != doc


def test_scale_reads_the_newest_summary_of_its_format() -> None:
    older = {"format": SUMMARY_FORMAT, "run": "2026-01-01 00:00", "sizes": []}
    newer = {"format": SUMMARY_FORMAT, "run": "2026-02-01 00:00", "sizes": []}
    legacy = {"rows": 1, "pipeline_rows_per_s": 2}
    text = "".join(f"```json\n{json.dumps(b)}\n```\n" for b in (newer, legacy, older))
    assert scale.newest_summary(text)["run"] == newer["run"]
    with pytest.raises(SystemExit):
        scale.newest_summary(f"```json\n{json.dumps(legacy)}\n```\n")


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("GetObject", "get"),
        ("HeadObject", "get"),
        ("GetObject (range)", "ranged_get"),
        ("ListObjectsV2", "list"),
        ("PutObject", "put"),
        ("CopyObject", "put"),
        ("DeleteObject", "put"),
    ],
)
def test_scale_request_class(operation: str, expected: str) -> None:
    assert scale.request_class(operation) == expected


def test_scale_one_size_counts_every_request_per_chunk() -> None:
    # With one chunk count nothing separates fixed requests from per-chunk ones: all of them
    # are charged per chunk, which can only overstate.
    summary = _newest(_texts()[0])
    largest = _largest(summary)
    fig = scale.figures({**summary, "sizes": [largest]})
    assert not fig.fitted
    measured = largest["stages"]["validate"]["s3_requests"]
    gets = sum(n for op, n in measured.items() if op in ("GetObject", "HeadObject"))
    validate = fig.stages["validate"]
    assert validate.requests_per_chunk["get"] == pytest.approx(gets / largest["chunks"])
    assert set(validate.fixed_requests.values()) == {0.0}


def test_scale_a_plain_terabyte_loads_within_half_an_hour_at_the_stated_setting() -> None:
    benchmarks, config, doc = _texts()
    model = scale.build(benchmarks, config)
    one_tb = model.sizes[-1]
    run = endtoend.timeline(model, one_tb, gzip=False, concurrency=endtoend.CONCURRENCY)
    assert run.planned < 10 * 60
    assert run.loaded < 30 * 60
    assert f"loaded {endtoend._time(run.loaded)} after its upload completes" in doc
    # the load on the stated cluster: each slice takes ceil(chunks / slices) files in turn
    slices = 16 * 8
    per_file = one_tb.chunk_bytes / 1e6 * model.figures.stages["load"].seconds_per_mb
    assert run.load_seconds == pytest.approx(math.ceil(one_tb.chunks / slices) * per_file)
    # at the deployed stage's cap of 10 validators, validation is what holds a terabyte up
    slow = endtoend.timeline(
        model, one_tb, gzip=False, concurrency=model.deployment.validate_concurrency
    )
    assert slow.bottleneck == "validation" and slow.loaded > run.loaded
