"""Access and injection against the running local stack: nobody is let in, nothing leaks.

Every registered route (read from the app, so routes added later are walked too) gets path
traversal, odd names, URL-encoded tricks and SQL injection in its path parameters, its query
string and its JSON body. Each request must be refused with a 4xx or treat the value as data;
every S3 call the app makes while answering stays in its own bucket and prefixes, and every SQL
statement names only allow-listed identifiers. Secrets never show up in logs, replies or status.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import console, keys, logs, providers
from chalicelib.api import uploads
from chalicelib.config import Settings
from chalicelib.errors import ConfigError, InvalidRequestError, TransientWarehouseError
from chalicelib.warehouse import make_warehouse
from devstack.settings import LOCAL_BUCKET
from tests.functional.conftest import STACK_KEY
from tests.reliability.fakes3 import FakeS3
from tests.reliability.test_input import ALLOWED_IDENTIFIERS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from devstack.client import ApiClient
    from devstack.stack import LocalStack
    from tests.reliability.ledger import Ledger

UID = "20261126T031500Z-0123456789ab"
PREFIXES = tuple(
    v for k, v in vars(keys).items() if k.isupper() and isinstance(v, str) and v.endswith("/")
)
NASTY = [
    "..",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2f",
    "%252e%252e%252f",
    "/etc/passwd",
    "\\..\\..\\windows\\win.ini",
    "raw/jobs/../../manifests/x",
    "jobs/../departments",
    "s3://other-bucket/raw/jobs/x.csv",
    "arn:aws:s3:::other-bucket/x",
    f"{UID}/../../raw",
    f"{UID}\x00",
    f"{UID}.json",
    "' OR '1'='1",
    "1; DROP TABLE jobs; --",
    '"; DROP TABLE "jobs"; --',
    'jobs"; DELETE FROM "ingest_loads"; --',
    "2021 UNION SELECT 1",
    "2021) OR (1=1",
    "JOBS",
    "ｊｏｂｓ",
    "jobs\n",
    "*",
    "?x=1",
    "🙂",
    "a" * 600,
]
QUERY_NAMES = ("table", "year", "upload_id", "s3_location", "key", "prefix", "backup_id", "limit")
BODY_NAMES = ("table", "filename", "size", "s3_location", "upload_id", "key", "rows", "backup_id")
FAKE_DB_PASSWORD = "fake-db-password-7Hq9"  # noqa: S105 - a made-up value the tests hunt for


def _routes(stack: LocalStack) -> list[tuple[str, str]]:
    assert stack.app_module is not None
    routes = stack.app_module.app.routes
    return sorted((method, path) for path, entries in routes.items() for method in entries)


class Spy:
    """Records the S3 calls and SQL statements the app makes while a test talks to it."""

    def __init__(self, stack: LocalStack) -> None:
        assert stack.app_module is not None
        self.s3 = providers.s3()
        self.warehouse = providers.warehouse()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sql: list[str] = []
        self._execute = self.warehouse.execute

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def _sql(self, sql: str, params: Any = ()) -> Any:
        self.sql.append(sql)
        return self._execute(sql, params)

    def __enter__(self) -> Spy:
        self.s3.meta.events.register("before-parameter-build.s3", self._record)
        self.warehouse.execute = self._sql  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.s3.meta.events.unregister("before-parameter-build.s3", self._record)
        self.warehouse.execute = self._execute  # type: ignore[method-assign]

    def outside(self) -> list[tuple[str, dict[str, Any]]]:
        """Calls that name another bucket, or a key or prefix outside the layout."""
        bad = []
        for name, params in self.calls:
            bucket = params.get("Bucket", LOCAL_BUCKET)
            where = [params.get("Key"), params.get("Prefix")]
            source = params.get("CopySource")
            if isinstance(source, dict):
                bucket = source.get("Bucket", bucket) if bucket == LOCAL_BUCKET else bucket
                where.append(source.get("Key"))
            for key in (w for w in where if w is not None):
                if not key.startswith(PREFIXES) or ".." in key.split("/") or "\x00" in key:
                    bad.append((name, params))
            if bucket != LOCAL_BUCKET:
                bad.append((name, params))
        return bad


@pytest.fixture
def spy(stack: LocalStack) -> Iterator[Spy]:
    with Spy(stack) as watching:
        yield watching


def _bucket_keys() -> set[str]:
    s3 = boto3.client("s3")
    found: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=LOCAL_BUCKET):
        found |= {item["Key"] for item in page.get("Contents", [])}
    return found


def _ask_for_upload(
    api: ApiClient, spy: Spy, reliability: Ledger, body: dict[str, Any], case: str
) -> tuple[requests.Response, set[str]]:
    """POST ``body`` for a presigned upload; the reply, the keys it added, and the ledger row."""
    before = _bucket_keys()
    reply = requests.post(
        f"{api.base_url}/api/v1/uploads", json=body, headers={"x-api-key": api.api_key}, timeout=10
    )
    new_keys = _bucket_keys() - before
    reliability.add(
        "access",
        case,
        requests=1,
        refused=int(400 <= reply.status_code < 500),
        server_errors=int(reply.status_code >= 500),
        outside=len(spy.outside()) + sum(1 for k in new_keys if not k.startswith(PREFIXES)),
    )
    return reply, new_keys


def _table_counts(stack: LocalStack) -> list[tuple[Any, ...]]:
    assert stack.app_module is not None
    warehouse = providers.warehouse()
    return [
        warehouse.execute(f'SELECT COUNT(*) FROM "{name}"')[0]
        for name in ("departments", "jobs", "hired_employees", "ingest_loads")
    ]


def _fill(path: str, value: str, safe: str) -> str:
    return re.sub(r"\{[a-z_]+\}", lambda _: quote(value, safe=safe), path)


def test_console_route_serves_only_its_files(stack: LocalStack) -> None:
    # A client may resolve ".." before sending (then the page itself answers); whatever arrives,
    # the reply is one of the console's own files or a 404, never anything else on disk.
    page = requests.get(stack.console_url, timeout=10).text
    own = {page, *(p.read_text(encoding="utf-8") for p in console.STATIC.iterdir())}
    for value in NASTY:
        for safe in ("", "/%"):
            reply = requests.get(stack.api_url + _fill(console.ASSET_PATH, value, safe), timeout=10)
            assert reply.status_code in (200, 403, 404), (value, reply.status_code)
            if reply.status_code == 200:
                assert reply.text in own, value


def test_every_route_refuses_or_contains_hostile_parameters(
    stack: LocalStack, spy: Spy, reliability: Ledger
) -> None:
    before_keys, before_rows = _bucket_keys(), _table_counts(stack)
    headers = {"x-api-key": STACK_KEY}
    replies: list[tuple[str, str, str, requests.Response]] = []
    for method, path in _routes(stack):
        if path in console.PUBLIC_PATHS:
            continue  # the console's public files: test_console_route_serves_only_its_files
        for value in NASTY:
            for safe in ("", "/%"):
                url = stack.api_url + _fill(path, value, safe)
                if "{" not in path and safe:
                    continue  # no path parameter: one request per value is enough
                reply = requests.request(
                    method,
                    url,
                    params=dict.fromkeys(QUERY_NAMES, value),
                    json=dict.fromkeys(BODY_NAMES, value) if method in ("POST", "PUT") else None,
                    headers=headers,
                    timeout=10,
                )
                replies.append((method, path, url, reply))
    new_keys = _bucket_keys() - before_keys
    outside = spy.outside() + [
        ("new object", {"Key": k}) for k in new_keys if not k.startswith(PREFIXES)
    ]
    statuses = [reply.status_code for *_, reply in replies]
    reliability.add(
        "access",
        "hostile path parameters, query strings and JSON bodies on every route",
        requests=len(statuses),
        refused=sum(1 for status in statuses if 400 <= status < 500),
        server_errors=sum(1 for status in statuses if status >= 500),
        outside=len(outside),
    )
    for method, path, url, reply in replies:
        assert reply.status_code < 500, (method, url, reply.text)
        if "{" in path:
            assert 400 <= reply.status_code < 500, (method, url, reply.text)
        if reply.status_code >= 400 and reply.content:
            assert "error" in reply.json() or "message" in reply.json() or "Code" in reply.json()
    assert outside == []
    assert _table_counts(stack) == before_rows  # injection changed no table
    for statement in spy.sql:
        assert set(re.findall(r'"([^"]*)"', statement)) <= ALLOWED_IDENTIFIERS, statement
        assert not any(v in statement for v in NASTY if len(v) > 3), statement


@pytest.mark.parametrize(
    ("field", "value"),
    [("table", v) for v in NASTY]
    + [("filename", v) for v in ["", "   ", f"{UID}\x00", "x" * 1025, None, 7, ["a.csv"]]]
    + [("size", v) for v in [0, -1, 1.5, "10", None, True, 2**63, 6 * 1024**3]],
)
def test_create_upload_refuses_keys_outside_raw_table(
    stack: LocalStack, api: ApiClient, spy: Spy, reliability: Ledger, field: str, value: Any
) -> None:
    body: dict[str, Any] = {"table": "jobs", "filename": "jobs.csv", "size": 10, field: value}
    reply, new_keys = _ask_for_upload(
        api, spy, reliability, body, "presigned upload requests with bad table, filename or size"
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "invalid_request"
    assert new_keys == set()
    assert spy.outside() == []


@pytest.mark.parametrize(
    "name",
    [v for v in NASTY if v != f"{UID}\x00"]
    + ["a/b.csv", ".hidden", "-rf.csv", "jobs.csv/", "C:\\x.csv", "x" * 129, "jobs (1).csv"],
)
def test_create_upload_takes_odd_file_names_but_keeps_them_out_of_the_key(
    stack: LocalStack, api: ApiClient, spy: Spy, reliability: Ledger, name: str
) -> None:
    body = {"table": "jobs", "filename": name, "size": 10}
    reply, new_keys = _ask_for_upload(
        api,
        spy,
        reliability,
        body,
        "presigned upload requests with odd file names: taken, the key made safe",
    )
    assert reply.status_code == 201, reply.text
    grant = reply.json()
    _assert_exact_policy(grant, "jobs", 10, 900)
    assert grant["key"] == f"raw/jobs/{grant['upload_id']}/{keys.object_name(name)}"
    assert api.status(grant["upload_id"])["filename"] == name
    assert {k.split("/")[0] + "/" for k in new_keys} <= set(PREFIXES)
    assert spy.outside() == []


def _policy(grant: dict[str, Any]) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(base64.b64decode(grant["fields"]["policy"]))
    return policy


def _assert_exact_policy(grant: dict[str, Any], table: str, size: int, expires: int) -> None:
    key = grant["key"]
    assert key == f"raw/{table}/{grant['upload_id']}/{key.rsplit('/', 1)[1]}"
    assert key.count("/") == 3 and ".." not in key.split("/")
    assert keys.parse_raw_key(key) is not None
    assert grant["fields"]["key"] == key
    policy = _policy(grant)
    conditions = policy["conditions"]
    assert ["eq", "$key", key] in conditions
    assert ["content-length-range", size, size] in conditions
    assert {"Content-Type": "text/csv"} in conditions
    # No condition may widen the key: a starts-with on $key would let the holder pick any key.
    assert not [c for c in conditions if isinstance(c, list) and c[0] == "starts-with"]
    expiry = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    left = (expiry - datetime.now(UTC)).total_seconds()
    assert expires - 60 <= left <= expires + 1


_SIGNER: list[Any] = []


class _PresigningFakeS3(FakeS3):
    """The in-memory S3, presigning offline with a real client (presigning makes no call)."""

    def generate_presigned_post(self, **kwargs: Any) -> Any:
        if not _SIGNER:
            _SIGNER.append(
                boto3.client(
                    "s3",
                    region_name="us-east-1",
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",  # noqa: S106 - not a credential
                )
            )
        return _SIGNER[0].generate_presigned_post(**kwargs)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    table=st.one_of(
        st.sampled_from(["jobs", "departments", "hired_employees"]), st.text(max_size=12)
    ),
    filename=st.one_of(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", fullmatch=True),
        st.text(max_size=20),
        st.text(alphabet="./\\%2e0aZ_-\n", max_size=12),
        st.sampled_from(["jobs.csv", "a..b.csv", "..", "a/../b", "%2e%2e", "x.csv\n"]),
    ),
    size=st.one_of(st.integers(1, 1000), st.integers(-5, 6 * 1024**3)),
)
def test_no_upload_request_yields_a_key_outside_raw_table(
    reliability: Ledger, table: str, filename: str, size: int
) -> None:
    config = Settings(bucket="reliability-bucket", presign_expires=300, max_upload_bytes=1000)
    s3 = _PresigningFakeS3(config.bucket)
    body = {"table": table, "filename": filename, "size": size}
    plain_name = (
        0 < len(filename) <= keys.MAX_FILENAME_CHARS
        and bool(filename.strip())
        and "\x00" not in filename
        and not any(0xD800 <= ord(c) <= 0xDFFF for c in filename)
    )
    acceptable = table in ("jobs", "departments", "hired_employees") and plain_name
    acceptable = acceptable and 1 <= size <= config.max_upload_bytes
    grant, error = None, None
    try:
        grant = uploads.create_upload(s3, config, body)  # type: ignore[arg-type]
    except Exception as exc:  # recorded below: refused (InvalidRequestError) or a failure
        error = exc
    written = s3.keys(config.bucket)
    refused = isinstance(error, InvalidRequestError)
    reliability.add(
        "access",
        "generated upload requests (Hypothesis): key always raw/<table>/<id>/<file>",
        requests=1,
        refused=int(refused),
        server_errors=int(error is not None and not refused),
        outside=sum(1 for k in written if not k.startswith(PREFIXES)),
    )
    if error is not None:
        assert refused, error
        assert not acceptable, body
        assert written == set()
    else:
        assert grant is not None
        view = {"upload_id": grant.upload_id, "key": grant.key, "fields": grant.fields}
        _assert_exact_policy(view, table, size, 300)
        assert acceptable, body
        assert grant.key.endswith("/" + keys.object_name(filename))
        assert {k.split("/")[0] + "/" for k in written} <= set(PREFIXES)


def _rendered(records: list[logging.LogRecord]) -> str:
    formatter = logs.JsonFormatter()
    return "\n".join(formatter.format(r) for r in records)


def test_secrets_never_reach_logs_replies_or_status(
    stack: LocalStack,
    api: ApiClient,
    caplog: pytest.LogCaptureFixture,
    reliability: Ledger,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.INFO)
    replies: list[str] = []
    near_misses = [STACK_KEY + "x", STACK_KEY.upper(), STACK_KEY[:-1], f"Bearer {STACK_KEY}"]
    statuses = []
    for wrong in near_misses:
        reply = requests.get(
            f"{api.base_url}/api/v1/uploads", headers={"x-api-key": wrong}, timeout=10
        )
        statuses.append(reply.status_code)
        replies.append(reply.text)
    path = tmp_path / "jobs.csv"
    path.write_bytes(b"1,Dev\n2,\x00bad\nx,y\n")
    status = api.wait(api.upload("jobs", path))
    replies.append(json.dumps(status))
    replies.append(requests.get(status["rejected_url"], timeout=10).text)
    replies.append(json.dumps(api.report("hires-by-quarter", 2021)))
    # A database password in the settings: never in a repr, an error or a log line.
    env = {
        "INGEST_BUCKET": "b",
        "INGEST_WAREHOUSE": "redshift",
        "INGEST_REDSHIFT_HOST": "example.invalid",
        "INGEST_REDSHIFT_DATABASE": "dev",
        "INGEST_REDSHIFT_USER": "ingest",
        "INGEST_REDSHIFT_PASSWORD": FAKE_DB_PASSWORD,
        "INGEST_REDSHIFT_IAM_ROLE": "arn:aws:iam::000000000000:role/none",
        "INGEST_API_KEY": STACK_KEY,
    }
    config = Settings.from_env(env)
    replies += [repr(config), str(config)]
    logging.getLogger("chalicelib.config").info("config.loaded", extra={"settings": config})
    try:
        make_warehouse(config, FakeS3("b"))  # type: ignore[arg-type]
    except (ConfigError, TransientWarehouseError) as exc:
        replies.append(str(exc))
        logging.getLogger("chalicelib.warehouse").exception("warehouse.unavailable")
    for missing in ("INGEST_REDSHIFT_HOST", "INGEST_BUCKET"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({k: v for k, v in env.items() if k != missing})
        replies.append(str(caught.value))
    logged = _rendered(caplog.records)
    assert caplog.records  # the run really logged
    text = logged + "\n".join(replies)
    leaks = [s for s in (STACK_KEY, FAKE_DB_PASSWORD) if s in text]
    # Presigned URLs belong in replies (rejected_url), never in logs.
    leaks += [s for s in ("X-Amz-Signature", "Signature=", "AWSAccessKeyId") if s in logged]
    leaks += [w for w in near_misses if w in logged]
    reliability.add(
        "access",
        "wrong keys, an upload, a report, settings with a DB password: logs and replies searched",
        requests=len(statuses) + 4,
        refused=sum(1 for status in statuses if 400 <= status < 500),
        server_errors=sum(1 for status in statuses if status >= 500),
        leaks=len(leaks),
    )
    assert statuses == [403] * len(near_misses)
    assert leaks == []


def test_retry_route_recovers_an_upload_failed_by_a_warehouse_outage(
    stack: LocalStack,
    api: ApiClient,
    reliability: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert stack.app_module is not None

    def unavailable() -> Any:
        raise TransientWarehouseError("could not connect to server: Connection refused")

    monkeypatch.setattr(providers, "warehouse", unavailable)
    path = tmp_path / "departments.csv"
    path.write_bytes(b"901,Outage A\n902,Outage B\n901,Outage A2\nx,bad\n")
    upload_id = api.upload("departments", path)
    failed = api.wait(upload_id)
    monkeypatch.undo()
    url = f"{api.base_url}/api/v1/uploads/{upload_id}/retry"
    reply = requests.post(url, headers={"x-api-key": api.api_key}, timeout=10)
    loaded = api.wait(upload_id)
    warehouse = providers.warehouse()
    rows = warehouse.execute('SELECT "id", "department" FROM "departments" WHERE "id" > 900')
    again = requests.post(url, headers={"x-api-key": api.api_key}, timeout=10)
    want = {901: "Outage A2", 902: "Outage B"}
    have = dict(rows)
    reliability.add(
        "faults",
        "local stack: warehouse down (the queue redelivers), failed, POST retry over HTTP",
        scenarios=1,
        loaded=int(loaded["state"] == "loaded"),
        not_loaded=int(loaded["state"] != "loaded"),
        lost=sum(1 for i, name in want.items() if have.get(i) != name),
        duplicates=len(rows) - len(have) + len(set(have) - set(want)),
    )
    assert failed["state"] == "failed"
    assert failed["error"].startswith("load: warehouse unavailable after 3 attempts")
    assert f"/api/v1/uploads/{upload_id}/retry" in failed["error"]
    assert reply.status_code == 202, reply.text
    assert reply.json()["stage"] == "load"
    assert (loaded["state"], loaded["rows_valid"], loaded["rows_rejected"]) == ("loaded", 2, 2)
    assert loaded["error"] is None
    assert sorted(rows) == [(901, "Outage A2"), (902, "Outage B")]
    assert again.status_code == 409
