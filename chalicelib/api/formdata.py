"""Reading the parts of an HTTP request that are not JSON: multipart/form-data file fields.

The seed-compatible upload routes receive files as ``curl -F file=@departments.csv`` sends them.
The body is parsed with the standard library's ``email`` parser (a multipart/form-data body is a
MIME multipart message), so no extra package ships to Lambda. This module knows nothing of S3.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING

from chalicelib.errors import InvalidRequestError, PayloadTooLargeError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from email.message import EmailMessage

# Lambda accepts at most 6 MB per synchronous invocation, and API Gateway hands binary bodies
# to it base64-encoded (4/3 larger): 4 MiB of form data is about 5.6 MB in the event.
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
MAX_FORM_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class FormFile:
    """One file field of a form: the name the client gave it and its bytes, and the form's
    other (text) fields."""

    filename: str | None
    data: bytes
    fields: dict[str, str] = dataclass_field(default_factory=dict)


def read_file_field(
    content_type: str | None, body: bytes, field: str = "file", options: Sequence[str] = ()
) -> FormFile:
    """The file sent in the form field ``field`` of a multipart/form-data body, and the text
    fields named in ``options``.

    Raises:
        PayloadTooLargeError: the body is larger than ``MAX_FORM_BYTES``.
        InvalidRequestError: not multipart/form-data, no such field (or several), or an empty
            file. Other fields are ignored, as the original service ignored them.
    """
    if len(body) > MAX_FORM_BYTES:
        raise PayloadTooLargeError(
            f"the form is {len(body)} bytes; this route takes at most {MAX_FORM_BYTES} bytes. "
            "Send larger files through POST /api/v1/uploads (a presigned upload, up to 5 GB)",
            size=len(body),
        )
    message = _parse(content_type, body)
    named = [
        (part, str(part.get_param("name", header="content-disposition") or ""))
        for part in message.iter_parts()
        if part.get_content_disposition() == "form-data"
    ]
    parts = [part for part, name in named if name == field]
    if not parts:
        raise InvalidRequestError(f"the form has no field {field!r}", parameter=field)
    if len(parts) > 1:
        raise InvalidRequestError(f"the form has {len(parts)} fields {field!r}; send one")
    data = parts[0].get_payload(decode=True)
    if not isinstance(data, bytes) or not data:
        raise InvalidRequestError(f"the file in field {field!r} is empty", parameter=field)
    fields: dict[str, str] = {}
    for part, name in named:
        if name in options:
            value = part.get_payload(decode=True)
            fields[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else ""
    return FormFile(parts[0].get_filename(), data, fields)


def _parse(content_type: str | None, body: bytes) -> EmailMessage:
    """The body as a MIME message, if the content type says multipart/form-data with a boundary.

    Raises:
        InvalidRequestError: it does not, or the body holds no parts.
    """
    expected = "post multipart/form-data, the file in a field named 'file' (curl -F file=@a.csv)"
    header = (content_type or "").strip()
    if not header.lower().startswith("multipart/form-data") or "\r" in header or "\n" in header:
        raise InvalidRequestError(f"content type {header or 'none'!r} is not a form: {expected}")
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(b"Content-Type: " + header.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.get_boundary() or not message.is_multipart():
        raise InvalidRequestError(f"the form body could not be read: {expected}")
    return message


def public_base_url(headers: Mapping[str, str], context: Mapping[str, object]) -> str:
    """The URL prefix this request came in on (scheme, host, API Gateway stage), no final '/'."""
    host = headers.get("host") or "localhost"
    scheme = headers.get("x-forwarded-proto") or "http"
    path = str(context.get("path") or "")
    resource = str(context.get("resourcePath") or "")
    # Behind API Gateway the path carries the stage (/api/api/v1/...); the resource path does not.
    prefix = path[: -len(resource)] if resource and path.endswith(resource) else ""
    return f"{scheme}://{host}{prefix}"
