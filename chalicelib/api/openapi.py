"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /api/v1/openapi.json``.

Owns the paths: each route's summary, parameters, request body and replies. A reply names the
class its body is built from, and ``schema_gen`` writes that class's component schema from its
fields, so a reply cannot change shape without the document following. Request bodies are data
(``openapi_requests``). Tests check that the paths are the routes the Chalice app registers and
that real replies match the schemas; this module neither serves nor checks requests.
"""

from __future__ import annotations

from typing import Any, TypedDict

from chalicelib import keys
from chalicelib.api import (
    batch_rows,
    deadletters,
    health,
    multipart_uploads,
    openapi_requests,
    reports,
)
from chalicelib.api.formdata import MAX_FORM_BYTES
from chalicelib.api.openapi_requests import TABLE, TABLE_OR_ALL, pattern
from chalicelib.api.replies import ErrorReply, Health
from chalicelib.api.schema_gen import Schema, SchemaSet
from chalicelib.api.uploads import AcceptedUpload, PresignedUpload, UploadList, UploadStatus
from chalicelib.backups import catalog, restore
from chalicelib.backups.catalog import FORMATS
from chalicelib.config import S3_MAX_SINGLE_UPLOAD
from chalicelib.pipeline import redrive

VERSION = "3.1.0"
_TIB = multipart_uploads.MAX_OBJECT_BYTES // 1024**4
_GIB = S3_MAX_SINGLE_UPLOAD // 1024**3
_ERRORS = {
    400: "The request is malformed (bad JSON, unknown table, bad parameter)",
    401: "No x-api-key header",
    403: "Wrong API key",
    404: "No such upload",
    409: "The upload is not in a state that allows this",
    413: f"The form is larger than {MAX_FORM_BYTES} bytes; use POST /api/v1/uploads",
    422: "The backup's files do not hold the rows its record says; nothing was restored",
}
# An error status alone takes its description from _ERRORS; (status, text) says it for the route.
ErrorSpec = int | tuple[int, str]


class OpenApiDocument(TypedDict):
    """An OpenAPI 3.1 document: this API's routes, their parameters, bodies and replies."""

    openapi: str
    info: dict[str, Any]
    security: list[dict[str, list[str]]]
    paths: dict[str, Any]
    components: dict[str, Any]


def _json(schema: Schema, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(where: str, name: str, description: str, schema: Schema, required: bool) -> Any:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


_UPLOAD_ID = _param(
    "path", "upload_id", "Upload id", {"type": "string", "pattern": pattern(keys.UPLOAD_ID)}, True
)
_YEAR = _param(
    "query",
    "year",
    "Calendar year (UTC)",
    {"type": "integer", "minimum": reports.MIN_YEAR, "maximum": reports.MAX_YEAR},
    True,
)
_FORMAT = _param(
    "query",
    "format",
    "parquet (a restorable backup, the default) or avro (an export)",
    {"type": "string", "enum": list(FORMATS)},
    False,
)
_DEEP = _param(
    "query",
    "deep",
    "true: reach the bucket and run a query on the warehouse",
    {"type": "string", "enum": ["true", "1"]},
    False,
)
_BACKUP_TABLE = _param("query", "table", "Table, or all", TABLE_OR_ALL, False)


class _Paths:
    """Builds operations, collecting the reply classes' component schemas on the way."""

    def __init__(self) -> None:
        self.schemas = SchemaSet()

    def op(
        self,
        summary: str,
        ok: tuple[int, Any, str],
        errors: tuple[ErrorSpec, ...] = (400,),
        *,
        body: str | None = None,
        parameters: tuple[dict[str, Any], ...] = (),
        public: bool = False,
    ) -> dict[str, Any]:
        status, reply, description = ok
        # A class is a component; a union of classes (one route, two shapes) is written inline.
        schema = self.schemas.ref(reply) if isinstance(reply, type) else self.schemas.of(reply)
        responses: dict[str, Any] = {str(status): _json(schema, description)}
        for spec in (*errors, *(() if public else (401, 403))):
            code, text = spec if isinstance(spec, tuple) else (spec, _ERRORS[spec])
            responses[str(code)] = _json(self.schemas.ref(ErrorReply), text)
        operation: dict[str, Any] = {"summary": summary, "responses": responses}
        if body is not None:
            operation["requestBody"] = openapi_requests.body(body)
        if parameters:
            operation["parameters"] = list(parameters)
        if public:
            operation["security"] = []
        return operation

    def deep_health(self) -> dict[str, Any]:
        """Liveness is public; ``deep=true`` reaches S3 and the warehouse and needs the key."""
        operation = self.op(
            "Liveness; with deep=true, reach S3 and the warehouse (needs the key)",
            (200, Health | health.DeepHealth, "Up (deep: every dependency answered)"),
            ((401, "deep=true without the x-api-key header"), (403, "deep=true, wrong API key")),
            parameters=(_DEEP,),
            public=True,
        )
        degraded = self.schemas.ref(health.DeepHealth)
        operation["responses"]["503"] = _json(degraded, "Deep: S3 or the warehouse failed")
        return operation

    def form_upload(self, table: str) -> dict[str, Any]:
        return {
            "post": self.op(
                f"Upload a small {table} CSV as a form field named file (seed-compatible)",
                (202, AcceptedUpload, "Registered; the pipeline loads it in the background"),
                (400, 413),
                body="Form",
            )
        }

    def paths(self) -> dict[str, Any]:
        backup = self.op(
            "Back up one table, or all, to Parquet (or export AVRO)",
            (201, catalog.Backup, "Written and recorded in the catalog"),
            body="BackupRequest",
            parameters=(_FORMAT,),
        )
        restored = self.op(
            "Replace a table with a backup's rows, verified, atomically",
            (200, restore.Restore, "Restored; the row count matched the backup's record"),
            (400, (404, "No such backup, or it does not hold the table"), 422),
            body="RestoreRequest",
        )
        gone_or_busy = (400, 404, 409)
        return {
            "/api/v1/health": {"get": self.deep_health()},
            "/api/v1/uploads": {
                "post": self.op(
                    "Register an upload and get a presigned POST for it",
                    (201, PresignedUpload, "Presigned POST for exactly that key and size"),
                    body="UploadRequest",
                ),
                "get": self.op(
                    "Uploads, newest first",
                    (200, UploadList, "Uploads"),
                    parameters=(_param("query", "table", "Only this table", TABLE, False),),
                ),
            },
            "/api/v1/uploads/{upload_id}": {
                "get": self.op(
                    "One upload's state and counts",
                    (200, UploadStatus, "The upload"),
                    (400, 404),
                    parameters=(_UPLOAD_ID,),
                ),
                "delete": self.op(
                    "Cancel an upload whose file has not arrived",
                    (200, multipart_uploads.Cancelled, "Failed, its multipart upload aborted"),
                    (400, 404, (409, "The file already arrived: the upload is past waiting")),
                    parameters=(_UPLOAD_ID,),
                ),
            },
            "/api/v1/multipart-uploads": {
                "post": self.op(
                    f"Start a multipart upload (files up to {_TIB} TiB; a presigned POST "
                    f"carries at most {_GIB} GiB)",
                    (201, multipart_uploads.MultipartUpload, "The upload and its part plan"),
                    body="MultipartRequest",
                )
            },
            "/api/v1/multipart-uploads/{upload_id}/parts": {
                "post": self.op(
                    "Presigned PUT URLs for parts of a multipart upload",
                    (200, multipart_uploads.SignedParts, "One URL per requested part"),
                    gone_or_busy,
                    body="PartsRequest",
                    parameters=(_UPLOAD_ID,),
                )
            },
            "/api/v1/multipart-uploads/{upload_id}/complete": {
                "post": self.op(
                    "Complete a multipart upload once every part is sent",
                    (200, multipart_uploads.Completed, "The file is in raw/; the pipeline starts"),
                    gone_or_busy,
                    body="CompleteRequest",
                    parameters=(_UPLOAD_ID,),
                )
            },
            "/api/v1/uploads/{upload_id}/retry": {
                "post": self.op(
                    "Re-drive a failed or stuck upload from the first unfinished stage",
                    (202, redrive.Retried, "The stage restarted and the objects rewritten"),
                    (400, 404, (409, "Loaded, no file yet, or still making progress")),
                    parameters=(_UPLOAD_ID,),
                )
            },
            "/api/v1/dead-letters": {
                "get": self.op(
                    "Messages in each stage's dead-letter queue",
                    (200, deadletters.DeadLetterList, "One entry per stage"),
                    (),
                )
            },
            "/api/v1/dead-letters/redrive": {
                "post": self.op(
                    "Send dead letters back to their stage's queue, to be handled again",
                    (200, deadletters.Redriven, "Messages moved, per stage"),
                    body="RedriveRequest",
                )
            },
            "/api/v1/reports/hires-by-quarter": {
                "get": self.op(
                    "Hires per department and job, by quarter",
                    (200, reports.HiresByQuarter, "The report (analytics)"),
                    parameters=(_YEAR,),
                )
            },
            "/api/v1/reports/departments-above-mean": {
                "get": self.op(
                    "Departments that hired more than the year's mean",
                    (200, reports.DepartmentsAboveMean, "The report (analytics)"),
                    parameters=(_YEAR,),
                )
            },
            "/api/v1/upload_departments": self.form_upload("departments"),
            "/api/v1/upload_jobs": self.form_upload("jobs"),
            "/api/v1/hired_employees": self.form_upload("hired_employees"),
            "/api/v1/tables/{table}/rows": {
                "post": self.op(
                    f"Validate and load 1 to {batch_rows.MAX_ROWS} rows now",
                    (200, batch_rows.BatchResult, "Valid rows loaded; the rest explained"),
                    body="RowsRequest",
                    parameters=(_param("path", "table", "Target table", TABLE, True),),
                )
            },
            "/api/v1/backups": {
                "post": backup,
                "get": self.op(
                    "The backup catalog, newest first",
                    (200, catalog.BackupList, "Backups"),
                    (),
                ),
            },
            "/api/v1/restores": {"post": restored},
            "/api/v1/create_backup": {
                "post": {
                    **backup,
                    "summary": "Seed-compatible POST /api/v1/backups (table in body or query)",
                    "parameters": [_FORMAT, _BACKUP_TABLE],
                    "requestBody": {**openapi_requests.body("BackupRequest"), "required": False},
                }
            },
            "/api/v1/upload_parquet_backup": {
                "post": {
                    **restored,
                    "summary": "Seed-compatible POST /api/v1/restores (table, s3_location)",
                }
            },
            "/api/v1/openapi.json": {
                "get": self.op("This document", (200, OpenApiDocument, "OpenAPI 3.1 document"), ()),
            },
        }


def document() -> OpenApiDocument:
    """The whole OpenAPI document."""
    built = _Paths()
    paths = built.paths()
    return {
        "openapi": VERSION,
        "info": {
            "title": "csv-ingest",
            "version": "1",
            "description": "Load HR CSV files into Amazon Redshift. Every route but health needs "
            'the x-api-key header; errors are {"error": {"code", "message"}}.',
        },
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "schemas": {**openapi_requests.SCHEMAS, **built.schemas.components},
        },
    }
