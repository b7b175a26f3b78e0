"""HTTP routes and the pipeline's event handlers (stage queues, a schedule, a Data API event).
Each parses its input, calls one chalicelib function and shapes the reply; the work lives in
chalicelib."""

from __future__ import annotations

import functools
import hmac
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import boto3
from chalice.app import Chalice, Rate, Response

from chalicelib import console, keys, logs
from chalicelib.api import (
    apikey,
    batch_rows,
    deadletters,
    formdata,
    health,
    multipart_uploads,
    openapi,
    reports,
    uploads,
)
from chalicelib.api.fields import check_fields
from chalicelib.api.replies import ErrorReply, Health
from chalicelib.backups import backup, catalog, restore
from chalicelib.config import Settings, event_queue_prefix
from chalicelib.errors import ForbiddenError, IngestError, InvalidRequestError, UnauthorizedError
from chalicelib.pipeline import budget, load, load_async, redrive, split, stuck, triggers, validate
from chalicelib.pipeline.runner import request_id_of, run_stage
from chalicelib.tables import TABLES
from chalicelib.warehouse import Warehouse, make_warehouse
from chalicelib.warehouse.redshift_data import DataApi, DataApiWarehouse, Target

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from chalice.app import CloudWatchEvent, Request, SQSEvent
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

app = Chalice(app_name="csv-ingest")
# API Gateway then hands form bodies to Lambda as base64 bytes, not as text that loses bytes.
app.api.binary_types.append("multipart/form-data")
logs.setup()
QUEUE_PREFIX = event_queue_prefix()
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
def get_stage_key() -> str:
    key_id = get_settings().api_key_id
    assert key_id is not None  # checked by the caller
    return apikey.stage_key(boto3.client("apigateway"), key_id)


@functools.cache
def get_warehouse() -> Warehouse:
    warehouse = make_warehouse(get_settings(), get_s3())
    load.ensure_schema(warehouse, TABLES.values())
    return warehouse


def uses_data_api() -> bool:
    redshift = get_settings().redshift
    return redshift is not None and redshift.api == "data"


@functools.cache
def get_data_api() -> DataApi:
    redshift = get_settings().redshift
    assert redshift is not None  # uses_data_api() was checked
    return DataApi(boto3.client("redshift-data"), Target.of(redshift))


@functools.cache
def get_statements() -> Warehouse:
    """Where single statements run (reports, health): the Data API when chosen."""
    if not uses_data_api():
        return get_warehouse()
    warehouse = DataApiWarehouse(get_data_api())
    load.ensure_schema(warehouse, TABLES.values())
    return warehouse


def error_response(exc: IngestError) -> Response:
    return Response(body=asdict(ErrorReply.of(exc)), status_code=exc.status_code)


@app.middleware("http")
def require_api_key(request: Request, get_response: Callable[[Request], Response]) -> Response:
    # API Gateway checks keys in AWS (api_key_required); this also enforces them locally.
    context: dict[str, Any] = request.context or {}
    if context.get("resourcePath") not in PUBLIC_PATHS:
        refused = key_refusal(request, required=False)
        if refused is not None:
            return refused
    return get_response(request)


def key_refusal(request: Request | None, *, required: bool) -> Response | None:
    """The 401/403 reply for a request without the app's key; None when it may go on.

    With ``required`` a route is refused even when the app has no key set (it cannot check).
    """
    expected = get_settings().api_key
    if not expected and required and get_settings().api_key_id:
        expected = get_stage_key()  # deployed: the stage's key, as API Gateway holds it
    if not expected and not required:
        return None
    given = (request.headers.get("x-api-key") if request is not None else None) or ""
    if not given:
        return error_response(UnauthorizedError("missing x-api-key header"))
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return error_response(ForbiddenError("wrong API key"))
    return None


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
def get_health() -> Response:
    if query("deep") not in ("true", "1"):
        return Response(body=asdict(Health()), status_code=200)
    # The route is public (API Gateway checks no key on it), so the deep check needs the key
    # the app itself knows.
    refused = key_refusal(app.current_request, required=True)
    if refused is not None:
        return refused
    result = health.check(get_s3(), get_settings(), get_statements)
    return Response(body=result.to_json(), status_code=200 if result.ok else 503)


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
    return asdict(uploads.listing(get_s3(), get_settings(), query("table")))


@app.route("/api/v1/uploads/{upload_id}", methods=["GET"], api_key_required=True)
@replies_errors
def get_upload(upload_id: str) -> dict[str, Any]:
    return asdict(uploads.status(get_s3(), get_settings(), upload_id))


@app.route("/api/v1/uploads/{upload_id}/retry", methods=["POST"], api_key_required=True)
@replies_errors
def retry_upload(upload_id: str) -> Response:
    retried = redrive.retry_upload(get_s3(), get_settings(), upload_id)
    return Response(body=asdict(retried), status_code=202)


@app.route("/api/v1/uploads/{upload_id}", methods=["DELETE"], api_key_required=True)
@replies_errors
def cancel_upload(upload_id: str) -> dict[str, Any]:
    return asdict(multipart_uploads.cancel(get_s3(), get_settings(), upload_id))


@app.route("/api/v1/multipart-uploads", methods=["POST"], api_key_required=True)
@replies_errors
def create_multipart_upload() -> Response:
    started = multipart_uploads.create(get_s3(), get_settings(), json_body())
    return Response(body=asdict(started), status_code=201)


@app.route("/api/v1/multipart-uploads/{upload_id}/parts", methods=["POST"], api_key_required=True)
@replies_errors
def sign_upload_parts(upload_id: str) -> dict[str, Any]:
    return asdict(multipart_uploads.sign_parts(get_s3(), get_settings(), upload_id, json_body()))


@app.route(
    "/api/v1/multipart-uploads/{upload_id}/complete", methods=["POST"], api_key_required=True
)
@replies_errors
def complete_multipart_upload(upload_id: str) -> dict[str, Any]:
    return asdict(multipart_uploads.complete(get_s3(), get_settings(), upload_id, json_body()))


@app.route("/api/v1/reports/hires-by-quarter", methods=["GET"], api_key_required=True)
@replies_errors
def get_hires_by_quarter() -> dict[str, Any]:
    year = reports.parse_year(query("year"))
    return asdict(reports.hires_by_quarter_report(get_statements(), year))


@app.route("/api/v1/reports/departments-above-mean", methods=["GET"], api_key_required=True)
@replies_errors
def get_departments_above_mean() -> dict[str, Any]:
    year = reports.parse_year(query("year"))
    return asdict(reports.departments_above_mean_report(get_statements(), year))


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
        formdata.public_base_url(headers, context),
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
    result = batch_rows.insert_rows(
        get_s3(), get_warehouse(), get_settings(), table, any_json_body()
    )
    return asdict(result)


@app.route("/api/v1/backups", methods=["POST"], content_types=ANY_CONTENT, api_key_required=True)
@replies_errors
def create_backup() -> Response:
    return backup_reply()


def backup_reply() -> Response:
    given = params()
    check_fields(given, ("table", "format"), "the request")
    made = backup.backup_table(
        get_s3(), get_warehouse(), get_settings(), given.get("table"), given.get("format")
    )
    return Response(body=made.to_json(), status_code=201)


@app.route("/api/v1/backups", methods=["GET"], api_key_required=True)
@replies_errors
def list_backups() -> dict[str, Any]:
    listed = catalog.list_backups(get_s3(), get_settings())
    return asdict(catalog.BackupList(listed))


@app.route("/api/v1/restores", methods=["POST"], content_types=ANY_CONTENT, api_key_required=True)
@replies_errors
def create_restore() -> dict[str, Any]:
    return restore_reply()


def restore_reply() -> dict[str, Any]:
    given = params()
    check_fields(given, ("backup_id", "table", "s3_location"), "the request")
    return asdict(restore.restore_table(get_s3(), get_warehouse(), get_settings(), given))


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
def get_openapi() -> openapi.OpenApiDocument:
    return openapi.document()


@functools.cache
def get_sqs() -> SQSClient:
    return boto3.client("sqs")


@app.route("/api/v1/dead-letters", methods=["GET"], api_key_required=True)
@replies_errors
def list_dead_letters() -> dict[str, Any]:
    return asdict(deadletters.listing(get_sqs(), get_settings()))


@app.route("/api/v1/dead-letters/redrive", methods=["POST"], api_key_required=True)
@replies_errors
def redrive_dead_letters() -> dict[str, Any]:
    return asdict(deadletters.redrive(get_sqs(), get_settings(), any_json_body()))


# Logs uploads stuck in processing (the deployed alarm counts them); changes nothing.
@app.schedule(Rate(30, unit=Rate.MINUTES))
def check_stuck_uploads(event: CloudWatchEvent) -> None:
    stuck.find_stuck(get_s3(), get_settings())


# S3 notifies one queue per stage (triggers.TRIGGERS); each queue invokes its handler with one
# message at a time, redelivers it after a transient error and dead-letters it after the last.
@app.on_sqs_message(queue=triggers.queue_name(QUEUE_PREFIX, "split"), batch_size=1)
def on_raw_created(event: SQSEvent) -> None:
    s3, settings = get_s3(), get_settings()
    triggers.deliver(
        event.to_dict(),
        "split",
        s3,
        request_id_of(event.context),
        lambda parsed: split.split_upload(
            s3, settings, parsed, budget.budget_for(settings, event.context)
        ),
    )


@app.on_sqs_message(queue=triggers.queue_name(QUEUE_PREFIX, "validate"), batch_size=1)
def on_chunk_created(event: SQSEvent) -> None:
    s3, settings = get_s3(), get_settings()
    triggers.deliver(
        event.to_dict(),
        "validate",
        s3,
        request_id_of(event.context),
        lambda parsed: validate.validate_chunk(s3, settings, parsed),
    )


@app.on_sqs_message(queue=triggers.queue_name(QUEUE_PREFIX, "load"), batch_size=1)
def on_load_requested(event: SQSEvent) -> None:
    s3, settings = get_s3(), get_settings()
    triggers.deliver(
        event.to_dict(),
        "load",
        s3,
        request_id_of(event.context),
        lambda parsed: load_stage(s3, settings, parsed),
    )


def load_stage(s3: S3Client, settings: Settings, parsed: keys.StageEvent) -> load.LoadResult:
    if uses_data_api():
        get_statements()  # the tables exist before the first load
        return load_async.load_upload(s3, get_data_api(), settings, parsed)
    return load.load_upload(s3, get_warehouse, settings, parsed)


# A Data API load finishes when its batch ends (docs/data-api.md); the rule matches only the
# statements this service names.
@app.on_cw_event(
    {
        "source": ["aws.redshift-data"],
        "detail-type": ["Redshift Data Statement Status Change"],
        "detail": {"statementName": [{"prefix": load_async.STATEMENT_PREFIX}]},
    }
)
def on_load_statement_changed(event: CloudWatchEvent) -> None:
    found = load_async.statement_of(event.detail)
    if found is None:
        return
    table, upload_id, statement_id = found
    s3, settings = get_s3(), get_settings()
    run_stage(
        "load",
        s3,
        settings.bucket,
        keys.load_key(table, upload_id),
        request_id_of(event.context),
        lambda parsed: load_async.on_statement_event(
            s3, get_data_api(), settings, parsed, statement_id
        ),
    )
