"""Small typed helpers over an S3 client: JSON objects, existence checks, listing.

They take the client as an argument (the same code talks to moto locally and to AWS) and
turn "no such key" into ``None`` instead of an exception. Key layout lives in ``keys.py``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3 import S3Client

_MISSING = {"NoSuchKey", "404", "NotFound"}


def get_json(s3: S3Client, bucket: str, key: str) -> Any | None:
    """The parsed JSON object at ``key``, or None if there is none."""
    found = get_json_and_etag(s3, bucket, key)
    return None if found is None else found[0]


def get_json_and_etag(s3: S3Client, bucket: str, key: str) -> tuple[Any, str] | None:
    """The parsed JSON object at ``key`` and its ETag, or None if there is none."""
    try:
        found = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise
    return json.loads(found["Body"].read()), found["ETag"]


def put_json(s3: S3Client, bucket: str, key: str, value: Any) -> None:
    _put_json_if(s3, bucket, key, value, {}, ())


def put_json_if_absent(s3: S3Client, bucket: str, key: str, value: Any) -> bool:
    """Create ``key`` holding ``value`` unless it exists (S3 conditional write); False if it did.

    Of several concurrent writers exactly one succeeds on S3 (moto, the local stack's S3,
    checks and writes in two steps, so writers in the very same instant may both succeed
    there; the load ledger keeps that harmless). S3 may answer 409
    ConditionalRequestConflict to a write racing another; that error is left to the caller's
    retry policy (the retried write then finds the object and returns False).
    """
    return _put_json_if(s3, bucket, key, value, {"IfNoneMatch": "*"}, ("PreconditionFailed",))


def put_json_if_match(s3: S3Client, bucket: str, key: str, value: Any, etag: str) -> bool:
    """Replace the object at ``key`` only if its ETag is still ``etag``; False if it changed.

    A write racing another may get 409 ConditionalRequestConflict, left to the caller's retry
    policy like ``put_json_if_absent``.
    """
    refused = ("PreconditionFailed", *_MISSING)
    return _put_json_if(s3, bucket, key, value, {"IfMatch": etag}, refused)


def _put_json_if(
    s3: S3Client,
    bucket: str,
    key: str,
    value: Any,
    condition: dict[str, str],
    refused: tuple[str, ...],
) -> bool:
    """A JSON write under ``condition`` (none: always); False when S3 refuses it with one of the
    ``refused`` codes."""
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(value, sort_keys=True).encode(),
            ContentType="application/json",
            **condition,  # type: ignore[arg-type]
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in refused:
            return False
        raise
    return True


def exists(s3: S3Client, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            return False
        raise
    return True


def list_keys(s3: S3Client, bucket: str, prefix: str) -> Iterator[str]:
    """Every key under ``prefix``, in key order."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]


def list_folders(s3: S3Client, bucket: str, prefix: str) -> list[str]:
    """The next path segment of every key under ``prefix`` (like ``ls``), in key order."""
    names: list[str] = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/"
    )
    for page in pages:
        for item in page.get("CommonPrefixes", []):
            names.append(item["Prefix"][len(prefix) :].rstrip("/"))
    return names
