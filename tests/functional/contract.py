"""The API in process for contract tests: the Chalice test client over moto S3 and in-memory
DuckDB, S3's notifications played by invoking the matching handlers, and every reply body
checked against the OpenAPI document's schema for its path, method and status."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from chalice.test import Client
from jsonschema import Draft202012Validator
from moto import mock_aws
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from chalicelib import providers
from chalicelib.config import LOCAL_QUEUE_PREFIX
from chalicelib.pipeline.runner import STAGES
from chalicelib.pipeline.triggers import dead_letter_queue_name, queue_name
from devstack.functions import routes_of
from tests.conftest import BUCKET

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path
    from types import ModuleType

    from chalice.test import HTTPResponse

KEY = "contract-key"
NO_JSON = object()
_RESOURCE = "urn:csv-ingest:openapi"


@dataclass(frozen=True)
class Sent:
    """What a request carries besides its method: the URL (the path template when it has no
    placeholders), a JSON body or raw bytes, headers, and the API key (None: no key header)."""

    url: str = ""
    json: Any = NO_JSON
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    key: str | None = KEY


def form(text: str, filename: str = "file.csv") -> tuple[bytes, dict[str, str]]:
    """A multipart form with one ``file`` field, encoded as ``requests`` (and curl -F) send it."""
    prepared = requests.Request(
        "POST", "http://127.0.0.1/", files={"file": (filename, text.encode())}
    ).prepare()
    assert isinstance(prepared.body, bytes)
    return prepared.body, {"content-type": prepared.headers["Content-Type"]}


class Document:
    """The OpenAPI document, and a validator for each reply it describes."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = dict(document)
        resource = DRAFT202012.create_resource(document)
        self._registry: Registry[Any] = Registry().with_resource(_RESOURCE, resource)

    def replies(self) -> set[tuple[str, str, int]]:
        """Every (path, method, status) the document describes."""
        return {
            (path, method, int(status))
            for path, operations in self.document["paths"].items()
            for method, operation in operations.items()
            for status in operation["responses"]
        }

    def errors(self, path: str, method: str, status: int, body: Any) -> list[str]:
        """What is wrong with ``body`` as the reply ``status`` of ``method path``."""
        reply = self.document["paths"][path][method]["responses"].get(str(status))
        if reply is None:
            return [f"{method.upper()} {path} does not document status {status}"]
        return self._check(reply["content"]["application/json"]["schema"], body)

    def request_errors(self, path: str, method: str, payload: Any) -> list[str]:
        """What is wrong with ``payload`` as the JSON request body of ``method path``."""
        request = self.document["paths"][path][method].get("requestBody")
        if request is None or "application/json" not in request["content"]:
            return [f"{method.upper()} {path} documents no JSON request body"]
        return self._check(request["content"]["application/json"]["schema"], payload)

    def _check(self, schema: dict[str, Any], instance: Any) -> list[str]:
        validator = Draft202012Validator(_anchored(schema), registry=self._registry)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]


def _anchored(schema: Any) -> Any:
    """``schema`` with its document-relative ``$ref``s pointing into the registered document."""
    if isinstance(schema, dict):
        return {
            k: (_RESOURCE + v if k == "$ref" and v.startswith("#") else _anchored(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_anchored(item) for item in schema]
    return schema


class Api:
    """Sends calls through the Chalice test client and plays S3's notifications."""

    def __init__(self, client: Client, s3: Any, app_module: ModuleType) -> None:
        self.client = client
        self.s3 = s3
        self.app = app_module
        self._seen: set[str] = set()

    def send(self, method: str, path: str, sent: Sent) -> HTTPResponse:
        headers = dict(sent.headers)
        if sent.key is not None:
            headers["x-api-key"] = sent.key
        body = sent.body
        if sent.json is not NO_JSON:
            body = json.dumps(sent.json).encode()
            headers.setdefault("content-type", "application/json")
        url = sent.url or path
        return self.client.http.request(method, url, headers=headers, body=body)

    def ok(self, method: str, url: str, payload: Any = NO_JSON, **kwargs: Any) -> Any:
        """The JSON body of a call that must succeed."""
        reply = self.send(method, url, Sent(url, payload, **kwargs))
        assert 200 <= reply.status_code < 300, reply.body
        return reply.json_body

    def pump(self) -> None:
        """Invoke the S3 handlers for every object written since the last pump, until quiet."""
        handlers = routes_of(self.app.app)
        while True:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            new = [
                item["Key"]
                for page in pages
                for item in page.get("Contents", [])
                if item["Key"] not in self._seen
            ]
            if not new:
                return
            for key in sorted(new):
                self._seen.add(key)
                for route in handlers:
                    if key.startswith(route.prefix) and key.endswith(route.suffix):
                        # S3's notification, as the stage's queue hands it to the handler.
                        record = {"s3": {"bucket": {"name": BUCKET}, "object": {"key": key}}}
                        body = json.dumps({"Records": [record]})
                        event = {"Records": [{"messageId": key, "body": body}]}
                        self.client.lambda_.invoke(route.name, event)

    def form_upload(self, table: str, text: str) -> str:
        """An upload whose file arrived (state waiting until the pipeline runs)."""
        body, headers = form(text)
        route = {"departments": "upload_departments", "jobs": "upload_jobs"}.get(table, table)
        reply = self.ok("POST", f"/api/v1/{route}", body=body, headers=headers)
        return str(reply["upload_id"])

    def loaded_upload(self, table: str, text: str) -> str:
        upload_id = self.form_upload(table, text)
        self.pump()
        state = self.ok("GET", f"/api/v1/uploads/{upload_id}")["state"]
        assert state == "loaded", state
        return upload_id

    def insert(self, table: str, rows: list[list[Any]]) -> None:
        self.ok("POST", f"/api/v1/tables/{table}/rows", {"rows": rows})

    def seed(self) -> None:
        """Hires in 2021 by two departments (one above the mean), so every report has rows."""
        self.insert("departments", [[1, "Sales"], [2, "Legal"]])
        self.insert("jobs", [[1, "Dev"], [2, "Manager"]])
        self.insert(
            "hired_employees",
            [
                [1, "Ada", "2021-01-10T00:00:00Z", 1, 1],
                [2, "Bo", "2021-05-01T00:00:00Z", 1, 2],
                [3, "Cy", "2021-08-01T00:00:00Z", 2, 1],
            ],
        )

    def backup(self, table: str = "jobs") -> str:
        self.seed()
        return str(self.ok("POST", "/api/v1/backups", {"table": table})["backup_id"])

    def multipart(self, size: int = 10) -> str:
        started = self.ok(
            "POST",
            "/api/v1/multipart-uploads",
            {"table": "jobs", "filename": "j.csv", "size": size},
        )
        return str(started["upload_id"])


def _stage_queues(sqs: Any) -> None:
    """Each stage's queue and dead-letter queue, named as the app's settings name them."""
    for stage in STAGES:
        for name in (queue_name(LOCAL_QUEUE_PREFIX, stage),
                     dead_letter_queue_name(LOCAL_QUEUE_PREFIX, stage)):  # fmt: skip
            sqs.create_queue(QueueName=name)


@contextmanager
def running_api(app_module: ModuleType, project_dir: Path) -> Iterator[Api]:
    """The app on a fresh moto S3 bucket and in-memory DuckDB, with the API key ``KEY``.

    ``project_dir`` has no ``.chalice/config.json``, so no deployment stage's environment (a
    Redshift warehouse, a real bucket) is applied to the handlers.
    """
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("INGEST_", "AWS_"))]:
            env.delenv(name)
        env.setenv("INGEST_BUCKET", BUCKET)
        env.setenv("INGEST_API_KEY", KEY)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        providers.reset()
        try:
            with mock_aws():
                s3 = boto3.client("s3", region_name="us-east-1")
                s3.create_bucket(Bucket=BUCKET)
                _stage_queues(boto3.client("sqs", region_name="us-east-1"))
                with Client(app_module.app, project_dir=str(project_dir)) as client:
                    yield Api(client, s3, app_module)
        finally:
            providers.reset()
