"""Reply bodies that belong to no one service: the error reply every route shares, and health.

Owns the shape of ``{"error": {"code", "message"}}`` and the list of codes a client error can
carry (read from the error classes, so a new client error is documented by being written). The
mapping from exception to HTTP status stays on the exceptions (``errors.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from chalicelib.errors import IngestError


def _client_error_codes() -> tuple[str, ...]:
    found: set[str] = set()
    pending: list[type[IngestError]] = [IngestError]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if 400 <= cls.status_code < 500:
            found.add(cls.code)
    return tuple(sorted(found))


CLIENT_ERROR_CODES = _client_error_codes()


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


@dataclass(frozen=True)
class Health:
    """The API is up."""

    status: Literal["ok"] = "ok"
