"""Routes about the API itself: liveness (and the deep health check), and its OpenAPI document."""

from __future__ import annotations

from chalice.app import Response

from chalicelib import providers
from chalicelib.api import bodies, boundary, health, openapi, openapi_requests
from chalicelib.api.routing import Operation, Reply, Routes

routes = Routes(__name__)


@routes.get(
    "/api/v1/health",
    Operation(
        "Liveness; with deep=true, reach S3 and the warehouse (needs the key)",
        Reply(200, health.Health | health.DeepHealth, "Up (deep: every dependency answered)"),
        ((401, "deep=true without the x-api-key header"), (403, "deep=true, wrong API key")),
        parameters=(openapi_requests.DEEP,),
        other_replies=(Reply(503, health.DeepHealth, "Deep: S3 or the warehouse failed"),),
        public=True,
    ),
)
def get_health() -> Response | health.Health:
    request = routes.request
    if bodies.query(request, "deep") not in ("true", "1"):
        return health.Health()
    # The route is public (API Gateway checks no key on it), so the deep check compares the
    # caller's key itself: with the app's own, or the deployed stage's.
    refused = boundary.key_refusal(request, providers.stage_key(), required=True)
    if refused is not None:
        return refused
    result = health.check(providers.s3(), providers.settings(), providers.statements)
    return Response(body=result.to_json(), status_code=200 if result.ok else 503)


@routes.get(
    "/api/v1/openapi.json",
    Operation("This document", Reply(200, openapi.OpenApiDocument, "OpenAPI 3.1 document"), ()),
)
def get_openapi() -> openapi.OpenApiDocument:
    return openapi.document(routes.blueprint.current_app.routes)
