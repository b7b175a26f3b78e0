"""Reading requests, in one place: JSON bodies, raw bodies, query parameters, strict fields.

Every route reads its input through these functions, so a body that is not JSON, a JSON value
of the wrong kind or a misspelt field gets the same 400 on every route. A misspelt option
(``"encodng": "cp1252"``) is refused rather than ignored, naming the fields the route knows, so
the file is never read with a default the client did not ask for.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from chalice.app import Request


def raw_body(request: Request) -> bytes:
    """The body as sent (API Gateway hands binary types over as bytes, others as text)."""
    body = request.raw_body
    return body.encode() if isinstance(body, str) else body


def json_body(request: Request) -> Any:
    """The body parsed as JSON when the content type says JSON.

    Raises:
        InvalidRequestError: the body is not valid JSON.
    """
    try:
        return request.json_body
    except Exception:
        raise InvalidRequestError("body is not valid JSON") from None


def any_json_body(request: Request) -> Any:
    """The body parsed as JSON whatever the content type says; None when there is no body.

    Raises:
        InvalidRequestError: the body is not valid JSON.
    """
    body = raw_body(request)
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidRequestError("body is not valid JSON") from None


def query(request: Request, name: str) -> str | None:
    """One query-string parameter, or None."""
    given: Mapping[str, str] = request.query_params or {}
    value = given.get(name)
    return None if value is None else str(value)


def params(request: Request, known: Sequence[str]) -> dict[str, Any]:
    """The query string's parameters overlaid with the fields of a JSON object body; a field
    not in ``known`` is refused.

    Raises:
        InvalidRequestError: the body is not a JSON object, or holds an unknown field.
    """
    merged: dict[str, Any] = dict(request.query_params or {})
    body = any_json_body(request)
    if body is not None and not isinstance(body, dict):
        raise InvalidRequestError("body must be a JSON object")
    merged.update(body or {})
    check_fields(merged, known, "the request")
    return merged


def check_fields(body: Any, known: Sequence[str], what: str = "the body") -> None:
    """Refuse ``body`` (a JSON object; anything else is left to the caller) if it has a field
    not in ``known``.

    Raises:
        InvalidRequestError: an unknown field, named with the known ones.
    """
    if not isinstance(body, dict):
        return
    unknown = [name for name in body if name not in known]
    if unknown:
        shown = ", ".join(repr(name) for name in unknown[:5])
        plural = "s" if len(unknown) > 1 else ""
        raise InvalidRequestError(
            f"unknown field{plural} {shown} in {what}; known fields: {', '.join(known)}",
            parameter=str(unknown[0]),
        )
