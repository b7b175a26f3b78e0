"""The route of batch rows: JSON rows validated and loaded while the client waits."""

from __future__ import annotations

from chalicelib import providers
from chalicelib.api import bodies, openapi_requests
from chalicelib.api.routing import Operation, Reply, Routes
from chalicelib.pipeline import rows

routes = Routes(__name__)


@routes.post(
    "/api/v1/tables/{table}/rows",
    Operation(
        f"Validate and load 1 to {rows.MAX_ROWS} rows now",
        Reply(200, rows.BatchResult, "Valid rows loaded; the rest explained"),
        body="RowsRequest",
        parameters=(openapi_requests.TABLE_PATH,),
    ),
    any_content=True,
)
def insert_rows(table: str) -> rows.BatchResult:
    body = bodies.any_json_body(routes.request)
    bodies.check_fields(body, ("rows",))
    return rows.insert_rows(
        providers.s3(), providers.warehouse(), providers.settings(), table, body
    )
