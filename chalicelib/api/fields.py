"""Strict request bodies: a field the route does not know is an error, never silently ignored.

A misspelt option (``"encodng": "cp1252"``) would otherwise be accepted and the file read with
the default; the 400 names the fields the route knows, so the typo is obvious.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Sequence


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
