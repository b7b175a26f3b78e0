"""The HTTP boundary: which status each error gets, the JSON body it carries, and the API key.

Domain code raises errors that say what went wrong (``errors.py``); only this module decides
the HTTP status, so the same error cannot reach two clients as two codes. An error with no
status here is a server fault: it is re-raised and Chalice answers a bare 500, with nothing of
its message shown. The key check runs once per request, before any route.
"""

from __future__ import annotations

import hmac
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Any

from chalice.app import Response

from chalicelib.errors import (
    BackupMismatchError,
    BackupNotFoundError,
    DuplicateUploadError,
    ForbiddenError,
    IngestError,
    InvalidRequestError,
    PayloadTooLargeError,
    RowValidationError,
    UnauthorizedError,
    UnreadableFileError,
    UploadNotFoundError,
    UploadStateError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from chalice.app import Request

# Looked up along each error's class hierarchy, so a subclass takes its parent's status.
STATUS: dict[type[IngestError], int] = {
    InvalidRequestError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    UploadNotFoundError: 404,
    BackupNotFoundError: 404,
    DuplicateUploadError: 409,
    UploadStateError: 409,
    PayloadTooLargeError: 413,
    RowValidationError: 422,
    BackupMismatchError: 422,
    UnreadableFileError: 422,
}


def status_of(error: type[IngestError]) -> int:
    """The HTTP status a reply to ``error`` carries; 500 for a server fault."""
    for cls in error.__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def client_error_codes() -> tuple[str, ...]:
    """The ``code`` values a 4xx reply can carry: those of every error given a 4xx status."""
    found: set[str] = set()
    pending: list[type[IngestError]] = [IngestError]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if 400 <= status_of(cls) < 500:
            found.add(cls.code)
    return tuple(sorted(found))


CLIENT_ERROR_CODES = client_error_codes()


@dataclass(frozen=True)
class ErrorDetail:
    """What went wrong: a stable code to branch on and a message for people."""

    code: Annotated[str, CLIENT_ERROR_CODES]
    message: str


@dataclass(frozen=True)
class ErrorReply:
    """The body of every 4xx reply (a 5xx has no documented body)."""

    error: ErrorDetail

    @classmethod
    def of(cls, exc: IngestError) -> ErrorReply:
        return cls(ErrorDetail(exc.code, exc.message))


def error_reply(exc: IngestError) -> Response | None:
    """The JSON reply to a client error; None for a server fault (the caller re-raises it)."""
    status = status_of(type(exc))
    if status >= 500:
        return None
    return Response(body=asdict(ErrorReply.of(exc)), status_code=status)


def key_refusal(
    request: Request | None, expected: str | None, *, required: bool
) -> Response | None:
    """The 401/403 reply for a request without the expected key; None when it may go on.

    With ``required`` a request is refused even when no key is set (it cannot be checked).
    """
    if not expected and not required:
        return None
    given = (request.headers.get("x-api-key") if request is not None else None) or ""
    if not given:
        return error_reply(UnauthorizedError("missing x-api-key header"))
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return error_reply(ForbiddenError("wrong API key"))
    return None


def api_key_middleware(
    public_paths: Collection[str], expected_key: Callable[[], str | None]
) -> Callable[[Request, Callable[[Request], Response]], Response]:
    """Middleware that refuses a request to any non-public route without the key.

    API Gateway checks keys in AWS (``api_key_required``); this enforces the same locally, where
    the app knows its key. Public paths (the console, liveness) pass untouched.
    """

    def require_api_key(request: Request, get_response: Callable[[Request], Response]) -> Response:
        context: dict[str, Any] = request.context or {}
        if context.get("resourcePath") not in public_paths:
            refused = key_refusal(request, expected_key(), required=False)
            if refused is not None:
                return refused
        return get_response(request)

    return require_api_key
