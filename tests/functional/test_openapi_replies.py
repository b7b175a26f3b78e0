"""Every reply the OpenAPI document describes, produced by a real request and checked against it.

Each case drives one route through the Chalice test client (moto S3, in-memory DuckDB, the S3
handlers invoked as S3 would) to one documented status, and validates the body against that
status's schema. The cases must cover exactly the (path, method, status) triples the document
lists, so a reply documented but never produced, or produced but not documented, fails too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from openapi_spec_validator import validate

import app as app_module
from chalicelib import keys, storage
from chalicelib.api import openapi, routing
from chalicelib.api.formdata import MAX_FORM_BYTES
from tests.conftest import BUCKET
from tests.functional.contract import NO_JSON, Api, Document, Sent, form, running_api

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

DOC = Document(openapi.document(app_module.app.routes))
MISSING = "20200101T000000Z-000000000000"
UID = "/api/v1/uploads/{upload_id}"
PARTS = "/api/v1/multipart-uploads/{upload_id}/parts"
COMPLETE = "/api/v1/multipart-uploads/{upload_id}/complete"
RETRY = "/api/v1/uploads/{upload_id}/retry"
MULTIPART = "/api/v1/multipart-uploads"
HIRES = "/api/v1/reports/hires-by-quarter"
ABOVE = "/api/v1/reports/departments-above-mean"
FORMS = ("/api/v1/upload_departments", "/api/v1/upload_jobs", "/api/v1/hired_employees")
ROWS = "/api/v1/tables/{table}/rows"
RESTORES = ("/api/v1/restores", "/api/v1/upload_parquet_backup")
BACKUPS = ("/api/v1/backups", "/api/v1/create_backup")


@dataclass(frozen=True)
class Case:
    """A request to ``method path`` whose reply must have ``status``. ``prepare`` sets up the
    state and says what to send (by default: the path, with the key); ``filled`` names arrays
    the body must not have empty, so the schema of their items is exercised too."""

    method: str
    path: str
    status: int
    prepare: Callable[[Api], Sent] | None = None
    filled: tuple[str, ...] = ()


def _at(path: str, upload_id: str) -> str:
    return path.replace("{upload_id}", upload_id)


def _send(url: str = "", payload: Any = NO_JSON, **kwargs: Any) -> Sent:
    return Sent(url, payload, **kwargs)


def _form(text: str) -> Sent:
    body, headers = form(text)
    return Sent(body=body, headers=headers)


def _two_uploads(api: Api) -> Sent:
    api.loaded_upload("jobs", "1,Dev\n")
    api.form_upload("departments", "1,Sales\n")
    return Sent()


def _cancelled(api: Api) -> str:
    upload_id = api.form_upload("jobs", "1,Dev\n")
    api.ok("DELETE", _at(UID, upload_id))
    return upload_id


def _completion(api: Api) -> Sent:
    """A multipart upload whose one part is in S3, and the request that completes it."""
    data = b"1,Dev\n2,Manager\n"
    upload_id = api.multipart(len(data))
    (pending,) = api.s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
    part = api.s3.upload_part(
        Bucket=BUCKET, Key=pending["Key"], UploadId=pending["UploadId"], PartNumber=1, Body=data
    )
    return _send(_at(COMPLETE, upload_id), {"parts": [{"part_number": 1, "etag": part["ETag"]}]})


def _report(path: str) -> Callable[[Api], Sent]:
    def prepare(api: Api) -> Sent:
        api.seed()
        return _send(f"{path}?year=2021")

    return prepare


def _backup_all(api: Api) -> Sent:
    api.seed()
    return _send(payload={"table": "all"})


def _listed_backup(api: Api) -> Sent:
    api.backup("all")
    return Sent()


def _backup_mismatch(api: Api) -> str:
    """A backup whose catalog entry claims a row more than its files hold."""
    backup_id = api.backup("jobs")
    record = storage.get_json(api.s3, BUCKET, keys.backup_record_key(backup_id))
    assert record is not None
    record["tables"]["jobs"]["rows"] += 1
    storage.put_json(api.s3, BUCKET, keys.backup_record_key(backup_id), record)
    return backup_id


def _location(backup_id: str) -> str:
    return f"s3://{BUCKET}/backups/{backup_id}/jobs/"


def _by_id(backup_id: str) -> Sent:
    return _send(payload={"backup_id": backup_id, "table": "jobs"})


def _by_location(backup_id: str) -> Sent:
    return _send(payload={"s3_location": _location(backup_id)})


DEEP = "/api/v1/health?deep=true"


def _bucket_gone(api: Api) -> Sent:
    """A deep health check whose bucket no longer exists: S3 degraded."""
    for key in storage.list_keys(api.s3, BUCKET, ""):
        api.s3.delete_object(Bucket=BUCKET, Key=key)
    api.s3.delete_bucket(Bucket=BUCKET)
    return _send(DEEP)


CASES: list[Case] = [
    Case("GET", "/api/v1/health", 200, lambda api: _send(key=None)),
    Case("GET", "/api/v1/health", 200, lambda api: _send(DEEP)),
    Case("GET", "/api/v1/health", 401, lambda api: _send(DEEP, key=None)),
    Case("GET", "/api/v1/health", 403, lambda api: _send(DEEP, key="wrong-key")),
    Case("GET", "/api/v1/health", 503, _bucket_gone),
    Case("GET", "/api/v1/dead-letters", 200),
    Case("POST", "/api/v1/dead-letters/redrive", 200, lambda api: _send(payload={"limit": 5})),
    Case("POST", "/api/v1/dead-letters/redrive", 400, lambda api: _send(payload={"stage": "x"})),
    Case("GET", "/api/v1/openapi.json", 200),
    Case(
        "POST",
        "/api/v1/uploads",
        201,
        lambda api: _send(payload={"table": "jobs", "filename": "j.csv", "size": 10}),
    ),
    Case("POST", "/api/v1/uploads", 400, lambda api: _send(payload={"table": "nope"})),
    Case("GET", "/api/v1/uploads", 200, _two_uploads, filled=("uploads",)),
    Case("GET", "/api/v1/uploads", 400, lambda api: _send("/api/v1/uploads?table=x")),
    # Loaded with a rejected row (every count and the rejects URL set), then waiting (nulls).
    Case("GET", UID, 200, lambda api: _send(_at(UID, api.loaded_upload("jobs", "1,D\nx,y\n")))),
    Case("GET", UID, 200, lambda api: _send(_at(UID, api.form_upload("jobs", "1,D\n")))),
    Case("GET", UID, 400, lambda api: _send(_at(UID, "not-an-id"))),
    Case("GET", UID, 404, lambda api: _send(_at(UID, MISSING))),
    Case("DELETE", UID, 200, lambda api: _send(_at(UID, api.multipart()))),
    Case("DELETE", UID, 400, lambda api: _send(_at(UID, "x"))),
    Case("DELETE", UID, 404, lambda api: _send(_at(UID, MISSING))),
    Case("DELETE", UID, 409, lambda api: _send(_at(UID, api.loaded_upload("jobs", "1,D\n")))),
    Case("POST", RETRY, 202, lambda api: _send(_at(RETRY, _cancelled(api))), ("rewritten",)),
    Case("POST", RETRY, 400, lambda api: _send(_at(RETRY, "x"))),
    Case("POST", RETRY, 404, lambda api: _send(_at(RETRY, MISSING))),
    Case("POST", RETRY, 409, lambda api: _send(_at(RETRY, api.loaded_upload("jobs", "1,D\n")))),
    Case(
        "POST",
        MULTIPART,
        201,
        lambda api: _send(payload={"table": "jobs", "filename": "j.csv", "size": 300 * 1024**2}),
    ),
    Case("POST", MULTIPART, 400, lambda api: _send(payload={"table": "jobs", "size": 0})),
    Case(
        "POST",
        PARTS,
        200,
        lambda api: _send(_at(PARTS, api.multipart()), {"part_numbers": [1]}),
        filled=("parts",),
    ),
    Case("POST", PARTS, 400, lambda api: _send(_at(PARTS, api.multipart()), {"part_numbers": [2]})),
    Case("POST", PARTS, 404, lambda api: _send(_at(PARTS, MISSING), {})),
    # A waiting upload that is not a multipart upload.
    Case("POST", PARTS, 409, lambda api: _send(_at(PARTS, api.form_upload("jobs", "1,D\n")), {})),
    Case("POST", COMPLETE, 200, _completion),
    Case("POST", COMPLETE, 400, lambda api: _send(_at(COMPLETE, api.multipart()), {"parts": []})),
    Case("POST", COMPLETE, 404, lambda api: _send(_at(COMPLETE, MISSING), {})),
    Case(
        "POST", COMPLETE, 409, lambda api: _send(_at(COMPLETE, api.form_upload("jobs", "1,D")), {})
    ),
    Case("GET", HIRES, 200, _report(HIRES), filled=("rows",)),
    Case("GET", HIRES, 400),
    Case("GET", ABOVE, 200, _report(ABOVE), filled=("rows",)),
    Case("GET", ABOVE, 400, lambda api: _send(f"{ABOVE}?year=later")),
    *(
        case
        for path in FORMS
        for case in (
            Case("POST", path, 202, lambda api: _form("1,x\n")),
            Case(
                "POST",
                path,
                400,
                lambda api: Sent(body=b"1,x\n", headers={"content-type": "text/csv"}),
            ),
            Case(
                "POST",
                path,
                413,
                lambda api: Sent(body=b"x" * (MAX_FORM_BYTES + 1), headers=_form("").headers),
            ),
        )
    ),
    Case(
        "POST",
        ROWS,
        200,
        lambda api: _send("/api/v1/tables/jobs/rows", {"rows": [[1, "Dev"], [2, "Dev", 3]]}),
        filled=("rejected",),
    ),
    Case("POST", ROWS, 400, lambda api: _send("/api/v1/tables/jobs/rows", {})),
    *(Case("POST", path, 201, _backup_all) for path in BACKUPS),
    *(Case("POST", path, 400, lambda api: _send(payload={"table": "x"})) for path in BACKUPS),
    Case("GET", "/api/v1/backups", 200, _listed_backup, filled=("backups",)),
    *(Case("POST", path, 400, lambda api: _send(payload={})) for path in RESTORES),
    Case("POST", RESTORES[0], 200, lambda api: _by_id(api.backup())),
    Case("POST", RESTORES[0], 404, lambda api: _by_id(MISSING)),
    Case("POST", RESTORES[0], 422, lambda api: _by_id(_backup_mismatch(api))),
    Case("POST", RESTORES[1], 200, lambda api: _by_location(api.backup())),
    Case("POST", RESTORES[1], 404, lambda api: _by_location(MISSING)),
    Case("POST", RESTORES[1], 422, lambda api: _by_location(_backup_mismatch(api))),
]


def _concrete(path: str) -> str:
    return path.replace("{upload_id}", MISSING).replace("{table}", "jobs")


def _keyed(path: str, key: str | None) -> Callable[[Api], Sent]:
    return lambda api: _send(_concrete(path), key=key)


# The JSON API; the console's page and static files (/, /console...) are not part of it.
REGISTERED = sorted(
    (path, method.lower())
    for path, entries in app_module.app.routes.items()
    if path.startswith("/api/")
    for method in entries
)
# Every route but health refuses a request without the key (401) or with a wrong one (403).
AUTH_CASES = [
    Case(
        method.upper(),
        path,
        status,
        _keyed(path, key),
    )
    for path, method in REGISTERED
    if path not in routing.PUBLIC_PATHS
    for status, key in ((401, None), (403, "wrong-key"))
]
ALL_CASES = CASES + AUTH_CASES


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(app_module, tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app for the key checks: a refused request changes nothing, so they can share it."""
    with running_api(app_module, tmp_path_factory.mktemp("keys")) as running:
        yield running


def _name(case: Case) -> str:
    return f"{case.method} {case.path} {case.status}"


def _check(api: Api, case: Case) -> None:
    sent = case.prepare(api) if case.prepare else Sent()
    reply = api.send(case.method, case.path, sent)
    assert reply.status_code == case.status, reply.body
    if reply.status_code < 300 and sent.json is not NO_JSON:
        # A request the route accepted must also be one the document allows.
        assert DOC.request_errors(case.path, case.method.lower(), sent.json) == []
    body = reply.json_body
    assert DOC.errors(case.path, case.method.lower(), case.status, body) == []
    for name in case.filled:
        assert body[name], f"{name} is empty, so its items were not checked"


@pytest.mark.parametrize("case", CASES, ids=_name)
def test_reply_matches_the_documented_schema(api: Api, case: Case) -> None:
    _check(api, case)


@pytest.mark.parametrize("case", AUTH_CASES, ids=_name)
def test_key_refusal_matches_the_documented_schema(shared_api: Api, case: Case) -> None:
    _check(shared_api, case)


def test_cases_cover_every_documented_reply() -> None:
    covered = {(c.path, c.method.lower(), c.status) for c in ALL_CASES}
    assert covered == DOC.replies()


def test_document_describes_exactly_the_registered_routes(shared_api: Api) -> None:
    assert shared_api.ok("GET", "/api/v1/openapi.json") == DOC.document
    validate(DOC.document)
    described = {(p, m) for p, ops in DOC.document["paths"].items() for m in ops}
    assert described == set(REGISTERED)
