"""The pipeline end to end on moto S3 and DuckDB, and the load's exactly-once guarantees."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib import keys, storage
from chalicelib.pipeline import completion, load, split, state, validate
from chalicelib.tables import TABLES
from tests.stage_events import stage_event, upload_file

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.warehouse.duckdb import DuckDBWarehouse

HIRES = (
    "\ufeff1,Ada Lovelace,2021-01-05T10:00:00Z,1,1\r\n"
    '2,"Hopper, Grace",2021-04-05T10:00:00Z,1,2\r\n'
    "3,Alan Turing,2021-02-30T10:00:00Z,2,1\r\n"
    "\r\n"
    '4,"Multi\nLine",2021-07-05T10:00:00Z,2,2\r\n'
    "5,Bad Row,2021-10-05T10:00:00Z,2\r\n"
    "1,Ada Again,2021-12-31T23:59:59Z,2,2\r\n"
    "6,Edsger,2021-08-01T00:00:00Z,1,1"
)


def run_pipeline(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings, raw_key: str
) -> state.Upload:
    """Deliver every event the stages cause, in order, as S3 notifications would."""
    made = split.split_upload(s3, settings, stage_event(raw_key))
    assert made.upload_id and made.table
    for n in range(made.chunks):
        validate.validate_chunk(
            s3, settings, stage_event(keys.chunk_key(made.table, made.upload_id, n))
        )
    load.load_upload(
        s3, warehouse, settings, stage_event(keys.load_key(made.table, made.upload_id))
    )
    upload = state.read(s3, settings.bucket, made.table, made.upload_id)
    assert upload is not None
    return upload


def rejected(s3: Any, settings: Settings, upload: state.Upload) -> list[dict[str, Any]]:
    key = keys.rejects_key(upload.table, upload.upload_id)
    body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def table_rows(warehouse: DuckDBWarehouse, table: str) -> list[tuple[Any, ...]]:
    return warehouse.execute(f'SELECT * FROM "{table}" ORDER BY id')


def test_pipeline_loads_valid_rows_and_explains_the_rest(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    upload = run_pipeline(
        s3, warehouse, settings, upload_file(s3, settings, "hired_employees", HIRES.encode())
    )
    assert upload.state == "loaded"
    assert (upload.rows_total, upload.rows_valid, upload.rows_rejected) == (7, 4, 3)
    assert upload.chunks_total == 2  # 8 records incl. the blank line, 4 per chunk
    names = [(r[0], r[1]) for r in table_rows(warehouse, "hired_employees")]
    assert names == [(1, "Ada Again"), (2, "Hopper, Grace"), (4, "Multi\nLine"), (6, "Edsger")]
    report = rejected(s3, settings, upload)
    assert [(r["row"], r["errors"]) for r in report] == [
        (1, ["id: duplicate id, superseded by row 8"]),
        (3, ["datetime: '2021-02-30T10:00:00Z' is not a real date and time"]),
        (7, ["record: expected 5 fields, got 4"]),
    ]
    assert report[0]["raw"] == "1,Ada Lovelace,2021-01-05T10:00:00Z,1,1"  # no byte order mark
    assert report[2]["raw"] == "5,Bad Row,2021-10-05T10:00:00Z,2"


def test_every_stage_is_a_no_op_when_its_event_comes_again(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    key = upload_file(s3, settings, "hired_employees", HIRES.encode())
    first = run_pipeline(s3, warehouse, settings, key)
    before = table_rows(warehouse, "hired_employees")
    again = run_pipeline(s3, warehouse, settings, key)
    assert table_rows(warehouse, "hired_employees") == before
    assert again.upload_id == first.upload_id
    assert (again.state, again.rows_valid, again.rows_rejected) == ("loaded", 4, 3)
    ledger = warehouse.execute('SELECT "upload_id", "rows_loaded" FROM "ingest_loads"')
    assert ledger == [(first.upload_id, 4)]


def test_reuploading_the_same_data_changes_nothing(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "jobs", b"1,Dev\n2,Ops\n"))
    second = run_pipeline(
        s3, warehouse, settings, upload_file(s3, settings, "jobs", b"1,Dev\n2,Ops\n", "again.csv")
    )
    assert second.state == "loaded"
    assert table_rows(warehouse, "jobs") == [(1, "Dev"), (2, "Ops")]
    assert len(warehouse.execute('SELECT * FROM "ingest_loads"')) == 2


def test_a_later_upload_updates_rows_by_id(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "jobs", b"1,Dev\n2,Ops\n"))
    run_pipeline(
        s3, warehouse, settings, upload_file(s3, settings, "jobs", b"2,SRE\n3,QA\n", "b.csv")
    )
    assert table_rows(warehouse, "jobs") == [(1, "Dev"), (2, "SRE"), (3, "QA")]


def test_a_load_replayed_after_commit_finds_the_ledger(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    key = upload_file(s3, settings, "jobs", b"1,Dev\n1,Dev2\n")
    upload = run_pipeline(s3, warehouse, settings, key)
    # As if the load committed but crashed before recording "loaded".
    storage.put_json(
        s3,
        settings.bucket,
        keys.state_key("jobs", upload.upload_id),
        {**upload.__dict__, "state": "loading"},
    )
    result = load.load_upload(
        s3, warehouse, settings, stage_event(keys.load_key("jobs", upload.upload_id))
    )
    assert (result.state, result.rows_loaded, result.rows_superseded) == ("loaded", 1, 1)
    assert table_rows(warehouse, "jobs") == [(1, "Dev2")]
    again = state.read(s3, settings.bucket, "jobs", upload.upload_id)
    assert again is not None and (again.rows_valid, again.rows_rejected) == (1, 1)


def test_load_waits_until_every_chunk_is_done(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    made = split.split_upload(
        s3, settings, stage_event(upload_file(s3, settings, "jobs", b"1,a\n" * 9))
    )
    assert made.chunks == 3 and made.upload_id
    validate.validate_chunk(s3, settings, stage_event(keys.chunk_key("jobs", made.upload_id, 0)))
    assert not storage.exists(s3, settings.bucket, keys.load_key("jobs", made.upload_id))
    result = load.load_upload(
        s3, warehouse, settings, stage_event(keys.load_key("jobs", made.upload_id))
    )
    assert result.skipped == "chunks still being validated"
    for n in (2, 1):
        validate.validate_chunk(
            s3, settings, stage_event(keys.chunk_key("jobs", made.upload_id, n))
        )
    assert storage.exists(s3, settings.bucket, keys.load_key("jobs", made.upload_id))


def test_an_empty_file_loads_nothing_and_says_so(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    upload = run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "jobs", b""))
    assert (upload.state, upload.rows_total, upload.chunks_total) == ("loaded", 0, 0)
    assert table_rows(warehouse, "jobs") == []


def test_a_warehouse_that_rejects_the_load_fails_the_upload_readably(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    warehouse.execute('DROP TABLE "jobs"')
    upload = run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "jobs", b"1,a\n"))
    assert upload.state == "failed"
    assert upload.error is not None and "jobs" in upload.error


def test_a_crlf_inside_a_quoted_name_loads_as_data_and_a_lone_cr_is_refused(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    # DuckDB used to sniff "\r" as the line break of the cleaned chunk and fail the whole load.
    body = b'1,De\rv\n2,"Op\r\ns"\n3,QA\n4,"Q\rA"\n'
    upload = run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "jobs", body))
    assert (upload.state, upload.rows_valid) == ("loaded", 2)
    assert table_rows(warehouse, "jobs") == [(2, "Op\r\ns"), (3, "QA")]
    assert [(r["row"], r["errors"]) for r in rejected(s3, settings, upload)] == [
        (1, ["job: 'De\\rv' holds the control character U+000D"]),
        (5, ["job: 'Q\\rA' holds the control character U+000D"]),
    ]


def _count_requests(s3: Any) -> list[tuple[str, str]]:
    sent: list[tuple[str, str]] = []

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((model.name, str(params.get("Key", ""))))

    s3.meta.events.register("provide-client-params.s3", count)
    return sent


def test_a_chunk_that_rejects_nothing_writes_no_rejects_file_and_the_upload_still_gets_one(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    body = b"1,Dev\n2,Ops\n3,QA\n4,SRE\n5,x\n6,y\n7,z\n8,w\n9,,\n"  # chunk 2 rejects row 9
    upload = run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "jobs", body))
    assert (upload.state, upload.chunks_total) == ("loaded", 3)
    for n, exists in [(0, False), (1, False), (2, True)]:
        key = keys.chunk_rejects_key("jobs", upload.upload_id, n)
        assert storage.exists(s3, settings.bucket, key) is exists
    assert [r["row"] for r in rejected(s3, settings, upload)] == [9]


def test_the_copy_manifest_takes_the_sizes_the_done_markers_record(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    key = upload_file(s3, settings, "hired_employees", HIRES.encode())
    made = split.split_upload(s3, settings, stage_event(key))
    assert made.upload_id and made.table
    for n in range(made.chunks):
        validate.validate_chunk(
            s3, settings, stage_event(keys.chunk_key(made.table, made.upload_id, n))
        )
    upload = state.read(s3, settings.bucket, made.table, made.upload_id)
    assert upload is not None
    done = completion.read_done(s3, settings.bucket, made.table, made.upload_id)
    sent = _count_requests(s3)
    manifest = load.copy_manifest(s3, settings.bucket, TABLES[made.table], upload, done)
    assert [name for name, _ in sent] == []  # no HeadObject per chunk
    sizes = [entry["meta"]["content_length"] for entry in manifest["entries"]]
    clean = [keys.clean_key(made.table, made.upload_id, d.n) for d in done]
    assert sizes == [s3.head_object(Bucket=settings.bucket, Key=k)["ContentLength"] for k in clean]
    # A marker written before sizes were recorded: the manifest asks S3.
    old = [state.ChunkDone(d.n, d.rows_in, d.rows_valid, d.rows_rejected) for d in done]
    assert load.copy_manifest(s3, settings.bucket, TABLES[made.table], upload, old) == manifest


def test_a_chunk_handler_sends_seven_requests_once_the_chunks_are_counted(
    s3: Any, settings: Settings
) -> None:
    key = upload_file(s3, settings, "hired_employees", HIRES.encode())
    made = split.split_upload(s3, settings, stage_event(key))
    assert made.upload_id and made.table
    sent = _count_requests(s3)
    validate.validate_chunk(
        s3, settings, stage_event(keys.chunk_key(made.table, made.upload_id, 0))
    )
    # state, chunk, its range of the raw file, cleaned rows, rejects, done marker, one listing
    assert [name for name, _ in sent] == [
        "GetObject",
        "GetObject",
        "GetObject",
        "PutObject",
        "PutObject",
        "PutObject",
        "ListObjectsV2",
    ]


def test_a_chunk_event_delivered_again_writes_the_same_objects(s3: Any, settings: Settings) -> None:
    key = upload_file(s3, settings, "hired_employees", HIRES.encode())
    made = split.split_upload(s3, settings, stage_event(key))
    assert made.upload_id and made.table
    event = stage_event(keys.chunk_key(made.table, made.upload_id, 1))
    outputs = [
        keys.clean_key(made.table, made.upload_id, 1),
        keys.chunk_rejects_key(made.table, made.upload_id, 1),
        keys.done_key(made.table, made.upload_id, 1),
    ]

    def read() -> list[bytes]:
        return [s3.get_object(Bucket=settings.bucket, Key=k)["Body"].read() for k in outputs]

    first = validate.validate_chunk(s3, settings, event)
    written = read()
    again = validate.validate_chunk(s3, settings, event)
    assert read() == written
    assert (again.rows_in, again.rows_valid, again.rows_rejected) == (
        first.rows_in,
        first.rows_valid,
        first.rows_rejected,
    )
