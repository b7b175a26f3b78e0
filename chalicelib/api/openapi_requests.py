"""The request side of the OpenAPI document: bodies and parameters, written as JSON Schema data.

Requests are checked by hand-written code that also accepts what older clients send, so their
schemas are data here rather than types; every limit and name in them is read from the code
that enforces it (table names from the schema files, sizes and counts from the constants). It
does not describe replies (``schema_gen`` generates those from their classes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import keys
from chalicelib.api import deadletters
from chalicelib.api.multipart_uploads import (
    MAX_OBJECT_BYTES,
    MAX_PART_BYTES,
    MAX_PARTS,
    MAX_URLS_PER_REQUEST,
    MIN_PART_BYTES,
)
from chalicelib.api.reports import MAX_YEAR, MIN_YEAR
from chalicelib.backups.catalog import ALL, FORMATS
from chalicelib.config import S3_MAX_SINGLE_UPLOAD
from chalicelib.csvfile.options import DELIMITERS, ENCODINGS, HEADERS
from chalicelib.pipeline.rows import MAX_ROWS
from chalicelib.pipeline.runner import STAGES
from chalicelib.tables import TABLE_NAMES

if TYPE_CHECKING:
    import re

    from chalicelib.api.schema_gen import Schema


def pattern(regex: re.Pattern[str]) -> str:
    """A Python regex anchored with ``\\Z`` as the ECMA-262 pattern JSON Schema uses."""
    return regex.pattern.removesuffix(r"\Z") + "$"


TABLE: Schema = {"type": "string", "enum": list(TABLE_NAMES)}
TABLE_OR_ALL: Schema = {"type": "string", "enum": [*TABLE_NAMES, ALL]}
_FILENAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": keys.MAX_FILENAME_CHARS,
    "description": "The file's name as the person's computer gave it (any text but NUL), shown "
    "in listings; the object key's last part is made from it, path parts dropped",
}
_TABLE_OR_GUESS: Schema = {
    **TABLE,
    "description": "The target table; when left out, guessed from the file name (its words "
    "hold the table's words side by side: 'hired employees (1).csv' is for hired_employees)",
}
_ID = {"type": "string", "pattern": pattern(keys.UPLOAD_ID)}


def _object(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


def _strict(required: list[str], **properties: Schema) -> Schema:
    """A request body whose route refuses fields it does not know (``api/bodies.py``)."""
    return {**_object(required, **properties), "additionalProperties": False}


# How to read an uploaded file (csvfile/options.py); "\\t" and "tab" are also taken for a tab.
_FILE_OPTIONS: dict[str, Schema] = {
    "header": {"type": "string", "enum": list(HEADERS)},
    "encoding": {"type": "string", "enum": list(ENCODINGS)},
    "delimiter": {"type": "string", "enum": list(DELIMITERS)},
}


SCHEMAS: dict[str, Schema] = {
    "UploadRequest": _strict(
        ["filename", "size"],
        **_FILE_OPTIONS,
        table=_TABLE_OR_GUESS,
        filename=_FILENAME,
        size={
            "type": "integer",
            "minimum": 1,
            "maximum": S3_MAX_SINGLE_UPLOAD,
            "description": "Bytes; a deployment may set a lower limit (INGEST_MAX_UPLOAD_BYTES)",
        },
    ),
    "MultipartRequest": _strict(
        ["filename", "size"],
        **_FILE_OPTIONS,
        table=_TABLE_OR_GUESS,
        filename=_FILENAME,
        size={"type": "integer", "minimum": 1, "maximum": MAX_OBJECT_BYTES},
        part_size={
            "type": "integer",
            "minimum": MIN_PART_BYTES,
            "maximum": MAX_PART_BYTES,
            "description": f"Bytes; raised if needed so that no file has more than {MAX_PARTS} "
            "parts",
        },
    ),
    "PartsRequest": _strict(
        ["part_numbers"],
        part_numbers={
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_URLS_PER_REQUEST,
            "items": {"type": "integer", "minimum": 1, "maximum": MAX_PARTS},
        },
    ),
    "CompleteRequest": _strict(
        ["parts"],
        parts={
            "type": "array",
            "description": "Every part from 1 to part_count, once",
            "items": _object(
                ["part_number", "etag"],
                part_number={"type": "integer", "minimum": 1, "maximum": MAX_PARTS},
                etag={"type": "string", "minLength": 1},
            ),
        },
    ),
    "RowsRequest": _strict(
        ["rows"],
        rows={
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_ROWS,
            "description": "Each row is an array of the table's columns in CSV order: "
            "strings, integers or null, judged exactly like a CSV line",
            "items": {"type": "array"},
        },
    ),
    "BackupRequest": _strict(
        ["table"], table=TABLE_OR_ALL, format={"type": "string", "enum": list(FORMATS)}
    ),
    "RestoreRequest": _strict(
        [],
        table=TABLE_OR_ALL,
        backup_id=_ID,
        s3_location={
            "type": "string",
            "description": "s3://<bucket>/backups/<backup_id>/<table>/ of this deployment; "
            "instead of backup_id",
        },
    ),
    "RedriveRequest": _object(
        [],
        stage={"type": "string", "enum": [*STAGES, "all"], "default": "all"},
        limit={
            "type": "integer",
            "minimum": 1,
            "maximum": deadletters.MAX_LIMIT,
            "default": deadletters.DEFAULT_LIMIT,
        },
    ),
    "Form": _object(
        ["file"],
        file={"type": "string", "contentMediaType": "text/csv", "description": "CSV"},
        **_FILE_OPTIONS,
    ),
}
_MEDIA_TYPES = {"Form": "multipart/form-data"}


def body(name: str) -> dict[str, Any]:
    """The ``requestBody`` of an operation whose body has the schema ``name``."""
    media = _MEDIA_TYPES.get(name, "application/json")
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"required": True, "content": {media: {"schema": ref}}}


def parameter(where: str, name: str, description: str, schema: Schema, required: bool) -> Any:
    """One OpenAPI parameter (``where``: path or query)."""
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


UPLOAD_ID = parameter(
    "path", "upload_id", "Upload id", {"type": "string", "pattern": pattern(keys.UPLOAD_ID)}, True
)
YEAR = parameter(
    "query",
    "year",
    "Calendar year (UTC)",
    {"type": "integer", "minimum": MIN_YEAR, "maximum": MAX_YEAR},
    True,
)
BACKUP_FORMAT = parameter(
    "query",
    "format",
    "parquet (a restorable backup, the default) or avro (an export)",
    {"type": "string", "enum": list(FORMATS)},
    False,
)
DEEP = parameter(
    "query",
    "deep",
    "true: reach the bucket and run a query on the warehouse",
    {"type": "string", "enum": ["true", "1"]},
    False,
)
BACKUP_TABLE = parameter("query", "table", "Table, or all", TABLE_OR_ALL, False)
TABLE_FILTER = parameter("query", "table", "Only this table", TABLE, False)
TABLE_PATH = parameter("path", "table", "Target table", TABLE, True)
