"""Routes as data: each route's Chalice registration and its OpenAPI operation, side by side.

A ``Routes`` is a Chalice blueprint whose views return reply objects (a dataclass, a dict or a
``Response``) and raise project errors; it turns both into HTTP replies through the boundary
(``boundary.py``), so no view shapes an error or picks a status. Each route is registered with
its ``Operation`` (what the OpenAPI document says of it), and the document is built from the
app's registered routes and these operations (``openapi.py``): a route cannot exist without
being described, nor be described without existing. Public routes are recorded here too, and
the API-key middleware reads them from here.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, is_dataclass
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Response

from chalicelib.api import boundary
from chalicelib.errors import IngestError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from chalice.app import Request

# An error status alone takes its description from openapi.ERRORS; (status, text) says it for
# the route.
ErrorSpec = int | tuple[int, str]
# These routes read the body whatever its content type, so a wrong one gets the boundary's JSON
# 400 rather than Chalice's 415 in another shape.
ANY_CONTENT = ["*/*"]


@dataclass(frozen=True)
class Reply:
    """One documented reply: its status, the class (or union) its body is built from, and why."""

    status: int
    body: Any
    description: str


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says of one route."""

    summary: str
    ok: Reply
    errors: tuple[ErrorSpec, ...] = (400,)
    # The request body's name in ``openapi_requests.SCHEMAS``.
    body: str | None = None
    body_required: bool = True
    parameters: tuple[dict[str, Any], ...] = ()
    # Replies other than the success and the errors (the deep health check's 503).
    other_replies: tuple[Reply, ...] = ()
    public: bool = False


# The operation of every registered view, by view function (as the app's route table holds it).
OPERATIONS: dict[Callable[..., Any], Operation] = {}
# Views that are not part of the API (the console's pages), by view function.
UNDOCUMENTED: set[Callable[..., Any]] = set()
# Resource paths any client may call without the key.
PUBLIC_PATHS: set[str] = set()


def reply_body(result: Any) -> Any:
    """A view's result as a JSON-ready body: dataclasses become dicts, the rest is left as is."""
    if is_dataclass(result) and not isinstance(result, type):
        return asdict(result)
    return result


class Routes:
    """A blueprint of routes that reply through the boundary and describe themselves."""

    def __init__(self, import_name: str) -> None:
        self.blueprint = Blueprint(import_name)

    @property
    def request(self) -> Request:
        """The request being served."""
        return self.blueprint.current_request

    def route(
        self,
        path: str,
        method: str,
        operation: Operation | None,
        *,
        any_content: bool = False,
        public: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a view for ``method path``, documented by ``operation``; None keeps it out
        of the API document (the console's pages), and such a route must be ``public``."""
        public = public or (operation is not None and operation.public)
        if operation is None and not public:
            raise ValueError(f"{method} {path}: an API route needs its operation")

        def register(view: Callable[..., Any]) -> Callable[..., Any]:
            status = operation.ok.status if operation is not None else 200

            @functools.wraps(view)
            def replying(**params: Any) -> Response:
                try:
                    result = view(**params)
                except IngestError as exc:
                    reply = boundary.error_reply(exc)
                    if reply is None:
                        raise
                    return reply
                if isinstance(result, Response):
                    return result
                return Response(body=reply_body(result), status_code=status)

            if operation is None:
                UNDOCUMENTED.add(replying)
            else:
                OPERATIONS[replying] = operation
            if public:
                PUBLIC_PATHS.add(path)
            options: dict[str, Any] = {"methods": [method], "api_key_required": not public}
            if any_content:
                options["content_types"] = ANY_CONTENT
            self.blueprint.route(path, **options)(replying)
            return replying

        return register

    def get(
        self, path: str, operation: Operation | None, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, "GET", operation, **kwargs)

    def post(
        self, path: str, operation: Operation | None, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, "POST", operation, **kwargs)

    def delete(
        self, path: str, operation: Operation | None, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route(path, "DELETE", operation, **kwargs)


def route_table(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """Every API route of an app's route table (``app.routes``) as name -> (method, path), by
    its view's name; the console's pages are not part of the API."""
    table = {
        entry.view_function.__name__: (method, path)
        for path, methods in routes.items()
        for method, entry in methods.items()
        if entry.view_function not in UNDOCUMENTED
    }
    return dict(sorted(table.items()))
