"""The HTTP contract: API keys on every route but health, JSON errors, presigned POST policy."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import requests

from chalicelib import console
from tests.functional.conftest import STACK_KEY
from tests.reliability.ledger import LEDGER

if TYPE_CHECKING:
    from devstack.client import ApiClient
    from devstack.stack import LocalStack

UID = "20261126T031500Z-0123456789ab"
# (headers, query string, expected status): no key, an empty one, wrong or near-miss keys, the
# right key in the wrong place.
BAD_CREDENTIALS: list[tuple[dict[str, str], dict[str, str], int]] = [
    ({}, {}, 401),
    ({"x-api-key": ""}, {}, 401),
    ({"x-api-key": "nope"}, {}, 403),
    ({"x-api-key": STACK_KEY.upper()}, {}, 403),
    ({"x-api-key": STACK_KEY[:-1]}, {}, 403),
    ({"x-api-key": STACK_KEY + "x"}, {}, 403),
    ({"x-api-key": f"Bearer {STACK_KEY}"}, {}, 403),
    ({"Authorization": STACK_KEY}, {}, 401),
    ({}, {"x-api-key": STACK_KEY, "api_key": STACK_KEY}, 401),
]


def all_routes(stack: LocalStack) -> list[tuple[str, str]]:
    assert stack.app_module is not None
    routes = stack.app_module.app.routes
    return sorted((method, path) for path, entries in routes.items() for method in entries)


def _url(stack: LocalStack, path: str) -> str:
    return stack.api_url + re.sub(r"\{[a-z_]+\}", UID, path)


def test_every_route_but_health_refuses_a_missing_or_wrong_key(stack: LocalStack) -> None:
    assert stack.app_module is not None
    routes = all_routes(stack)
    assert len(routes) >= 6
    replies: list[tuple[str, str, dict[str, str], int, requests.Response]] = []
    health: list[requests.Response] = []
    for method, path in routes:
        if path == "/api/v1/health":
            health.append(requests.request(method, _url(stack, path), timeout=10))
            continue
        if path in console.PUBLIC_PATHS:  # the console's page and files hold no data
            assert not stack.app_module.app.routes[path][method].api_key_required
            public = stack.api_url + path.replace("{name}", "main.js")
            assert requests.request(method, public, timeout=10).status_code == 200
            continue
        # In AWS, API Gateway checks the key before the app runs; only flagged routes get that.
        assert stack.app_module.app.routes[path][method].api_key_required, (method, path)
        for headers, params, status in BAD_CREDENTIALS:
            reply = requests.request(
                method, _url(stack, path), headers=headers, params=params, timeout=10
            )
            replies.append((method, path, headers, status, reply))
    statuses = [reply.status_code for *_, reply in replies]
    LEDGER.add(
        "access",
        "every route but health: no key, wrong keys, key in the wrong place",
        requests=len(statuses),
        refused=sum(1 for status in statuses if 400 <= status < 500),
        server_errors=sum(1 for status in statuses if status >= 500),
    )
    assert [(r.status_code, r.json()) for r in health] == [(200, {"status": "ok"})]
    for method, path, headers, status, reply in replies:
        # In AWS, API Gateway checks the key before the app runs; only flagged routes get that.
        assert stack.app_module.app.routes[path][method].api_key_required, (method, path)
        assert reply.status_code == status, (method, path, headers)
        code = "unauthorized" if status == 401 else "forbidden"
        assert reply.json()["error"]["code"] == code
        assert STACK_KEY not in reply.text and "nope" not in reply.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"table": "payroll", "filename": "a.csv", "size": 10}, "unknown table 'payroll'"),
        ({"table": "jobs", "filename": "", "size": 10}, "filename must be the file's name"),
        ({"table": "jobs", "filename": "a\x00.csv", "size": 10}, "filename must be"),
        ({"filename": "export.csv", "size": 10}, "which table is 'export.csv' for?"),
        ({"table": "jobs", "filename": "a.csv", "size": 0}, "a.csv is empty (0 bytes)"),
        ({"table": "jobs", "filename": "a.csv", "size": "10"}, "size must be"),
        ({"table": "jobs", "filename": "a.csv", "size": 6 * 1024**3}, "size must be"),
        ([1, 2], "JSON object"),
    ],
)
def test_create_upload_refuses_bad_bodies_with_json_errors(
    api: ApiClient, body: Any, fragment: str
) -> None:
    reply = requests.post(
        f"{api.base_url}/api/v1/uploads", json=body, headers={"x-api-key": api.api_key}, timeout=10
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_request"
    assert fragment in reply.json()["error"]["message"]


def test_create_upload_refuses_a_body_that_is_not_json(api: ApiClient) -> None:
    reply = requests.post(
        f"{api.base_url}/api/v1/uploads",
        data="{nope",
        headers={"x-api-key": api.api_key, "content-type": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 400
    assert "not valid JSON" in reply.json()["error"]["message"]


def test_presigned_post_is_limited_to_one_key_size_and_expiry(api: ApiClient) -> None:
    reply = requests.post(
        f"{api.base_url}/api/v1/uploads",
        json={"table": "jobs", "filename": "jobs.csv", "size": 123},
        headers={"x-api-key": api.api_key},
        timeout=10,
    )
    grant = reply.json()
    fields = grant.get("fields") or {}
    conditions = json.loads(base64.b64decode(fields.get("policy", "e30="))).get("conditions", [])
    # A starts-with condition on $key would let the holder choose another key.
    open_keys = [c for c in conditions if isinstance(c, list) and c[0] == "starts-with"]
    LEDGER.add(
        "access",
        "presigned POST policy decoded",
        requests=1,
        refused=int(400 <= reply.status_code < 500),
        server_errors=int(reply.status_code >= 500),
        outside=len(open_keys),
    )
    assert reply.status_code == 201, reply.text
    assert grant["key"] == f"raw/jobs/{grant['upload_id']}/jobs.csv"
    assert grant["expires_in"] == 900
    assert grant["fields"]["key"] == grant["key"]
    policy = json.loads(base64.b64decode(grant["fields"]["policy"]))
    assert ["eq", "$key", grant["key"]] in conditions
    assert ["content-length-range", 123, 123] in conditions
    assert {"bucket": "ingest-local"} in conditions
    assert {"Content-Type": "text/csv"} in conditions
    assert open_keys == []
    expiry = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert 840 <= (expiry - datetime.now(UTC)).total_seconds() <= 901
    status = api.status(grant["upload_id"])
    assert (status["state"], status["rows_total"]) == ("waiting", None)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"/api/v1/uploads/{UID}", 404, "not_found"),
        ("/api/v1/uploads/not-an-id", 400, "invalid_request"),
        ("/api/v1/uploads?table=nope", 400, "invalid_request"),
        ("/api/v1/reports/hires-by-quarter", 400, "invalid_request"),
        ("/api/v1/reports/hires-by-quarter?year=20x1", 400, "invalid_request"),
        (
            "/api/v1/reports/departments-above-mean?year=1%3B%20DROP%20TABLE%20jobs",
            400,
            "invalid_request",
        ),
    ],
)
def test_bad_lookups_get_json_errors(api: ApiClient, path: str, status: int, code: str) -> None:
    reply = requests.get(f"{api.base_url}{path}", headers={"x-api-key": api.api_key}, timeout=10)
    assert reply.status_code == status
    assert reply.json()["error"]["code"] == code


def test_deep_health_needs_the_key_and_reaches_s3_and_the_warehouse(stack: LocalStack) -> None:
    url = f"{stack.api_url}/api/v1/health"
    assert requests.get(url, timeout=10).json() == {"status": "ok"}
    assert requests.get(url, params={"deep": "true"}, timeout=10).status_code == 401
    wrong = requests.get(url, params={"deep": "true"}, headers={"x-api-key": "x"}, timeout=10)
    assert wrong.status_code == 403
    deep = requests.get(url, params={"deep": "true"}, headers={"x-api-key": STACK_KEY}, timeout=10)
    assert (deep.status_code, deep.json()) == (
        200,
        {
            "status": "ok",
            "s3": "ok",
            "warehouse": {"engine": "duckdb", "api": None, "status": "ok"},
        },
    )
