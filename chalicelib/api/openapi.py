"""The OpenAPI 3 description of the HTTP API, served at ``GET /api/v1/openapi.json``.

Written by hand as data, route by route; a test compares its paths and methods with the routes
the Chalice app registers, so neither can change without the other. Table names come from the
schemas. It describes the routes; it does not serve or check them.
"""

from __future__ import annotations

from typing import Any

from chalicelib.api.batch_rows import MAX_ROWS
from chalicelib.api.formdata import MAX_FORM_BYTES
from chalicelib.csvfile.options import DELIMITERS, ENCODINGS, HEADERS
from chalicelib.tables import TABLE_NAMES

_ERRORS = {
    400: "The request is malformed (bad JSON, unknown table, bad parameter)",
    401: "No x-api-key header",
    403: "Wrong API key",
    404: "No such upload or backup",
    409: "The upload is loaded, has no file yet, or is still making progress",
    413: f"The form is larger than {MAX_FORM_BYTES} bytes; use POST /api/v1/uploads",
    422: "The backup's files do not hold the rows its record says; nothing was restored",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(
    summary: str,
    ok: tuple[int, str, str],
    errors: tuple[int, ...] = (400,),
    *,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    status, schema, description = ok
    responses: dict[str, Any] = {str(status): _json(_ref(schema), description)}
    for code in (*errors, *(() if public else (401, 403))):
        responses[str(code)] = _json(_ref("Error"), _ERRORS[code])
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    if parameters:
        operation["parameters"] = parameters
    if public:
        operation["security"] = []
    return operation


def _query(name: str, description: str, schema: dict[str, Any], *, required: bool = False) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _path(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


_TABLE = {"type": "string", "enum": list(TABLE_NAMES)}
_TABLE_OR_ALL = {"type": "string", "enum": [*TABLE_NAMES, "all"]}
# How to read an uploaded file (csvfile/options.py); "\\t" and "tab" are also taken for a tab.
_FILE_OPTIONS: dict[str, Any] = {
    "header": {"type": "string", "enum": list(HEADERS)},
    "encoding": {"type": "string", "enum": list(ENCODINGS)},
    "delimiter": {"type": "string", "enum": list(DELIMITERS)},
}
_YEAR = _query("year", "Calendar year (UTC)", {"type": "integer"}, required=True)
_FORM = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}, **_FILE_OPTIONS},
        }
    }
}
_BACKUP_BODY = {"application/json": {"schema": _ref("BackupRequest")}}
_RESTORE_BODY = {"application/json": {"schema": _ref("RestoreRequest")}}
_FORMAT = _query(
    "format",
    "parquet (a restorable backup, the default) or avro (an export)",
    {"type": "string", "enum": ["parquet", "avro"]},
)


def _form_upload(table: str) -> dict[str, Any]:
    return {
        "post": _op(
            f"Upload a small {table} CSV as a form field named file (seed-compatible)",
            (202, "AcceptedUpload", "Registered; the pipeline loads it in the background"),
            (400, 413),
            body=_FORM,
        )
    }


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
    "UploadRequest": {
        "type": "object",
        "required": ["table", "filename", "size"],
        "properties": {
            "table": _TABLE,
            "filename": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"},
            "size": {"type": "integer", "minimum": 1},
            **_FILE_OPTIONS,
        },
        "additionalProperties": False,
    },
    "PresignedUpload": {
        "type": "object",
        "properties": {
            "upload_id": {"type": "string"},
            "key": {"type": "string"},
            "url": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            "expires_in": {"type": "integer"},
        },
    },
    "UploadStatus": {
        "type": "object",
        "properties": {
            "upload_id": {"type": "string"},
            # A file copied to raw/<not a table>/ is listed (failed) with the name it used.
            "table": {"type": "string"},
            "state": {"type": "string", "enum": ["waiting", "processing", "loaded", "failed"]},
            "filename": {"type": "string", "nullable": True},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            "rows_total": {"type": "integer", "nullable": True},
            "rows_valid": {"type": "integer", "nullable": True},
            "rows_rejected": {"type": "integer", "nullable": True},
            "chunks_total": {"type": "integer", "nullable": True},
            "chunks_done": {"type": "integer"},
            "rejected_url": {"type": "string", "nullable": True},
            "error": {"type": "string", "nullable": True},
            "options": {"type": "object", "properties": _FILE_OPTIONS},
            "compression": {"type": "string", "enum": ["gzip", "bzip2", "zstd"], "nullable": True},
            "encoding_read": {"type": "string", "enum": list(ENCODINGS), "nullable": True},
            "header_skipped": {"type": "boolean", "nullable": True},
        },
    },
    "UploadList": {
        "type": "object",
        "properties": {"uploads": {"type": "array", "items": _ref("UploadStatus")}},
    },
    "MultipartRequest": {
        "type": "object",
        "required": ["table", "filename", "size"],
        "properties": {
            "table": _TABLE,
            "filename": {"type": "string"},
            "size": {"type": "integer", "minimum": 1},
            "part_size": {"type": "integer"},
            **_FILE_OPTIONS,
        },
        "additionalProperties": False,
    },
    "MultipartUpload": {
        "type": "object",
        "properties": {
            "upload_id": {"type": "string"},
            "key": {"type": "string"},
            "size": {"type": "integer"},
            "part_size": {"type": "integer"},
            "part_count": {"type": "integer"},
            "expires_in": {"type": "integer"},
        },
    },
    "PartsRequest": {
        "type": "object",
        "properties": {"part_numbers": {"type": "array", "items": {"type": "integer"}}},
    },
    "SignedParts": {
        "type": "object",
        "properties": {
            "parts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"part_number": {"type": "integer"}, "url": {"type": "string"}},
                },
            }
        },
    },
    "CompleteRequest": {
        "type": "object",
        "properties": {
            "parts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"part_number": {"type": "integer"}, "etag": {"type": "string"}},
                },
            }
        },
    },
    "Completed": {
        "type": "object",
        "properties": {
            "upload_id": {"type": "string"},
            "key": {"type": "string"},
            "size": {"type": "integer"},
        },
    },
    "Cancelled": {
        "type": "object",
        "properties": {
            "upload_id": {"type": "string"},
            "state": {"type": "string"},
            "error": {"type": "string"},
        },
    },
    "Retried": {
        "type": "object",
        "properties": {
            "upload_id": {"type": "string"},
            "table": _TABLE,
            "state": {"type": "string"},
            "stage": {"type": "string", "enum": ["split", "validate", "load"]},
            "rewritten": {"type": "array", "items": {"type": "string"}},
        },
    },
    "AcceptedUpload": {
        "type": "object",
        "properties": {"upload_id": {"type": "string"}, "status_url": {"type": "string"}},
    },
    "HiresByQuarter": {
        "type": "object",
        "properties": {
            "year": {"type": "integer"},
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        name: {"type": "string" if name in ("department", "job") else "integer"}
                        for name in ("department", "job", "q1", "q2", "q3", "q4")
                    },
                },
            },
        },
    },
    "DepartmentsAboveMean": {
        "type": "object",
        "properties": {
            "year": {"type": "integer"},
            "mean": {"type": "number"},
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "department": {"type": "string"},
                        "hired": {"type": "integer"},
                    },
                },
            },
        },
    },
    "RowsRequest": {
        "type": "object",
        "required": ["rows"],
        "properties": {
            "rows": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_ROWS,
                "description": "Each row is an array of the table's columns in CSV order: "
                "strings, integers or null, judged exactly like a CSV line",
                "items": {"type": "array"},
            }
        },
    },
    "RowsResult": {
        "type": "object",
        "properties": {
            "upload_id": {"type": "string"},
            "rows_valid": {"type": "integer"},
            "rows_rejected": {"type": "integer"},
            "rejected": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "row": {"type": "integer", "description": "1 = the first row sent"},
                        "errors": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "BackupRequest": {
        "type": "object",
        "required": ["table"],
        "properties": {"table": _TABLE_OR_ALL, "format": {"type": "string"}},
    },
    "Backup": {
        "type": "object",
        "properties": {
            "backup_id": {"type": "string"},
            "created_at": {"type": "string"},
            "format": {"type": "string", "enum": ["parquet", "avro"]},
            "tables": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "location": {"type": "string"},
                        "rows": {"type": "integer"},
                        "files": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "BackupList": {
        "type": "object",
        "properties": {"backups": {"type": "array", "items": _ref("Backup")}},
    },
    "RestoreRequest": {
        "type": "object",
        "properties": {
            "table": _TABLE_OR_ALL,
            "backup_id": {"type": "string"},
            "s3_location": {
                "type": "string",
                "description": "s3://<bucket>/backups/<backup_id>/<table>/ of this deployment",
            },
        },
    },
    "Restore": {
        "type": "object",
        "properties": {
            "backup_id": {"type": "string"},
            "table": {"type": "string"},
            "rows_restored": {"type": "integer"},
            "tables": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
    "OpenApi": {"type": "object"},
}


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    backup_op = _op(
        "Back up one table, or all, to Parquet (or export AVRO)",
        (201, "Backup", "Written and recorded in the catalog"),
        body=_BACKUP_BODY,
        parameters=[_FORMAT],
    )
    restore_op = _op(
        "Replace a table with a backup's rows, verified, atomically",
        (200, "Restore", "Restored; the row count matched the backup's record"),
        (400, 404, 422),
        body=_RESTORE_BODY,
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "csv-ingest",
            "version": "1",
            "description": "Load HR CSV files into Amazon Redshift. Every route but health needs "
            'the x-api-key header; errors are {"error": {"code", "message"}}.',
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/api/v1/health": {
                "get": _op("Liveness", (200, "Health", "Up"), (), public=True),
            },
            "/api/v1/uploads": {
                "post": _op(
                    "Register an upload and get a presigned POST for it",
                    (201, "PresignedUpload", "Presigned POST for exactly that key and size"),
                    body={"application/json": {"schema": _ref("UploadRequest")}},
                ),
                "get": _op(
                    "Uploads, newest first",
                    (200, "UploadList", "Uploads"),
                    parameters=[_query("table", "Only this table", _TABLE)],
                ),
            },
            "/api/v1/uploads/{upload_id}": {
                "get": _op(
                    "One upload's state and counts",
                    (200, "UploadStatus", "The upload"),
                    (400, 404),
                    parameters=[_path("upload_id", "Upload id", {"type": "string"})],
                ),
                "delete": _op(
                    "Cancel an upload whose file has not arrived",
                    (200, "Cancelled", "The upload is failed, its multipart upload aborted"),
                    (400, 404, 409),
                    parameters=[_path("upload_id", "Upload id", {"type": "string"})],
                ),
            },
            "/api/v1/multipart-uploads": {
                "post": _op(
                    "Start a multipart upload (files over 100 MiB, up to 5 TiB)",
                    (201, "MultipartUpload", "The upload and its part plan"),
                    body={"application/json": {"schema": _ref("MultipartRequest")}},
                )
            },
            "/api/v1/multipart-uploads/{upload_id}/parts": {
                "post": _op(
                    "Presigned PUT URLs for parts of a multipart upload",
                    (200, "SignedParts", "One URL per requested part"),
                    (400, 404, 409),
                    body={"application/json": {"schema": _ref("PartsRequest")}},
                    parameters=[_path("upload_id", "Upload id", {"type": "string"})],
                )
            },
            "/api/v1/multipart-uploads/{upload_id}/complete": {
                "post": _op(
                    "Complete a multipart upload once every part is sent",
                    (200, "Completed", "The file is in raw/ and the pipeline starts"),
                    (400, 404, 409),
                    body={"application/json": {"schema": _ref("CompleteRequest")}},
                    parameters=[_path("upload_id", "Upload id", {"type": "string"})],
                )
            },
            "/api/v1/uploads/{upload_id}/retry": {
                "post": _op(
                    "Re-drive a failed or stuck upload from the first unfinished stage",
                    (202, "Retried", "The stage restarted and the objects rewritten"),
                    (400, 404, 409),
                    parameters=[_path("upload_id", "Upload id", {"type": "string"})],
                )
            },
            "/api/v1/reports/hires-by-quarter": {
                "get": _op(
                    "Hires per department and job, by quarter",
                    (200, "HiresByQuarter", "The report (analytics)"),
                    parameters=[_YEAR],
                )
            },
            "/api/v1/reports/departments-above-mean": {
                "get": _op(
                    "Departments that hired more than the year's mean",
                    (200, "DepartmentsAboveMean", "The report (analytics)"),
                    parameters=[_YEAR],
                )
            },
            "/api/v1/upload_departments": _form_upload("departments"),
            "/api/v1/upload_jobs": _form_upload("jobs"),
            "/api/v1/hired_employees": _form_upload("hired_employees"),
            "/api/v1/tables/{table}/rows": {
                "post": _op(
                    f"Validate and load 1 to {MAX_ROWS} rows now",
                    (200, "RowsResult", "Valid rows loaded; the rest explained"),
                    body={"application/json": {"schema": _ref("RowsRequest")}},
                    parameters=[_path("table", "Target table", _TABLE)],
                )
            },
            "/api/v1/backups": {
                "post": backup_op,
                "get": _op("The backup catalog, newest first", (200, "BackupList", "Backups")),
            },
            "/api/v1/restores": {"post": restore_op},
            "/api/v1/create_backup": {
                "post": {
                    **backup_op,
                    "summary": "Seed-compatible POST /api/v1/backups (table in body or query)",
                    "parameters": [_FORMAT, _query("table", "Table, or all", _TABLE_OR_ALL)],
                    "requestBody": {"required": False, "content": _BACKUP_BODY},
                }
            },
            "/api/v1/upload_parquet_backup": {
                "post": {
                    **restore_op,
                    "summary": "Seed-compatible POST /api/v1/restores (table, s3_location)",
                }
            },
            "/api/v1/openapi.json": {
                "get": _op("This document", (200, "OpenApi", "OpenAPI 3 document"), ()),
            },
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "schemas": _SCHEMAS,
        },
    }
