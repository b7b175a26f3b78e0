"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /api/v1/openapi.json``.

Built from the app's own route table: every registered route is a path of the document, and
its operation (summary, parameters, request body, replies) is the one it was registered with
(``routing.py``). A reply names the class its body is built from, and ``schema_gen`` writes that
class's component schema from its fields, so a reply cannot change shape without the document
following. Request bodies and parameters are data (``openapi_requests``). This module neither
serves nor checks requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from chalicelib.api import openapi_requests
from chalicelib.api.boundary import ErrorReply
from chalicelib.api.formdata import MAX_FORM_BYTES
from chalicelib.api.routing import OPERATIONS, UNDOCUMENTED, Operation
from chalicelib.api.schema_gen import Schema, SchemaSet

if TYPE_CHECKING:
    from collections.abc import Mapping

VERSION = "3.1.0"
ERRORS = {
    400: "The request is malformed (bad JSON, unknown table, bad parameter)",
    401: "No x-api-key header",
    403: "Wrong API key",
    404: "No such upload",
    409: "The upload is not in a state that allows this",
    413: f"The form is larger than {MAX_FORM_BYTES} bytes; use POST /api/v1/uploads",
    422: "The backup's files do not hold the rows its record says; nothing was restored",
}


class OpenApiDocument(TypedDict):
    """An OpenAPI 3.1 document: this API's routes, their parameters, bodies and replies."""

    openapi: str
    info: dict[str, Any]
    security: list[dict[str, list[str]]]
    paths: dict[str, Any]
    components: dict[str, Any]


def _json(schema: Schema, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class _Operations:
    """Writes operations, collecting the reply classes' component schemas on the way."""

    def __init__(self) -> None:
        self.schemas = SchemaSet()

    def _schema(self, body: Any) -> Schema:
        # A class is a component; a union of classes (one route, two shapes) is written inline.
        return self.schemas.ref(body) if isinstance(body, type) else self.schemas.of(body)

    def write(self, op: Operation) -> dict[str, Any]:
        responses = {str(op.ok.status): _json(self._schema(op.ok.body), op.ok.description)}
        for spec in (*op.errors, *(() if op.public else (401, 403))):
            code, text = spec if isinstance(spec, tuple) else (spec, ERRORS[spec])
            responses[str(code)] = _json(self.schemas.ref(ErrorReply), text)
        for other in op.other_replies:
            responses[str(other.status)] = _json(self._schema(other.body), other.description)
        written: dict[str, Any] = {"summary": op.summary, "responses": responses}
        if op.body is not None:
            written["requestBody"] = {
                **openapi_requests.body(op.body),
                "required": op.body_required,
            }
        if op.parameters:
            written["parameters"] = list(op.parameters)
        if op.public:
            written["security"] = []
        return written


def operations(routes: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], Operation]:
    """The operation of every documented route of a Chalice route table, by (path, method).

    Raises:
        LookupError: a route was registered without an operation (outside ``routing.Routes``).
    """
    found: dict[tuple[str, str], Operation] = {}
    for path, methods in routes.items():
        for method, entry in methods.items():
            view = entry.view_function
            if view in UNDOCUMENTED:
                continue
            if view not in OPERATIONS:
                raise LookupError(f"{method} {path} has no OpenAPI operation")
            found[path, method] = OPERATIONS[view]
    return found


def document(routes: Mapping[str, Mapping[str, Any]]) -> OpenApiDocument:
    """The whole OpenAPI document of an app's route table (``app.routes``)."""
    writer = _Operations()
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), op in operations(routes).items():
        paths.setdefault(path, {})[method.lower()] = writer.write(op)
    return {
        "openapi": VERSION,
        "info": {
            "title": "csv-ingest",
            "version": "1",
            "description": "Load HR CSV files into Amazon Redshift. Every route but health needs "
            'the x-api-key header; errors are {"error": {"code", "message"}}.',
        },
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "schemas": {**openapi_requests.SCHEMAS, **writer.schemas.components},
        },
    }
