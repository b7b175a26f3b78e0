"""The split by byte ranges, on moto S3: no chunk copies, hand-offs, and the same result."""

from __future__ import annotations

import bz2
import gzip
import json
import time
from dataclasses import replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
import zstandard

from chalicelib import keys, storage
from chalicelib.csvfile import chunkfile
from chalicelib.csvfile.boundaries import Record
from chalicelib.pipeline import budget, chunks, load, split, state, validate
from chalicelib.pipeline.budget import Budget
from chalicelib.pipeline.runner import run_stage
from tests.stage_events import split_outputs, stage_event

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.warehouse.duckdb import DuckDBWarehouse

TABLE = "hired_employees"


def _outputs(s3: Any, settings: Settings, upload_id: str) -> dict[str, Any]:
    return split_outputs(s3, settings, TABLE, upload_id)


def _rows(count: int) -> bytes:
    """Rows of every kind the split must keep whole: quoted commas and line breaks, CRLF, bad
    rows, a repeated id, a blank line."""
    lines = []
    for n in range(1, count + 1):
        name = {0: f'"Doe, J{n}"', 1: f'"Multi\nLine {n}"', 2: f"Name {n}"}[n % 3]
        day = "2021-02-30" if n % 17 == 0 else "2021-03-01"
        lines.append(f"{n},{name},{day}T10:00:00Z,{n % 5 + 1},{n % 7 + 1}")
    lines.insert(10, "")
    lines.append("3,Repeated,2021-05-05T10:00:00Z,1,1")
    return ("\r\n".join(lines)).encode()


def _split_all(s3: Any, settings: Settings, key: str, spend: Budget) -> tuple[str, int]:
    """Split ``key`` and run every hand-off it leaves (as their S3 events would), then validate
    every chunk; return the upload id and the number of split invocations."""
    made = split.split_upload(s3, settings, stage_event(key), spend)
    assert made.upload_id is not None
    invocations, seen = 1, set()
    while True:
        pending = [
            k
            for k in storage.list_keys(
                s3, settings.bucket, f"{keys.SPLITS}{TABLE}/{made.upload_id}/"
            )
            if k not in seen
        ]
        if not pending:
            break
        for handoff in pending:
            seen.add(handoff)
            split.split_upload(s3, settings, stage_event(handoff), spend)
            invocations += 1
    upload = state.read(s3, settings.bucket, TABLE, made.upload_id)
    assert upload is not None and upload.chunks_total is not None
    for n in range(upload.chunks_total):
        event = stage_event(keys.chunk_key(TABLE, made.upload_id, n))
        validate.validate_chunk(s3, settings, event)
    return made.upload_id, invocations


@pytest.fixture
def small(settings: Settings) -> Settings:
    return replace(settings, chunk_rows=25)


def test_a_plain_file_is_planned_as_ranges_and_no_chunk_copy_is_written(
    s3: Any, small: Settings
) -> None:
    data = _rows(120)
    s3.put_object(Bucket=small.bucket, Key=f"raw/{TABLE}/a.csv", Body=data)
    upload_id, invocations = _split_all(s3, small, f"raw/{TABLE}/a.csv", Budget())
    upload = state.read(s3, small.bucket, TABLE, upload_id)
    assert upload is not None and upload.detected is not None
    assert (invocations, upload.detected["split"], upload.detected["split_invocations"]) == (
        1,
        "ranges",
        1,
    )
    assert upload.chunks_total == 5  # 122 records (a blank line, a repeat), 25 a chunk
    for n in range(upload.chunks_total):
        stored = s3.get_object(Bucket=small.bucket, Key=keys.chunk_key(TABLE, upload_id, n))
        described = json.loads(stored["Body"].read())
        assert described["format"] == chunks.RANGE_FORMAT
        assert stored["ContentLength"] < 400  # a pointer, not the records
    ranges = [(c["start"], c["end"]) for c in _outputs(s3, small, upload_id)["chunks"]]
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_a_byte_budget_hands_planning_on_and_changes_nothing_in_the_result(
    s3: Any, small: Settings
) -> None:
    data = _rows(300)
    for name in ("whole.csv", "handed.csv"):
        s3.put_object(Bucket=small.bucket, Key=f"raw/{TABLE}/{name}", Body=data)
    whole, once = _split_all(s3, small, f"raw/{TABLE}/whole.csv", Budget())
    handed, several = _split_all(s3, small, f"raw/{TABLE}/handed.csv", Budget(max_bytes=1))
    expected, got = _outputs(s3, small, whole), _outputs(s3, small, handed)
    assert (once, several) == (1, len(got["chunks"]))  # one chunk an invocation
    assert several == 13
    assert got == expected
    upload = state.read(s3, small.bucket, TABLE, handed)
    assert upload is not None and upload.detected is not None
    assert upload.detected["split_invocations"] == several


def test_a_time_budget_hands_on_after_the_chunk_that_would_overrun(
    s3: Any, small: Settings
) -> None:
    s3.put_object(Bucket=small.bucket, Key=f"raw/{TABLE}/t.csv", Body=_rows(100))
    made = split.split_upload(
        s3, small, stage_event(f"raw/{TABLE}/t.csv"), Budget(deadline=time.monotonic())
    )
    assert (made.chunks, made.handed_on) == (1, True)  # always one chunk of progress


def test_redelivered_hand_offs_and_a_restarted_split_give_the_same_plan(
    s3: Any, small: Settings
) -> None:
    data = _rows(200)
    key = f"raw/{TABLE}/again.csv"
    s3.put_object(Bucket=small.bucket, Key=key, Body=data)
    first = split.split_upload(s3, small, stage_event(key), Budget(max_bytes=2000))
    assert first.handed_on and first.upload_id is not None
    # The raw event comes again while planning goes on: a second chain, stopping elsewhere.
    second = split.split_upload(s3, small, stage_event(key), Budget(max_bytes=5000))
    assert second.upload_id == first.upload_id and second.handed_on
    prefix = f"{keys.SPLITS}{TABLE}/{first.upload_id}/"
    handoffs = sorted(storage.list_keys(s3, small.bucket, prefix))
    assert len(handoffs) == 2  # keyed by offset: the two chains do not overwrite each other
    for handoff in [*handoffs, *handoffs]:  # each delivered twice
        split.split_upload(s3, small, stage_event(handoff), Budget())
    upload_id, _ = _split_all(s3, small, key, Budget())  # and once more, whole
    s3.put_object(Bucket=small.bucket, Key=f"raw/{TABLE}/reference.csv", Body=data)
    reference, _ = _split_all(s3, small, f"raw/{TABLE}/reference.csv", Budget())
    assert _outputs(s3, small, upload_id) == _outputs(s3, small, reference)


def test_a_file_replaced_while_planning_goes_on_fails_the_upload_readably(
    s3: Any, small: Settings
) -> None:
    key = f"raw/{TABLE}/changed.csv"
    s3.put_object(Bucket=small.bucket, Key=key, Body=_rows(100))
    made = split.split_upload(s3, small, stage_event(key), Budget(max_bytes=1))
    assert made.handed_on and made.upload_id is not None
    s3.put_object(Bucket=small.bucket, Key=key, Body=_rows(90))
    (handoff,) = storage.list_keys(s3, small.bucket, f"{keys.SPLITS}{TABLE}/")
    run_stage(
        "split",
        s3,
        small.bucket,
        handoff,
        None,
        lambda event: split.split_upload(s3, small, event, Budget()),
    )
    upload = state.read(s3, small.bucket, TABLE, made.upload_id)
    assert upload is not None and upload.state == "failed"
    assert upload.error is not None and "changed or was removed" in upload.error


def test_a_gzip_file_is_planned_on_its_decompressed_bytes_across_invocations(
    s3: Any, small: Settings, warehouse: DuckDBWarehouse
) -> None:
    data = _rows(300)
    # two members: `cat a.gz b.gz` is one gzip file
    packed = gzip.compress(data[:5000], mtime=0) + gzip.compress(data[5000:], mtime=0)
    s3.put_object(Bucket=small.bucket, Key=f"raw/{TABLE}/p.csv", Body=data)
    s3.put_object(Bucket=small.bucket, Key=f"raw/{TABLE}/g.csv.gz", Body=packed)
    plain, _ = _split_all(s3, small, f"raw/{TABLE}/p.csv", Budget())
    resumed, invocations = _split_all(s3, small, f"raw/{TABLE}/g.csv.gz", Budget(max_bytes=1))
    upload = state.read(s3, small.bucket, TABLE, resumed)
    assert upload is not None and upload.detected is not None
    assert upload.detected["split"] == "ranges" and upload.detected["compression"] == "gzip"
    assert upload.detected["split_invocations"] == invocations == upload.chunks_total == 13
    got, expected = _outputs(s3, small, resumed), _outputs(s3, small, plain)
    assert got == expected  # the same ranges (of the decompressed bytes), rows and rejects
    described = json.loads(
        s3.get_object(Bucket=small.bucket, Key=keys.chunk_key(TABLE, resumed, 5))["Body"].read()
    )
    assert described["compression"] == "gzip" and described["restart"]["out"] <= described["start"]
    for upload_id in (plain, resumed):
        load.load_upload(s3, warehouse, small, stage_event(keys.load_key(TABLE, upload_id)))
    loaded = [state.read(s3, small.bucket, TABLE, u) for u in (plain, resumed)]
    assert [(u.state, u.rows_valid) for u in loaded if u] == [("loaded", 283)] * 2


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_planned_on_its_code_units_across_invocations(
    s3: Any, small: Settings, codec: str
) -> None:
    data = _rows(300)
    bom = "\ufeff".encode(codec)
    # a header (with a no-break space the units alone cannot see), and non-ASCII names
    text = "\u00a0id,name,datetime,department_id,job_id\r\n" + data.decode().replace("Doe", "Dœ😀")
    s3.put_object(Bucket=small.bucket, Key=f"raw/{TABLE}/p.csv", Body=text.encode())
    s3.put_object(Bucket=small.bucket, Key=f"raw/{TABLE}/u.csv", Body=bom + text.encode(codec))
    plain, _ = _split_all(s3, small, f"raw/{TABLE}/p.csv", Budget())
    wide, invocations = _split_all(s3, small, f"raw/{TABLE}/u.csv", Budget(max_bytes=1))
    upload = state.read(s3, small.bucket, TABLE, wide)
    assert upload is not None and upload.detected is not None
    assert (upload.detected["split"], upload.detected["encoding"]) == ("ranges", "utf-16")
    assert upload.detected["header_skipped"] is True
    assert invocations == upload.detected["split_invocations"] == upload.chunks_total > 1
    got, expected = _outputs(s3, small, wide), _outputs(s3, small, plain)
    assert (got["clean"], got["rejects"], got["records"]) == (
        expected["clean"],
        expected["rejects"],
        expected["records"],
    )
    spans = [(c["start"], c["end"]) for c in got["chunks"]]
    assert spans[0][0] > 2 and spans[-1][1] == len(bom + text.encode(codec))


def test_a_bzip2_file_is_copied_into_chunks_in_one_invocation(s3: Any, small: Settings) -> None:
    data = _rows(80)
    s3.put_object(Bucket=small.bucket, Key=f"raw/{TABLE}/p.csv", Body=data)
    s3.put_object(Bucket=small.bucket, Key=f"raw/{TABLE}/b.csv.bz2", Body=bz2.compress(data))
    plain, _ = _split_all(s3, small, f"raw/{TABLE}/p.csv", Budget(max_bytes=1))
    packed, invocations = _split_all(s3, small, f"raw/{TABLE}/b.csv.bz2", Budget(max_bytes=1))
    upload = state.read(s3, small.bucket, TABLE, packed)
    assert upload is not None and upload.detected is not None
    assert (upload.detected["split"], upload.detected["planning"], invocations) == (
        "copy",
        "sequential",
        1,
    )
    got, expected = _outputs(s3, small, packed), _outputs(s3, small, plain)
    assert got["clean"] == expected["clean"] and got["rejects"] == expected["rejects"]


_NUMBERS = b"".join(b"%d,a\n" % n for n in range(2000))


@pytest.mark.parametrize(
    ("name", "body", "words"),
    [
        ("big.csv.bz2", bz2.compress(_NUMBERS), ["bzip2", "0.00 GB", "gzip-compressed"]),
        ("big.csv.zst", zstandard.compress(_NUMBERS), ["zstd", "gzip-compressed"]),
        (
            "big16.csv.gz",
            gzip.compress("".join(f"{n},a\n" for n in range(2000)).encode("utf-16")),
            ["gzip", "as UTF-8"],
        ),
    ],
)
def test_a_file_too_large_for_one_copying_invocation_is_refused_up_front(
    s3: Any,
    small: Settings,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    body: bytes,
    words: list[str],
) -> None:
    limits = {kind: (100, remedy) for kind, (_, remedy) in split.SINGLE_PASS_LIMITS.items()}
    monkeypatch.setattr(split, "SINGLE_PASS_LIMITS", limits)
    key = f"raw/{TABLE}/{name}"
    s3.put_object(Bucket=small.bucket, Key=key, Body=body)
    run_stage(
        "split", s3, small.bucket, key, None, lambda e: split.split_upload(s3, small, e, Budget())
    )
    (upload,) = state.list_uploads(s3, small.bucket, TABLE)
    assert upload.state == "failed" and upload.error is not None
    assert all(w in upload.error for w in words), upload.error
    assert not list(storage.list_keys(s3, small.bucket, f"chunks/{TABLE}/"))  # no work done


def test_the_budget_is_the_lambdas_remaining_time_less_the_margin_capped_by_the_settings(
    settings: Settings,
) -> None:
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 900_000)
    before = time.monotonic()
    found = budget.budget_for(settings, context)
    assert found.deadline is not None
    assert before + 870 <= found.deadline <= time.monotonic() + 870
    capped = budget.budget_for(replace(settings, max_invocation_seconds=1.0), context)
    assert capped.deadline is not None and capped.deadline <= time.monotonic() + 1.0
    assert budget.budget_for(settings, None) == Budget()  # locally: no clock, no limit
    assert not Budget(max_bytes=10).allows(0.0, 10) and Budget(max_bytes=10).allows(0.0, 9)


@pytest.mark.parametrize("name", ["many.csv", "many.csv.gz"])
def test_a_file_that_needs_more_chunks_than_the_keys_hold_fails_readably(
    s3: Any, small: Settings, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(keys, "MAX_CHUNKS", 3)
    data = _rows(100)  # 4 chunks of 25
    body = gzip.compress(data) if name.endswith(".gz") else data
    key = f"raw/{TABLE}/{name}"
    s3.put_object(Bucket=small.bucket, Key=key, Body=body)
    run_stage(
        "split",
        s3,
        small.bucket,
        key,
        None,
        lambda event: split.split_upload(s3, small, event, Budget()),
    )
    (upload,) = state.list_uploads(s3, small.bucket, TABLE)
    assert upload.state == "failed" and upload.error is not None
    assert "more than 3 chunks" in upload.error and "INGEST_CHUNK_ROWS" in upload.error


def test_a_range_read_in_small_pieces_holds_the_same_records_as_read_whole(
    s3: Any, small: Settings
) -> None:
    def records(bodies: list[bytes]) -> list[tuple[int, bytes]]:
        found: list[tuple[int, bytes]] = []
        for body in bodies:
            for section in chunkfile.iter_sections(body):
                if isinstance(section, Record):
                    found.append((section.line, section.data))
                else:
                    lines = set(range(section.first_line, section.first_line + 200))
                    found += [(r.line, r.data) for r in chunkfile.records_at(section, lines)]
        return found

    key = f"raw/{TABLE}/pieces.csv"
    s3.put_object(Bucket=small.bucket, Key=key, Body=_rows(60))
    upload_id, _ = _split_all(s3, small, key, Budget())
    chunk = keys.chunk_key(TABLE, upload_id, 1)
    pieces = list(chunks.iter_body(s3, small.bucket, chunk, 100))
    assert len(pieces) > 5
    assert records(pieces) == records([chunks.read_body(s3, small.bucket, chunk)])
    assert len(records(pieces)) == 25
