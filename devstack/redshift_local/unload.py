"""UNLOAD ... FORMAT AS PARQUET, emulated: the query runs in the client's session and snapshot.

Owns reading the query's rows through a cursor in the client's transaction (so several UNLOADs
in one transaction see one snapshot, as on Redshift), writing them as Parquet files named as
Redshift names them (``<prefix>0000_part_00.parquet``, a new part past MAXFILESIZE), and the
manifest (``<prefix>manifest``; with VERBOSE each entry's ``content_length`` and
``record_count``, the schema and the totals). Without ALLOWOVERWRITE an occupied prefix is an
error. Docs: https://docs.aws.amazon.com/redshift/latest/dg/r_UNLOAD.html
"""

from __future__ import annotations

import json
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.redshift_local.copyload import EmulationError, split_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from devstack.redshift_local.backend import Backend
    from devstack.redshift_local.statements import UnloadCommand

FETCH_ROWS = 50_000
CURSOR = "redshift_local_unload"


def _types() -> dict[int, tuple[Any, Callable[[str], Any], str]]:
    """PostgreSQL type oid -> (Arrow type, text parser, Redshift type name in the manifest)."""
    import pyarrow as pa

    def stamp(text: str) -> datetime:
        return datetime.fromisoformat(text)

    return {
        16: (pa.bool_(), lambda t: t == "t", "boolean"),
        20: (pa.int64(), int, "bigint"),
        21: (pa.int16(), int, "smallint"),
        23: (pa.int32(), int, "integer"),
        700: (pa.float32(), float, "real"),
        701: (pa.float64(), float, "double precision"),
        1700: (pa.float64(), float, "numeric"),
        1082: (pa.date32(), date.fromisoformat, "date"),
        1114: (pa.timestamp("us"), stamp, "timestamp without time zone"),
        1184: (pa.timestamp("us", tz="UTC"), stamp, "timestamp with time zone"),
    }


def run_unload(backend: Backend, s3: Any, command: UnloadCommand) -> str:
    """Emulate one UNLOAD; return its CommandComplete tag.

    Raises:
        EmulationError: the query or the writes failed (the transaction is aborted).
    """
    if backend.status == b"E":
        raise EmulationError(
            "25P02",
            "current transaction is aborted, commands ignored until end of transaction block",
        )
    bucket, prefix = split_url(command.prefix)
    if not command.allow_overwrite:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        if listed.get("KeyCount", 0):
            raise EmulationError(
                "XX000",
                "Specified unload destination on S3 is not empty. Consider using a different "
                "bucket / prefix, manually removing the target files in S3, or using the "
                "ALLOWOVERWRITE option.",
            )
    own = backend.status == b"I"
    if own:
        backend.query("BEGIN")
    try:
        tag = _unload(backend, s3, command, bucket, prefix)
    except EmulationError:
        if own:
            backend.query("ROLLBACK")
        elif backend.status == b"T":
            backend.query("DO $$ BEGIN RAISE EXCEPTION 'UNLOAD failed'; END $$")
        raise
    if own:
        backend.query("COMMIT")
    return tag


def _unload(backend: Backend, s3: Any, command: UnloadCommand, bucket: str, prefix: str) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    declared = backend.query(f"DECLARE {CURSOR} NO SCROLL CURSOR FOR {command.query}")
    if declared.error is not None:
        raise EmulationError(declared.error.get("C", "XX000"), declared.error.get("M", ""))
    types = _types()
    files: list[dict[str, Any]] = []
    schema: pa.Schema | None = None
    parsers: list[Callable[[str], Any]] = []
    elements: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="redshift-unload-") as tmp:
        writer: Any = None
        path = Path(tmp) / "part.parquet"
        rows_in_file = 0

        def finish() -> None:
            nonlocal writer, rows_in_file
            writer.close()
            key = f"{prefix}0000_part_{len(files):02d}.parquet"
            s3.upload_file(str(path), bucket, key)
            meta = {"content_length": path.stat().st_size, "record_count": rows_in_file}
            files.append({"url": f"s3://{bucket}/{key}", "meta": meta})
            writer, rows_in_file = None, 0

        while True:
            batch = backend.query(f"FETCH {FETCH_ROWS} FROM {CURSOR}")
            if batch.error is not None:
                raise EmulationError(batch.error.get("C", "XX000"), batch.error.get("M", ""))
            if schema is None:
                fields, parsers = [], []
                for name, oid in batch.columns:
                    arrow, parse, base = types.get(oid, (pa.string(), str, "character varying"))
                    fields.append(pa.field(name, arrow))
                    parsers.append(parse)
                    elements.append({"name": name, "type": {"base": base}})
                schema = pa.schema(fields)
            if writer is None and (batch.rows or not files):
                writer = pq.ParquetWriter(str(path), schema)
            if batch.rows:
                columns = list(zip(*batch.rows, strict=True))
                arrays = [
                    pa.array([None if v is None else p(v) for v in col], type=f.type)
                    for col, p, f in zip(columns, parsers, schema, strict=True)
                ]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                rows_in_file += len(batch.rows)
                if path.stat().st_size >= command.max_file_bytes:
                    finish()
            if len(batch.rows) < FETCH_ROWS:
                break
        backend.query(f"CLOSE {CURSOR}")
        if writer is not None:
            finish()
    if command.manifest:
        total_rows = sum(f["meta"]["record_count"] for f in files)
        total_bytes = sum(f["meta"]["content_length"] for f in files)
        manifest: dict[str, Any] = {
            "entries": files if command.verbose else [{"url": f["url"]} for f in files]
        }
        if command.verbose:
            manifest["schema"] = {"elements": elements}
            manifest["meta"] = {"content_length": total_bytes, "record_count": total_rows}
        manifest["author"] = {"name": "Amazon Redshift", "version": "1.0.0"}
        s3.put_object(Bucket=bucket, Key=f"{prefix}manifest", Body=json.dumps(manifest).encode())
    return "UNLOAD"
