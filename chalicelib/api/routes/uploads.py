"""Routes of uploads: presigned and multipart uploads, the seed's form uploads, status, listing,
cancelling and re-driving."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import providers
from chalicelib.api import bodies, formdata, multipart_uploads, openapi_requests, uploads
from chalicelib.api.routing import Operation, Reply, Routes
from chalicelib.api.uploads import AcceptedUpload, PresignedUpload, UploadList, UploadStatus
from chalicelib.config import S3_MAX_SINGLE_UPLOAD
from chalicelib.pipeline import redrive

if TYPE_CHECKING:
    from chalicelib.api.multipart_uploads import Cancelled, Completed, MultipartUpload, SignedParts

routes = Routes(__name__)
_ID = (openapi_requests.UPLOAD_ID,)
_GONE_OR_BUSY = (400, 404, 409)
_TIB = multipart_uploads.MAX_OBJECT_BYTES // 1024**4
_GIB = S3_MAX_SINGLE_UPLOAD // 1024**3


@routes.post(
    "/api/v1/uploads",
    Operation(
        "Register an upload and get a presigned POST for it",
        Reply(201, PresignedUpload, "Presigned POST for exactly that key and size"),
        body="UploadRequest",
    ),
)
def create_upload() -> PresignedUpload:
    body = bodies.json_body(routes.request)
    return uploads.create_upload(providers.s3(), providers.settings(), body)


@routes.get(
    "/api/v1/uploads",
    Operation(
        "Uploads, newest first",
        Reply(200, UploadList, "Uploads"),
        parameters=(openapi_requests.TABLE_FILTER,),
    ),
)
def list_uploads() -> UploadList:
    table = bodies.query(routes.request, "table")
    return uploads.listing(providers.s3(), providers.settings(), table)


@routes.get(
    "/api/v1/uploads/{upload_id}",
    Operation(
        "One upload's state and counts",
        Reply(200, UploadStatus, "The upload"),
        (400, 404),
        parameters=_ID,
    ),
)
def get_upload(upload_id: str) -> UploadStatus:
    return uploads.status(providers.s3(), providers.settings(), upload_id)


@routes.delete(
    "/api/v1/uploads/{upload_id}",
    Operation(
        "Cancel an upload whose file has not arrived",
        Reply(200, multipart_uploads.Cancelled, "Failed, its multipart upload aborted"),
        (400, 404, (409, "The file already arrived: the upload is past waiting")),
        parameters=_ID,
    ),
)
def cancel_upload(upload_id: str) -> Cancelled:
    return multipart_uploads.cancel(providers.s3(), providers.settings(), upload_id)


@routes.post(
    "/api/v1/uploads/{upload_id}/retry",
    Operation(
        "Re-drive a failed or stuck upload from the first unfinished stage",
        Reply(202, redrive.Retried, "The stage restarted and the objects rewritten"),
        (400, 404, (409, "Loaded, no file yet, or still making progress")),
        parameters=_ID,
    ),
)
def retry_upload(upload_id: str) -> redrive.Retried:
    return redrive.retry_upload(providers.s3(), providers.settings(), upload_id)


@routes.post(
    "/api/v1/multipart-uploads",
    Operation(
        f"Start a multipart upload (files up to {_TIB} TiB; a presigned POST carries at most "
        f"{_GIB} GiB)",
        Reply(201, multipart_uploads.MultipartUpload, "The upload and its part plan"),
        body="MultipartRequest",
    ),
)
def create_multipart_upload() -> MultipartUpload:
    body = bodies.json_body(routes.request)
    return multipart_uploads.create(providers.s3(), providers.settings(), body)


@routes.post(
    "/api/v1/multipart-uploads/{upload_id}/parts",
    Operation(
        "Presigned PUT URLs for parts of a multipart upload",
        Reply(200, multipart_uploads.SignedParts, "One URL per requested part"),
        _GONE_OR_BUSY,
        body="PartsRequest",
        parameters=_ID,
    ),
)
def sign_upload_parts(upload_id: str) -> SignedParts:
    body = bodies.json_body(routes.request)
    return multipart_uploads.sign_parts(providers.s3(), providers.settings(), upload_id, body)


@routes.post(
    "/api/v1/multipart-uploads/{upload_id}/complete",
    Operation(
        "Complete a multipart upload once every part is sent",
        Reply(200, multipart_uploads.Completed, "The file is in raw/; the pipeline starts"),
        _GONE_OR_BUSY,
        body="CompleteRequest",
        parameters=_ID,
    ),
)
def complete_multipart_upload(upload_id: str) -> Completed:
    body = bodies.json_body(routes.request)
    return multipart_uploads.complete(providers.s3(), providers.settings(), upload_id, body)


def _form_upload(table: str) -> AcceptedUpload:
    request = routes.request
    context: dict[str, Any] = request.context or {}
    return uploads.accept_form_file(
        providers.s3(),
        providers.settings(),
        table,
        request.headers.get("content-type"),
        bodies.raw_body(request),
        formdata.public_base_url(request.headers, context),
    )


def _form_operation(table: str) -> Operation:
    return Operation(
        f"Upload a small {table} CSV as a form field named file (seed-compatible)",
        Reply(202, AcceptedUpload, "Registered; the pipeline loads it in the background"),
        (400, 413),
        body="Form",
    )


# The seed's paths, one per table, kept for its clients.
_FORM_PATHS = {
    "departments": "/api/v1/upload_departments",
    "jobs": "/api/v1/upload_jobs",
    "hired_employees": "/api/v1/hired_employees",
}


@routes.post(_FORM_PATHS["departments"], _form_operation("departments"), any_content=True)
def upload_departments() -> AcceptedUpload:
    return _form_upload("departments")


@routes.post(_FORM_PATHS["jobs"], _form_operation("jobs"), any_content=True)
def upload_jobs() -> AcceptedUpload:
    return _form_upload("jobs")


@routes.post(_FORM_PATHS["hired_employees"], _form_operation("hired_employees"), any_content=True)
def upload_hired_employees() -> AcceptedUpload:
    return _form_upload("hired_employees")
