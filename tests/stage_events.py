"""Turning an object key into the stage event its S3 notification would start, for tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import keys, storage
from chalicelib.pipeline import runner, split, state, validate

if TYPE_CHECKING:
    from chalicelib.config import Settings


def stage_event(key: str) -> runner.StageEvent:
    """The parsed event for ``key``; the key must be one that starts a stage."""
    event = runner.parse_stage_key(key)
    assert event is not None, f"{key!r} starts no stage"
    return event


def upload_file(s3: Any, settings: Settings, table: str, body: bytes, name: str = "f.csv") -> str:
    """Write ``body`` as a file copied straight into ``raw/<table>/``; return its key."""
    key = f"raw/{table}/{name}"
    s3.put_object(Bucket=settings.bucket, Key=key, Body=body)
    return key


def split_and_validate(s3: Any, settings: Settings, key: str, body: bytes) -> str:
    """Write ``body`` at the raw ``key``, then split it and validate every chunk as the stage
    handlers would (the load is left to the test); return the upload id."""
    s3.put_object(Bucket=settings.bucket, Key=key, Body=body)
    made = split.split_upload(s3, settings, stage_event(key))
    assert made.upload_id is not None and made.table is not None
    for n in range(made.chunks):
        chunk = keys.chunk_key(made.table, made.upload_id, n)
        validate.validate_chunk(s3, settings, stage_event(chunk))
    return made.upload_id


def split_outputs(
    s3: Any, settings: Settings, table: str, upload_id: str, *, pointers: bool = False
) -> dict[str, Any]:
    """What the split and validate stages left of an upload: its state, the split manifest's
    chunks and records, each chunk's cleaned text and rejects (empty where it wrote none), and
    with ``pointers`` each chunk object as written."""
    upload = state.read(s3, settings.bucket, table, upload_id)
    assert upload is not None and upload.chunks_total is not None
    manifest = storage.get_json(s3, settings.bucket, keys.split_manifest_key(table, upload_id))
    assert manifest is not None
    total = upload.chunks_total

    def body(key: str) -> bytes:
        return bytes(s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read())

    def rejects(n: int) -> bytes:  # a chunk that rejected nothing writes no file
        key = keys.chunk_rejects_key(table, upload_id, n)
        return body(key) if storage.exists(s3, settings.bucket, key) else b""

    outputs = {
        "state": upload.state,
        "chunks": manifest["chunks"],
        "records": manifest["records"],
        "clean": [body(keys.clean_key(table, upload_id, n)) for n in range(total)],
        "rejects": [rejects(n) for n in range(total)],
    }
    if pointers:
        outputs["pointers"] = [body(keys.chunk_key(table, upload_id, n)) for n in range(total)]
    return outputs
