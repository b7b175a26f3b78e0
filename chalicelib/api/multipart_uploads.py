"""Multipart uploads for files a presigned POST cannot carry (over 5 GB), and cancelling uploads.

Owns the S3 multipart upload behind ``POST /api/v1/multipart-uploads``: it starts the upload at
the same ``raw/<table>/<upload_id>/<file>`` key a presigned POST would use, signs one PUT URL
per part, checks the parts add up to the declared size, and completes it, which fires the same
ObjectCreated event as any other upload. Cancelling aborts the S3 upload (so no parts linger)
and marks a ``waiting`` upload failed. It does not touch the pipeline stages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from botocore.exceptions import ClientError

from chalicelib import keys
from chalicelib.api.bodies import check_fields
from chalicelib.api.uploads import check_size, named_file
from chalicelib.csvfile.options import OPTION_NAMES, parse_options
from chalicelib.errors import InvalidRequestError, UploadStateError
from chalicelib.pipeline import state
from chalicelib.pipeline.state import Upload, now_iso

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings

MiB = 1024**2
# S3's multipart limits: https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
MIN_PART_BYTES = 5 * MiB
MAX_PART_BYTES = 5 * 1024**3
MAX_PARTS = 10_000
MAX_OBJECT_BYTES = 5 * 1024**4
DEFAULT_PART_BYTES = 64 * MiB
MAX_URLS_PER_REQUEST = 100
CANCELLED = "cancelled by the client before the file was complete"


@dataclass(frozen=True)
class MultipartUpload:
    """A started multipart upload: where it goes and how to cut the file."""

    upload_id: str
    key: str
    size: int
    part_size: int
    part_count: int
    expires_in: Annotated[int, "Seconds each presigned part URL stays valid"]


@dataclass(frozen=True)
class SignedPart:
    """Where to PUT one part's bytes."""

    part_number: int
    url: str


@dataclass(frozen=True)
class SignedParts:
    """One presigned PUT URL per requested part, by part number."""

    parts: list[SignedPart]


@dataclass(frozen=True)
class Completed:
    """A multipart upload S3 has put together: the file is in ``raw/`` and the pipeline starts."""

    upload_id: str
    key: str
    size: int


@dataclass(frozen=True)
class Cancelled:
    """A cancelled upload: failed, its multipart upload (if any) aborted."""

    upload_id: str
    state: Literal["failed"]
    error: str


def plan_parts(size: Any, requested: Any = None) -> tuple[int, int]:
    """(part size, part count) for a file of ``size`` bytes: whole MiB, within S3's limits.

    Raises:
        InvalidRequestError: the size or the requested part size is out of range.
    """
    if type(size) is not int or not 1 <= size <= MAX_OBJECT_BYTES:
        raise InvalidRequestError(
            f"size must be an integer number of bytes from 1 to {MAX_OBJECT_BYTES}, got {size!r}",
            parameter="size",
        )
    if requested is not None and (
        type(requested) is not int or not MIN_PART_BYTES <= requested <= MAX_PART_BYTES
    ):
        raise InvalidRequestError(
            f"part_size must be an integer from {MIN_PART_BYTES} to {MAX_PART_BYTES}, "
            f"got {requested!r}",
            parameter="part_size",
        )
    # At most MAX_PARTS parts: a bigger file gets bigger parts than asked for.
    smallest = math.ceil(math.ceil(size / MAX_PARTS) / MiB) * MiB
    part_size = max(requested or DEFAULT_PART_BYTES, smallest)
    return part_size, max(1, math.ceil(size / part_size))


def create(s3: S3Client, settings: Settings, body: Any) -> MultipartUpload:
    """Register an upload and start its S3 multipart upload.

    Raises:
        InvalidRequestError: the body is not {"filename", "size"[, "table", "part_size"]}
            (the table, when left out, guessed from the file name).
    """
    if not isinstance(body, dict):
        raise InvalidRequestError("body must be a JSON object with filename and size")
    check_fields(body, ("table", "filename", "size", "part_size", *OPTION_NAMES))
    table, filename = named_file(body)
    size = check_size(body.get("size"), filename, MAX_OBJECT_BYTES)
    part_size, part_count = plan_parts(size, body.get("part_size"))
    read_as = parse_options(body)
    upload_id = keys.new_upload_id()
    key = keys.raw_key(table.name, upload_id, filename)
    started = s3.create_multipart_upload(Bucket=settings.bucket, Key=key, ContentType="text/csv")
    created = now_iso()
    multipart = {
        "id": started["UploadId"],
        "size": size,
        "part_size": part_size,
        "part_count": part_count,
    }
    state.create(
        s3,
        settings.bucket,
        Upload(
            upload_id,
            table.name,
            "waiting",
            created,
            created,
            source_key=key,
            filename=filename,
            extra={"multipart": multipart},
            options=read_as.to_json(),
        ),
    )
    return MultipartUpload(upload_id, key, size, part_size, part_count, settings.presign_expires)


def _waiting_multipart(s3: S3Client, settings: Settings, upload_id: str) -> Upload:
    upload = state.find(s3, settings.bucket, upload_id)
    if "multipart" not in upload.extra:
        raise UploadStateError(f"upload {upload_id} is not a multipart upload", upload_id=upload_id)
    if upload.state != "waiting":
        raise UploadStateError(
            f"upload {upload_id} is {upload.public_state}, not waiting for parts",
            upload_id=upload_id,
        )
    return upload


def _part_numbers(body: Any, count: int) -> list[int]:
    check_fields(body, ("part_numbers",))
    numbers = body.get("part_numbers") if isinstance(body, dict) else None
    if (
        not isinstance(numbers, list)
        or not 1 <= len(numbers) <= MAX_URLS_PER_REQUEST
        or any(type(n) is not int or not 1 <= n <= count for n in numbers)
    ):
        raise InvalidRequestError(
            f"part_numbers must be a list of 1 to {MAX_URLS_PER_REQUEST} part numbers "
            f"from 1 to {count}",
            parameter="part_numbers",
        )
    return sorted(set(numbers))


def sign_parts(s3: S3Client, settings: Settings, upload_id: str, body: Any) -> SignedParts:
    """A presigned PUT URL for each requested part number.

    Raises:
        InvalidRequestError: malformed id or part numbers.
        UploadNotFoundError: no such upload.
        UploadStateError: not a multipart upload, or no longer waiting for parts.
    """
    upload = _waiting_multipart(s3, settings, upload_id)
    multipart = upload.extra["multipart"]
    return SignedParts(
        [
            SignedPart(
                n,
                s3.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": settings.bucket,
                        "Key": upload.source_key,
                        "UploadId": multipart["id"],
                        "PartNumber": n,
                    },
                    ExpiresIn=settings.presign_expires,
                ),
            )
            for n in _part_numbers(body, multipart["part_count"])
        ]
    )


def _etags(body: Any, count: int) -> list[dict[str, Any]]:
    check_fields(body, ("parts",))
    parts = body.get("parts") if isinstance(body, dict) else None
    if not isinstance(parts, list) or not all(
        isinstance(p, dict)
        and type(p.get("part_number")) is int
        and isinstance(p.get("etag"), str)
        and p["etag"]
        for p in parts
    ):
        raise InvalidRequestError(
            'parts must be a list of {"part_number": n, "etag": "..."}', parameter="parts"
        )
    numbers = sorted(p["part_number"] for p in parts)
    if numbers != list(range(1, count + 1)):
        raise InvalidRequestError(
            f"parts must list every part from 1 to {count} once", parameter="parts"
        )
    return [
        {"PartNumber": p["part_number"], "ETag": p["etag"]}
        for p in sorted(parts, key=lambda p: p["part_number"])
    ]


def _uploaded_bytes(s3: S3Client, bucket: str, key: str, multipart_id: str) -> int:
    total = 0
    pages = s3.get_paginator("list_parts").paginate(Bucket=bucket, Key=key, UploadId=multipart_id)
    for page in pages:
        total += sum(part["Size"] for part in page.get("Parts", []))
    return total


def complete(s3: S3Client, settings: Settings, upload_id: str, body: Any) -> Completed:
    """Check the parts add up to the declared size, then complete the S3 upload.

    Raises:
        InvalidRequestError: the parts list is malformed, incomplete, or does not match S3's.
        UploadNotFoundError: no such upload.
        UploadStateError: not a multipart upload, or no longer waiting for parts.
    """
    upload = _waiting_multipart(s3, settings, upload_id)
    multipart = upload.extra["multipart"]
    parts = _etags(body, multipart["part_count"])
    key = str(upload.source_key)
    uploaded = _uploaded_bytes(s3, settings.bucket, key, multipart["id"])
    if uploaded != multipart["size"]:
        raise InvalidRequestError(
            f"the parts hold {uploaded} bytes but the upload declared {multipart['size']}",
            upload_id=upload_id,
        )
    try:
        s3.complete_multipart_upload(
            Bucket=settings.bucket,
            Key=key,
            UploadId=multipart["id"],
            MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload"):
            raise InvalidRequestError(
                f"S3 refused to complete the upload: {code}", upload_id=upload_id
            ) from None
        raise
    return Completed(upload_id, key, multipart["size"])


def cancel(s3: S3Client, settings: Settings, upload_id: str) -> Cancelled:
    """Cancel an upload whose file never arrived: abort its S3 multipart upload, mark it failed.

    Raises:
        InvalidRequestError: malformed id.
        UploadNotFoundError: no such upload.
        UploadStateError: the file already arrived (the upload is processing or done).
    """
    upload = state.find(s3, settings.bucket, upload_id)
    if upload.state != "waiting":
        raise UploadStateError(
            f"upload {upload_id} is {upload.public_state}; only a waiting upload can be cancelled",
            upload_id=upload_id,
        )
    multipart = upload.extra.get("multipart")
    if multipart:
        try:
            s3.abort_multipart_upload(
                Bucket=settings.bucket, Key=str(upload.source_key), UploadId=multipart["id"]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
    state.advance(s3, settings.bucket, upload, "failed", error=CANCELLED)
    return Cancelled(upload_id, "failed", CANCELLED)
