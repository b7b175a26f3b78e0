"""S3 rules the AWS emulator does not enforce, enforced in front of it, in its own process.

Hypercorn serves this ASGI app instead of ministack's: each request goes to ministack unchanged
unless it breaks one of the rules below, which S3 refuses and ministack (1.5.33) accepts; then it
is answered here with S3's error. Loaded by the emulator's interpreter (``emulator.py`` puts this
folder on its path), so it imports nothing of the project. One rule so far:

- A signed CopyObject of an object onto itself that changes nothing (no
  ``x-amz-metadata-directive: REPLACE``, storage class, website redirect or encryption, and no
  older version as the source): S3 answers 400 ``InvalidRequest``, "This copy request is illegal
  because it is trying to copy an object to itself without changing the object's metadata,
  storage class, website redirect location or encryption attributes" (Amazon S3 API Reference,
  "CopyObject", https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html). The
  pipeline's re-drive rewrites objects with ``REPLACE``; a copy without it must fail locally as
  it would in AWS.
"""

from __future__ import annotations

import functools
import importlib
import uuid
from typing import Any
from urllib.parse import unquote

# The headers whose presence makes a copy onto itself a change S3 accepts.
_CHANGES = (
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
    "x-amz-server-side-encryption",
)
_SELF_COPY = (
    "This copy request is illegal because it is trying to copy an object to itself without "
    "changing the object's metadata, storage class, website redirect location or encryption "
    "attributes."
)


@functools.cache
def _emulator() -> Any:
    """ministack's ASGI app, imported on first use (only the emulator's interpreter has it)."""
    return importlib.import_module("ministack.app").app


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def refusal(method: str, path: str, query: str, headers: dict[str, str]) -> tuple[str, str] | None:
    """The S3 error code and message for a request S3 refuses and the emulator would accept
    (``path`` percent-encoded, path-style ``/<bucket>/<key>``), or None to pass it on."""
    source = headers.get("x-amz-copy-source")
    signed = "authorization" in headers or "X-Amz-Signature=" in query
    if method != "PUT" or not source or not signed or "partNumber=" in query:
        return None
    source_path, _, source_query = source.partition("?")
    if "versionId=" in source_query:
        return None  # an older version copied over the current one is a change
    if unquote(source_path).lstrip("/") != unquote(path).lstrip("/"):
        return None
    if headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE":
        return None
    if any(name.startswith(_CHANGES) for name in headers):
        return None
    return "InvalidRequest", _SELF_COPY


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The emulator, behind the rules above."""
    if scope["type"] == "http":
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        refused = refusal(scope["method"], path, query, _headers(scope))
        if refused is not None:
            await _refuse(send, *refused)
            return
    await _emulator()(scope, receive, send)


async def _refuse(send: Any, code: str, message: str) -> None:
    request_id = str(uuid.uuid4())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/xml"),
                (b"content-length", str(len(body)).encode()),
                (b"x-amz-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
