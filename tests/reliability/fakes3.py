"""An in-memory S3 client with the calls the pipeline makes, ~100x faster than in-process moto.

Replay and fault tests run the whole pipeline hundreds of times; on moto each run costs a second.
This fake keeps the parts of S3's behaviour the code relies on (botocore's own ``StreamingBody``
and ``ClientError`` with S3's error codes, ETags as MD5, ``IfMatch`` on reads and writes,
``IfNoneMatch`` on writes, listing by prefix and delimiter in UTF-8 key order, in pages with
continuation tokens and start-after, copying an object onto itself) and nothing else.
``test_s3_contract.py`` runs the same checks of that behaviour against this fake and moto, and
``test_fake_s3_agrees_with_moto`` runs the same files through both and compares the outcomes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from botocore.response import StreamingBody

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class _Object:
    body: bytes
    etag: str
    modified: datetime
    content_type: str = "binary/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


def _error(code: str, status: int, operation: str, message: str = "") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message or code},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


def _utf8(item: tuple[str, Any]) -> bytes:
    return item[0].encode()


def _bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return bytes(body.read())


class _Paginator:
    def __init__(self, s3: FakeS3) -> None:
        self._s3 = s3

    def paginate(
        self,
        PaginationConfig: dict[str, Any] | None = None,  # noqa: N803
        **kwargs: Any,
    ) -> Iterator[dict[str, Any]]:
        size = (PaginationConfig or {}).get("PageSize")
        if size:
            kwargs["MaxKeys"] = size
        while True:
            page = self._s3.list_objects_v2(**kwargs)
            yield page
            if not page["IsTruncated"]:
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        raise _error("InvalidArgument", 400, "ListObjectsV2", "bad continuation token") from None


class FakeS3:
    """One or more buckets in a dict, guarded by a lock (handlers may run on threads)."""

    def __init__(self, *buckets: str) -> None:
        self._buckets: dict[str, dict[str, _Object]] = {b: {} for b in buckets}
        self._lock = threading.RLock()
        self.calls: list[tuple[str, str, str]] = []  # (operation, bucket, key or prefix)

    def _bucket(self, name: str, operation: str) -> dict[str, _Object]:
        if name not in self._buckets:
            raise _error("NoSuchBucket", 404, operation)
        return self._buckets[name]

    def _get(self, bucket: str, key: str, operation: str, missing: str = "NoSuchKey") -> _Object:
        obj = self._bucket(bucket, operation).get(key)
        if obj is None:
            raise _error(missing, 404, operation)
        return obj

    def put_object(
        self,
        *,
        Bucket: str,  # noqa: N803 - boto3's parameter names
        Key: str,  # noqa: N803
        Body: Any = b"",  # noqa: N803
        ContentType: str = "binary/octet-stream",  # noqa: N803
        Metadata: dict[str, str] | None = None,  # noqa: N803
        IfNoneMatch: str | None = None,  # noqa: N803
        IfMatch: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        data = _bytes(Body)
        etag = f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324 - S3's ETag is an MD5
        with self._lock:
            self.calls.append(("PutObject", Bucket, Key))
            objects = self._bucket(Bucket, "PutObject")
            # Conditional writes: checked and written under one lock, atomic as in S3.
            if IfNoneMatch == "*" and Key in objects:
                raise _error("PreconditionFailed", 412, "PutObject")
            if IfMatch is not None:
                if Key not in objects:
                    raise _error("NoSuchKey", 404, "PutObject")
                if IfMatch.strip('"') != objects[Key].etag.strip('"'):
                    raise _error("PreconditionFailed", 412, "PutObject")
            objects[Key] = _Object(data, etag, datetime.now(UTC), ContentType, dict(Metadata or {}))
        return {"ETag": etag}

    def get_object(
        self,
        *,
        Bucket: str,  # noqa: N803
        Key: str,  # noqa: N803
        IfMatch: str | None = None,  # noqa: N803
        Range: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        with self._lock:
            self.calls.append(("GetObject", Bucket, Key))
            obj = self._get(Bucket, Key, "GetObject")
        if IfMatch is not None and IfMatch.strip('"') != obj.etag.strip('"'):
            raise _error("PreconditionFailed", 412, "GetObject")
        body = obj.body
        if Range is not None:
            body = _byte_range(body, Range)
        return {
            "Body": StreamingBody(io.BytesIO(body), len(body)),
            "ContentLength": len(body),
            "ETag": obj.etag,
            "LastModified": obj.modified,
            "ContentType": obj.content_type,
            "Metadata": dict(obj.metadata),
        }

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        with self._lock:
            self.calls.append(("HeadObject", Bucket, Key))
            obj = self._get(Bucket, Key, "HeadObject", missing="404")
        return {
            "ContentLength": len(obj.body),
            "ETag": obj.etag,
            "LastModified": obj.modified,
            "ContentType": obj.content_type,
            "Metadata": dict(obj.metadata),
        }

    def copy_object(
        self,
        *,
        Bucket: str,  # noqa: N803
        Key: str,  # noqa: N803
        CopySource: dict[str, str],  # noqa: N803
        MetadataDirective: str = "COPY",  # noqa: N803
        Metadata: dict[str, str] | None = None,  # noqa: N803
        ContentType: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        with self._lock:
            self.calls.append(("CopyObject", Bucket, Key))
            source = self._get(CopySource["Bucket"], CopySource["Key"], "CopyObject")
            if (CopySource["Bucket"], CopySource["Key"]) == (Bucket, Key) and (
                MetadataDirective != "REPLACE"
            ):
                raise _error("InvalidRequest", 400, "CopyObject", "copy onto itself")
            replace = MetadataDirective == "REPLACE"
            self._bucket(Bucket, "CopyObject")[Key] = _Object(
                source.body,
                source.etag,
                datetime.now(UTC),
                (ContentType or source.content_type) if replace else source.content_type,
                dict(Metadata or {}) if replace else dict(source.metadata),
            )
        return {"CopyObjectResult": {"ETag": source.etag}}

    def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        with self._lock:
            self.calls.append(("DeleteObject", Bucket, Key))
            self._bucket(Bucket, "DeleteObject").pop(Key, None)
        return {}

    def upload_fileobj(
        self,
        Fileobj: Any,  # noqa: N803
        Bucket: str,  # noqa: N803
        Key: str,  # noqa: N803
        ExtraArgs: dict[str, Any] | None = None,  # noqa: N803
        Config: Any = None,  # noqa: N803 - a TransferConfig; one put is one part here
    ) -> None:
        extra = ExtraArgs or {}
        self.put_object(
            Bucket=Bucket,
            Key=Key,
            Body=Fileobj.read(),
            ContentType=extra.get("ContentType", "binary/octet-stream"),
        )

    def upload_file(  # noqa: D417
        self,
        Filename: str,  # noqa: N803
        Bucket: str,  # noqa: N803
        Key: str,  # noqa: N803
        Config: Any = None,  # noqa: N803
    ) -> None:
        self.put_object(Bucket=Bucket, Key=Key, Body=Path(Filename).read_bytes())

    def download_file(
        self,
        Bucket: str,  # noqa: N803
        Key: str,  # noqa: N803
        Filename: str,  # noqa: N803
        Config: Any = None,  # noqa: N803
    ) -> None:
        with self._lock:
            self.calls.append(("GetObject", Bucket, Key))
            data = self._get(Bucket, Key, "GetObject").body
        Path(Filename).write_bytes(data)

    def list_objects_v2(
        self,
        *,
        Bucket: str,  # noqa: N803
        Prefix: str = "",  # noqa: N803
        Delimiter: str | None = None,  # noqa: N803
        MaxKeys: int = 1000,  # noqa: N803
        StartAfter: str = "",  # noqa: N803
        ContinuationToken: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        with self._lock:
            self.calls.append(("ListObjectsV2", Bucket, Prefix))
            # S3 lists in the order of the keys' UTF-8 bytes.
            items = sorted(self._bucket(Bucket, "ListObjectsV2").items(), key=_utf8)
        # A page resumes after the last entry of the one before (a key, or a folder whose keys
        # were all rolled into it), or after StartAfter.
        after = _untoken(ContinuationToken) if ContinuationToken else StartAfter
        skip_folder = bool(Delimiter) and after.endswith(Delimiter or "\0")
        entries: list[tuple[str, _Object | None]] = []
        for key, obj in items:
            if not key.startswith(Prefix) or (after and key.encode() <= after.encode()):
                continue
            if skip_folder and key.startswith(after):
                continue
            rest = key[len(Prefix) :]
            if Delimiter and Delimiter in rest:
                folder = Prefix + rest.split(Delimiter, 1)[0] + Delimiter
                if entries and entries[-1][0] == folder:
                    continue  # keys of one folder are adjacent in key order
                entries.append((folder, None))
            else:
                entries.append((key, obj))
            if len(entries) > MaxKeys:
                break
        page_entries = entries[:MaxKeys]
        contents = [
            {"Key": key, "LastModified": obj.modified, "Size": len(obj.body), "ETag": obj.etag}
            for key, obj in page_entries
            if obj is not None
        ]
        folders = [key for key, obj in page_entries if obj is None]
        page: dict[str, Any] = {
            "Name": Bucket,
            "Prefix": Prefix,
            "MaxKeys": MaxKeys,
            "KeyCount": len(page_entries),
            "IsTruncated": len(entries) > MaxKeys,
        }
        if page["IsTruncated"]:
            page["NextContinuationToken"] = _token(page_entries[-1][0])
        if contents:
            page["Contents"] = contents
        if folders:
            page["CommonPrefixes"] = [{"Prefix": f} for f in folders]
        return page

    def get_paginator(self, operation: str) -> _Paginator:
        if operation != "list_objects_v2":
            raise NotImplementedError(operation)
        return _Paginator(self)

    def keys(self, bucket: str) -> set[str]:
        with self._lock:
            return set(self._buckets[bucket])


def _byte_range(body: bytes, header: str) -> bytes:
    """The bytes a ``Range: bytes=first-[last]`` header asks for, as S3 serves them."""
    first, _, last = header.removeprefix("bytes=").partition("-")
    start = int(first)
    if start >= len(body):
        raise _error("InvalidRange", 416, "GetObject")
    return body[start : int(last) + 1] if last else body[start:]
