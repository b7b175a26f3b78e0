"""HTTP routes and S3 event handlers. Each parses its input, calls one chalicelib function and
shapes the reply; the work lives in chalicelib."""

from __future__ import annotations

import functools
import hmac
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import boto3
from chalice.app import Chalice, Response

from chalicelib import chunk, load, logs, multipart, reports, uploads, validate
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
logs.setup()
BUCKET = event_bucket()
PUBLIC_PATHS = {"/api/v1/health"}


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


def query(name: str) -> str | None:
    request = app.current_request
    params: Mapping[str, str] = (request.query_params if request else None) or {}
    value = params.get(name)
    return None if value is None else str(value)


@app.route("/api/v1/health", methods=["GET"])
def get_health() -> dict[str, str]:
    return {"status": "ok"}


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
        lambda: load.load_upload(s3, get_warehouse(), settings, event.key),
    )
