"""The upload API's work: presigned uploads, upload status, listings.

Owns what the HTTP routes promise about uploads; ``app.py`` only parses requests and shapes
replies. Presigned POSTs are limited to one exact key under ``raw/<table>/``, the declared size
and a short expiry. Small files posted as forms (the seed-compatible routes) are registered the
same way and written to that key by the API itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from chalicelib import keys, storage
from chalicelib.api import formdata
from chalicelib.api.bodies import check_fields
from chalicelib.csvfile import options
from chalicelib.csvfile.options import OPTION_NAMES, Encoding, FileOptions, parse_options
from chalicelib.csvfile.sniff import Compression  # noqa: TC001 - schema_gen reads the hints
from chalicelib.errors import InvalidRequestError
from chalicelib.pipeline import completion, state
from chalicelib.pipeline.findings import UploadWarning
from chalicelib.pipeline.state import PublicState, Upload, now_iso
from chalicelib.tables import TABLE_NAMES, Table, get_table, guess_table

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings

logger = logging.getLogger(__name__)
UPLOAD_FIELDS = ("table", "filename", "size", *OPTION_NAMES)


@dataclass(frozen=True)
class PresignedUpload:
    """Where and how to POST one file."""

    upload_id: str
    key: str
    url: str
    fields: Annotated[dict[str, str], "Form fields to send, as they are, before the file"]
    expires_in: Annotated[int, "Seconds the presigned POST stays valid"]


def named_file(body: dict[str, Any]) -> tuple[Table, str]:
    """The table and the file name an upload request gives; the table, when left out, is
    guessed from the name (``tables.guess_table``).

    Raises:
        InvalidRequestError: no usable file name, an unknown table, or none given and none
            guessed.
    """
    filename = keys.check_filename(body.get("filename"))  # type: ignore[arg-type]
    given = body.get("table")
    if given is None:
        given = guess_table(filename)
        if given is None:
            raise InvalidRequestError(
                f"which table is {filename!r} for? its name does not say: give table "
                f"({', '.join(TABLE_NAMES)})",
                parameter="table",
            )
    return get_table(given), filename


def check_size(size: Any, filename: str, largest: int) -> int:
    """``size`` if it is a whole number of bytes from 1 to ``largest``.

    Raises:
        InvalidRequestError: it is not; an empty file is named as such.
    """
    if type(size) is int and size == 0:
        raise InvalidRequestError(
            f"{filename} is empty (0 bytes): there is nothing to upload", parameter="size"
        )
    if type(size) is not int or not 1 <= size <= largest:
        raise InvalidRequestError(
            f"size must be an integer number of bytes from 1 to {largest}, got {size!r} "
            f"for {filename}",
            parameter="size",
        )
    return size


def create_upload(s3: S3Client, settings: Settings, body: Any) -> PresignedUpload:
    """Register an upload and presign a POST for it.

    Raises:
        InvalidRequestError: the body is not {"filename", "size"} (and the table, unless its
            name says it, and the file options ``header``, ``encoding``, ``delimiter``) with
            sane values.
    """
    if not isinstance(body, dict):
        raise InvalidRequestError("body must be a JSON object with filename and size")
    check_fields(body, UPLOAD_FIELDS)
    table, filename = named_file(body)
    size = check_size(body.get("size"), filename, settings.max_upload_bytes)
    read_as = parse_options(body)
    upload_id, key = _register(s3, settings, table.name, filename, read_as)
    post = s3.generate_presigned_post(
        Bucket=settings.bucket,
        Key=key,
        Fields={"Content-Type": "text/csv"},
        Conditions=[
            {"bucket": settings.bucket},
            ["eq", "$key", key],
            {"Content-Type": "text/csv"},
            ["content-length-range", size, size],
        ],
        ExpiresIn=settings.presign_expires,
    )
    return PresignedUpload(upload_id, key, post["url"], post["fields"], settings.presign_expires)


def _register(
    s3: S3Client, settings: Settings, table: str, filename: str, read_as: FileOptions
) -> tuple[str, str]:
    """Record a new upload as waiting for its file; return (upload_id, the raw key to write).
    The key's last part is made from ``filename``; the state keeps the name as it was given."""
    upload_id = keys.new_upload_id()
    key = keys.raw_key(table, upload_id, filename)
    created = now_iso()
    state.create(
        s3,
        settings.bucket,
        Upload(
            upload_id,
            table,
            "waiting",
            created,
            created,
            source_key=key,
            filename=filename,
            options=read_as.to_json(),
        ),
    )
    return upload_id, key


@dataclass(frozen=True)
class AcceptedUpload:
    """A file the API took in itself: where to follow its progress."""

    upload_id: str
    status_url: str


def accept_form_file(
    s3: S3Client,
    settings: Settings,
    table_name: str,
    content_type: str | None,
    body: bytes,
    base_url: str,
) -> AcceptedUpload:
    """Register an upload and write the form's ``file`` field to its raw key.

    The raw object's S3 event starts the pipeline, exactly as for a presigned upload.

    Raises:
        PayloadTooLargeError: the form is larger than ``formdata.MAX_FORM_BYTES``.
        InvalidRequestError: not a form with a non-empty ``file`` field.
    """
    table = get_table(table_name)
    sent = formdata.read_file_field(content_type, body, options=OPTION_NAMES)
    filename = keys.check_filename(sent.filename or f"{table.name}.csv")
    read_as = parse_options(sent.fields)
    upload_id, key = _register(s3, settings, table.name, filename, read_as)
    s3.put_object(Bucket=settings.bucket, Key=key, Body=sent.data, ContentType="text/csv")
    logger.info(
        "upload.received",
        extra={"upload_id": upload_id, "table": table.name, "bytes": len(sent.data)},
    )
    return AcceptedUpload(upload_id, f"{base_url}/api/v1/uploads/{upload_id}")


@dataclass(frozen=True)
class UploadStatus:
    """One upload's state and counts; counts are null until the stage that knows them ran."""

    upload_id: str
    table: Annotated[str, "The table; for an object copied outside every table, what it named"]
    state: PublicState
    filename: str | None
    created_at: str
    updated_at: str
    rows_total: int | None
    rows_valid: int | None
    rows_rejected: int | None
    chunks_total: int | None
    chunks_done: int
    rejected_url: Annotated[
        str | None, "A presigned GET of the rejected rows, once loaded with any rejected"
    ]
    error: str | None
    options: FileOptions
    compression: Annotated[Compression | None, "Detected from the file's bytes, once split"]
    encoding_read: Annotated[Encoding | None, "The encoding the file was read in, once split"]
    header_skipped: Annotated[bool | None, "Whether a header line was skipped, once split"]
    split: Annotated[
        Literal["ranges", "copy"] | None,
        "How the file was split, once split: planned as byte ranges of the file, or copied "
        "into chunks (compressed and UTF-16 files)",
    ]
    split_invocations: Annotated[
        int | None, "How many invocations the split took, once split (it hands on when out of time)"
    ]
    planning: Annotated[
        Literal["parallel", "sequential"] | None,
        "How the split read the file, once split: by parts at once (a large plain file), or by "
        "one reader that resumes across invocations",
    ]
    retryable: Annotated[
        bool,
        "Whether POST /api/v1/uploads/{id}/retry can help: true for a failed upload whose "
        "cause was not the file itself, and for a processing one (refused unless stuck); false "
        "when the file must be fixed or sent again",
    ]
    warnings: Annotated[
        list[UploadWarning],
        "Once loaded, what the counts alone do not say: no data rows, every row rejected, most "
        "rows rejected for one reason (with the option that would read the file right)",
    ]


@dataclass(frozen=True)
class UploadSummary:
    """One upload in a listing: its state and row counts."""

    upload_id: str
    table: Annotated[str, "The table; for an object copied outside every table, what it named"]
    state: PublicState
    filename: str | None
    created_at: str
    rows_total: int | None
    rows_valid: int | None
    rows_rejected: int | None


@dataclass(frozen=True)
class UploadList:
    """Uploads, newest first."""

    uploads: list[UploadSummary]


def status(s3: S3Client, settings: Settings, upload_id: str) -> UploadStatus:
    """The public view of one upload.

    Raises:
        InvalidRequestError: malformed id.
        UploadNotFoundError: no such upload.
    """
    upload = state.find(s3, settings.bucket, upload_id)
    return describe(s3, settings, upload)


def describe(s3: S3Client, settings: Settings, upload: Upload) -> UploadStatus:
    bucket = settings.bucket
    chunks_done = len(completion.done_chunks(s3, bucket, upload.table, upload.upload_id))
    if upload.state == "loaded":
        chunks_done = upload.chunks_total or 0
    rejected_url = None
    rejects = keys.rejects_key(upload.table, upload.upload_id)
    if upload.state == "loaded" and storage.exists(s3, bucket, rejects):
        rejected_url = s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket, "Key": rejects},
            ExpiresIn=settings.presign_expires,
        )
    found = upload.detected or {}
    return UploadStatus(
        upload_id=upload.upload_id,
        table=upload.table,
        state=upload.public_state,
        filename=upload.filename,
        created_at=upload.created_at,
        updated_at=upload.updated_at,
        rows_total=upload.rows_total,
        rows_valid=upload.rows_valid,
        rows_rejected=upload.rows_rejected,
        chunks_total=upload.chunks_total,
        chunks_done=chunks_done,
        rejected_url=rejected_url,
        error=upload.error,
        options=options.from_json(upload.options),
        compression=found.get("compression"),
        encoding_read=found.get("encoding"),
        header_skipped=found.get("header_skipped"),
        split=found.get("split"),
        split_invocations=found.get("split_invocations"),
        planning=found.get("planning"),
        retryable=retryable(s3, bucket, upload),
        warnings=[UploadWarning(**w) for w in upload.warnings or []],
    )


def retryable(s3: S3Client, bucket: str, upload: Upload) -> bool:
    """Whether a re-drive can help ``upload`` (``redrive.retry_upload`` refuses the rest): not
    when its file is at fault, and not before its file is in ``raw/`` (a cancelled upload whose
    file never came: there is nothing to split)."""
    if upload.table not in TABLE_NAMES:
        return False
    if upload.state != "failed":
        return upload.public_state == "processing"
    if upload.retryable is False:
        return False
    if upload.chunks_total is None:
        return upload.source_key is not None and storage.exists(s3, bucket, upload.source_key)
    return True


def listing(s3: S3Client, settings: Settings, table: str | None) -> UploadList:
    """Uploads (of one table, if given), newest first.

    Raises:
        InvalidRequestError: unknown table.
    """
    if table is not None:
        get_table(table)
    return UploadList(
        [
            UploadSummary(
                upload_id=u.upload_id,
                table=u.table,
                state=u.public_state,
                filename=u.filename,
                created_at=u.created_at,
                rows_total=u.rows_total,
                rows_valid=u.rows_valid,
                rows_rejected=u.rows_rejected,
            )
            for u in state.list_uploads(s3, settings.bucket, table)
        ]
    )
