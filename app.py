"""HTTP routes and S3 event handlers. Each parses its input, calls one chalicelib function and
shapes the reply; the work lives in chalicelib."""

from __future__ import annotations

import functools
import hmac
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import boto3
from chalice.app import Chalice, Response

from chalicelib import (
    backup,
    batch,
    chunk,
    console,
    forms,
    load,
    logs,
    multipart,
    openapi,
    redrive,
    reports,
    uploads,
    validate,
)
from chalicelib.config import Settings, event_bucket
from chalicelib.errors import ForbiddenError, IngestError, InvalidRequestError, UnauthorizedError
from chalicelib.events import request_id_of, run_stage
from chalicelib.tables import TABLES
from chalicelib.warehouse import Warehouse, make_warehouse

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from chalice.app import Request, S3Event
    from mypy_boto3_s3 import S3Client

app = Chalice(app_name="csv-ingest")
# API Gateway then hands form bodies to Lambda as base64 bytes, not as text that loses bytes.
app.api.binary_types.append("multipart/form-data")
logs.setup()
BUCKET = event_bucket()
PUBLIC_PATHS = {"/api/v1/health", *console.PUBLIC_PATHS}
# These routes read the body whatever its content type, so a wrong one gets our JSON 400 rather
# than Chalice's 415 in another shape.
ANY_CONTENT = ["*/*"]


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()


@functools.cache
def get_s3() -> S3Client:
    return boto3.client("s3")


@functools.cache
def get_warehouse() -> Warehouse:
    warehouse = make_warehouse(get_settings(), get_s3())
    load.ensure_schema(warehouse, TABLES.values())
    return warehouse


def error_response(exc: IngestError) -> Response:
    body = {"error": {"code": exc.code, "message": exc.message}}
    return Response(body=body, status_code=exc.status_code)


@app.middleware("http")
def require_api_key(request: Request, get_response: Callable[[Request], Response]) -> Response:
    # API Gateway checks keys in AWS (api_key_required); this also enforces them locally.
    expected = get_settings().api_key
    context: dict[str, Any] = request.context or {}
    resource = context.get("resourcePath")
    if expected and resource not in PUBLIC_PATHS:
        given = request.headers.get("x-api-key")
        if not given:
            return error_response(UnauthorizedError("missing x-api-key header"))
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return error_response(ForbiddenError("wrong API key"))
    return get_response(request)


def replies_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn project errors into JSON 4xx replies; anything else stays a bare 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except IngestError as exc:
            if exc.status_code >= 500:
                raise
            return error_response(exc)

    return wrapper


def json_body() -> Any:
    request = app.current_request
    try:
        return request.json_body if request is not None else None
    except Exception:
        raise InvalidRequestError("body is not valid JSON") from None


def raw_body() -> bytes:
    request = app.current_request
    body = request.raw_body if request is not None else b""
    return body.encode() if isinstance(body, str) else body


def any_json_body() -> Any:
    """The body parsed as JSON whatever the content type says; None when there is no body."""
    body = raw_body()
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidRequestError("body is not valid JSON") from None


def params() -> dict[str, Any]:
    """The query string's parameters overlaid with the fields of a JSON object body."""
    request = app.current_request
    merged: dict[str, Any] = dict((request.query_params if request else None) or {})
    body = any_json_body()
    if body is not None and not isinstance(body, dict):
        raise InvalidRequestError("body must be a JSON object")
    merged.update(body or {})
    return merged


def query(name: str) -> str | None:
    request = app.current_request
    params: Mapping[str, str] = (request.query_params if request else None) or {}
    value = params.get(name)
    return None if value is None else str(value)


@app.route("/api/v1/health", methods=["GET"])
def get_health() -> dict[str, str]:
    return {"status": "ok"}


# The web console: a public static page; the API calls it makes carry the key a person types.
def console_page() -> Response:
    request = app.current_request
    context: dict[str, Any] = (request.context if request else None) or {}
    origins = console.s3_origins(get_s3(), get_settings().bucket)
    return Response(**console.page(origins, console.base_href(context)))


@app.route("/", methods=["GET"])
def get_console_root() -> Response:
    return console_page()


@app.route("/console", methods=["GET"])
def get_console() -> Response:
    return console_page()


@app.route("/console/{name}", methods=["GET"])
def get_console_file(name: str) -> Response:
    return Response(**console.asset(name))


@app.route("/api/v1/uploads", methods=["POST"], api_key_required=True)
@replies_errors
def create_upload() -> Response:
    presigned = uploads.create_upload(get_s3(), get_settings(), json_body())
    return Response(body=asdict(presigned), status_code=201)


@app.route("/api/v1/uploads", methods=["GET"], api_key_required=True)
@replies_errors
def list_uploads() -> dict[str, Any]:
    return {"uploads": uploads.listing(get_s3(), get_settings(), query("table"))}


@app.route("/api/v1/uploads/{upload_id}", methods=["GET"], api_key_required=True)
@replies_errors
def get_upload(upload_id: str) -> dict[str, Any]:
    return uploads.status(get_s3(), get_settings(), upload_id)


@app.route("/api/v1/uploads/{upload_id}/retry", methods=["POST"], api_key_required=True)
@replies_errors
def retry_upload(upload_id: str) -> Response:
    retried = redrive.retry_upload(get_s3(), get_settings(), upload_id)
    return Response(body=asdict(retried), status_code=202)


@app.route("/api/v1/uploads/{upload_id}", methods=["DELETE"], api_key_required=True)
@replies_errors
def cancel_upload(upload_id: str) -> dict[str, Any]:
    return multipart.cancel(get_s3(), get_settings(), upload_id)


@app.route("/api/v1/multipart-uploads", methods=["POST"], api_key_required=True)
@replies_errors
def create_multipart_upload() -> Response:
    started = multipart.create(get_s3(), get_settings(), json_body())
    return Response(body=asdict(started), status_code=201)


@app.route("/api/v1/multipart-uploads/{upload_id}/parts", methods=["POST"], api_key_required=True)
@replies_errors
def sign_upload_parts(upload_id: str) -> dict[str, Any]:
    return {"parts": multipart.sign_parts(get_s3(), get_settings(), upload_id, json_body())}


@app.route(
    "/api/v1/multipart-uploads/{upload_id}/complete", methods=["POST"], api_key_required=True
)
@replies_errors
def complete_multipart_upload(upload_id: str) -> dict[str, Any]:
    return multipart.complete(get_s3(), get_settings(), upload_id, json_body())


@app.route("/api/v1/reports/hires-by-quarter", methods=["GET"], api_key_required=True)
@replies_errors
def get_hires_by_quarter() -> dict[str, Any]:
    year = reports.parse_year(query("year"))
    rows = reports.hires_by_quarter(get_warehouse(), year)
    return {"year": year, "rows": [asdict(r) for r in rows]}


@app.route("/api/v1/reports/departments-above-mean", methods=["GET"], api_key_required=True)
@replies_errors
def get_departments_above_mean() -> dict[str, Any]:
    year = reports.parse_year(query("year"))
    mean, rows = reports.departments_above_mean(get_warehouse(), year)
    return {"year": year, "mean": mean, "rows": [asdict(r) for r in rows]}


def form_upload(table: str) -> Response:
    request = app.current_request
    headers: Mapping[str, str] = request.headers if request else {}
    context: dict[str, Any] = (request.context if request else None) or {}
    accepted = uploads.accept_form_file(
        get_s3(),
        get_settings(),
        table,
        headers.get("content-type"),
        raw_body(),
        forms.public_base_url(headers, context),
    )
    return Response(body=asdict(accepted), status_code=202)


@app.route(
    "/api/v1/upload_departments",
    methods=["POST"],
    content_types=ANY_CONTENT,
    api_key_required=True,
)
@replies_errors
def upload_departments() -> Response:
    return form_upload("departments")


@app.route(
    "/api/v1/upload_jobs", methods=["POST"], content_types=ANY_CONTENT, api_key_required=True
)
@replies_errors
def upload_jobs() -> Response:
    return form_upload("jobs")


@app.route(
    "/api/v1/hired_employees", methods=["POST"], content_types=ANY_CONTENT, api_key_required=True
)
@replies_errors
def upload_hired_employees() -> Response:
    return form_upload("hired_employees")


@app.route(
    "/api/v1/tables/{table}/rows",
    methods=["POST"],
    content_types=ANY_CONTENT,
    api_key_required=True,
)
@replies_errors
def insert_rows(table: str) -> dict[str, Any]:
    result = batch.insert_rows(get_s3(), get_warehouse(), get_settings(), table, any_json_body())
    return asdict(result)


@app.route("/api/v1/backups", methods=["POST"], content_types=ANY_CONTENT, api_key_required=True)
@replies_errors
def create_backup() -> Response:
    return backup_reply()


def backup_reply() -> Response:
    given = params()
    made = backup.backup_table(
        get_s3(), get_warehouse(), get_settings(), given.get("table"), given.get("format")
    )
    return Response(body=made.to_json(), status_code=201)


@app.route("/api/v1/backups", methods=["GET"], api_key_required=True)
@replies_errors
def list_backups() -> dict[str, Any]:
    return {"backups": [b.to_json() for b in backup.list_backups(get_s3(), get_settings())]}


@app.route("/api/v1/restores", methods=["POST"], content_types=ANY_CONTENT, api_key_required=True)
@replies_errors
def create_restore() -> dict[str, Any]:
    return restore_reply()


def restore_reply() -> dict[str, Any]:
    return asdict(backup.restore_table(get_s3(), get_warehouse(), get_settings(), params()))


# The original service's backup routes, kept for its clients: the same work as the two above.
@app.route(
    "/api/v1/create_backup", methods=["POST"], content_types=ANY_CONTENT, api_key_required=True
)
@replies_errors
def create_backup_seed() -> Response:
    return backup_reply()


@app.route(
    "/api/v1/upload_parquet_backup",
    methods=["POST"],
    content_types=ANY_CONTENT,
    api_key_required=True,
)
@replies_errors
def upload_parquet_backup() -> dict[str, Any]:
    return restore_reply()


@app.route("/api/v1/openapi.json", methods=["GET"], api_key_required=True)
def get_openapi() -> dict[str, Any]:
    return openapi.document()


@app.on_s3_event(bucket=BUCKET, events=["s3:ObjectCreated:*"], prefix="raw/")
def on_raw_created(event: S3Event) -> None:
    s3, settings = get_s3(), get_settings()
    run_stage(
        "split",
        s3,
        event.bucket,
        event.key,
        request_id_of(event.context),
        lambda: chunk.split_upload(s3, settings, event.key),
    )


@app.on_s3_event(bucket=BUCKET, events=["s3:ObjectCreated:*"], prefix="chunks/", suffix=".rec")
def on_chunk_created(event: S3Event) -> None:
    s3, settings = get_s3(), get_settings()
    run_stage(
        "validate",
        s3,
        event.bucket,
        event.key,
        request_id_of(event.context),
        lambda: validate.validate_chunk(s3, settings, event.key),
    )


@app.on_s3_event(bucket=BUCKET, events=["s3:ObjectCreated:*"], prefix="loads/", suffix=".json")
def on_load_requested(event: S3Event) -> None:
    s3, settings = get_s3(), get_settings()
    run_stage(
        "load",
        s3,
        event.bucket,
        event.key,
        request_id_of(event.context),
        lambda: load.load_upload(s3, get_warehouse, settings, event.key),
    )
