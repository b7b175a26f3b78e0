"""Routes declared with their operations: replies through the boundary, a route table for the
clients, and an OpenAPI document that has exactly the app's routes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from chalice.app import Chalice
from chalice.test import Client

from app import app
from chalicelib.api import openapi
from chalicelib.api.routing import OPERATIONS, PUBLIC_PATHS, Operation, Reply, Routes, route_table
from chalicelib.errors import ConfigError, UploadNotFoundError


@dataclass(frozen=True)
class Thing:
    """A reply."""

    name: str


def _app() -> Chalice:
    routes = Routes(__name__)

    @routes.get("/things/{name}", Operation("A thing", Reply(200, Thing, "It"), (404,)))
    def get_thing(name: str) -> Thing:
        if name == "missing":
            raise UploadNotFoundError(f"no thing {name}")
        if name == "broken":
            raise ConfigError("a server fault")
        return Thing(name)

    @routes.post("/things", Operation("Make one", Reply(201, Thing, "Made")))
    def make_thing() -> Thing:
        return Thing("new")

    test_app = Chalice(app_name="routing-test")
    test_app.register_blueprint(routes.blueprint)
    return test_app


def test_routing_views_reply_through_the_boundary() -> None:
    with Client(_app()) as client:
        ok = client.http.get("/things/a")
        assert (ok.status_code, ok.json_body) == (200, {"name": "a"})
        made = client.http.post("/things")
        assert made.status_code == 201
        missing = client.http.get("/things/missing")
        assert missing.status_code == 404
        assert missing.json_body == {"error": {"code": "not_found", "message": "no thing missing"}}
        broken = client.http.get("/things/broken")
        assert broken.status_code == 500 and "a server fault" not in broken.body.decode()


def test_routing_an_api_route_needs_its_operation() -> None:
    with pytest.raises(ValueError, match="needs its operation"):
        Routes(__name__).get("/undescribed", None)


def test_routing_openapi_paths_are_the_apps_routes() -> None:
    document = openapi.document(app.routes)
    documented = {(p, m.upper()) for p, ops in document["paths"].items() for m in ops}
    registered = {(p, m) for p, ms in app.routes.items() for m in ms if p.startswith("/api/")}
    assert documented == registered


def test_routing_a_route_without_an_operation_cannot_be_documented() -> None:
    bare = Chalice(app_name="bare")

    @bare.route("/api/v1/bare")
    def bare_view() -> dict[str, str]:
        return {}

    with pytest.raises(LookupError, match="/api/v1/bare"):
        openapi.document(bare.routes)


def test_routing_public_paths_are_the_console_and_health_only() -> None:
    assert {"/api/v1/health", "/", "/console", "/console/{name}"} <= PUBLIC_PATHS
    assert not any(p.startswith("/api/") and p != "/api/v1/health" for p in PUBLIC_PATHS)
    for path, methods in app.routes.items():
        for entry in methods.values():
            assert entry.api_key_required is (path not in PUBLIC_PATHS)


def test_routing_route_table_names_each_api_route_by_its_view() -> None:
    table = route_table(app.routes)
    assert table["get_upload"] == ("GET", "/api/v1/uploads/{upload_id}")
    assert table["create_upload"] == ("POST", "/api/v1/uploads")
    assert not any(path.startswith("/console") or path == "/" for _, path in table.values())
    assert len(table) == sum(1 for view in OPERATIONS if view.__name__ in table)
