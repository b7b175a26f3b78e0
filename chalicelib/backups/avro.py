"""AVRO exports of a table, written by this project since Redshift cannot UNLOAD AVRO.

Rows are read page by page in key order and streamed into one deflate-compressed AVRO file with
a manifest shaped like UNLOAD's. An export is not a restorable backup; ``backup.py`` decides
when to write one and records it in the catalog.
"""

from __future__ import annotations

import logging
import tempfile
from typing import TYPE_CHECKING, Any

import fastavro

from chalicelib import keys, storage
from chalicelib.warehouse import sql

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

    from chalicelib.tables import Table
    from chalicelib.warehouse import Warehouse

logger = logging.getLogger(__name__)


# Rows read per query while writing an AVRO export, so a large table never sits in memory whole.
AVRO_PAGE_ROWS = 50_000


_AVRO_TYPES = {
    "integer": "long",
    "text": "string",
    "timestamp": {"type": "long", "logicalType": "timestamp-micros"},
}


def _pages(warehouse: Warehouse, table: Table) -> Iterator[dict[str, Any]]:
    """Every row of ``table`` as a record, in key order, one page per query."""
    names = table.column_names
    key_index = names.index(table.primary_key)
    last = 0  # primary keys are at least 1 (the schemas say so)
    while True:
        page = warehouse.execute(sql.select_page(table, AVRO_PAGE_ROWS), [last])
        yield from (dict(zip(names, row, strict=True)) for row in page)
        if len(page) < AVRO_PAGE_ROWS:
            return
        last = page[-1][key_index]


def export_avro(
    s3: S3Client, warehouse: Warehouse, bucket: str, table: Table, prefix: str
) -> tuple[tuple[str, ...], int]:
    """Write ``table`` as one AVRO file with a manifest like UNLOAD's; return (files, rows)."""
    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": table.name,
            "fields": [{"name": c.name, "type": _AVRO_TYPES[c.kind]} for c in table.columns],
        }
    )
    rows = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal rows
        for record in _pages(warehouse, table):
            rows += 1
            yield record

    key = f"{prefix}0000_part_00.avro"
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as out:
        fastavro.writer(out, schema, counted(), codec="deflate")
        size = out.tell()
        out.seek(0)
        s3.upload_fileobj(out, bucket, key, ExtraArgs={"ContentType": "application/avro"})
    meta = {"content_length": size, "record_count": rows}
    manifest = {"entries": [{"url": keys.s3_uri(bucket, key), "meta": meta}], "meta": meta}
    storage.put_json(s3, bucket, f"{prefix}{keys.BACKUP_MANIFEST}", manifest)
    return (keys.s3_uri(bucket, key),), rows
