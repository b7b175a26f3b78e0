"""The local stack's S3 refuses what S3 refuses, and nothing it refused is stored or loaded.

Each rule, as AWS documents it:

- Unsigned requests are anonymous, and a bucket grants anonymous callers nothing unless a policy
  or ACL opens it: "If you don't explicitly grant access to (allow) a resource, access is
  implicitly denied" (Amazon S3 User Guide, "Policies and permissions in Amazon S3",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-policy-language-overview.html).
- A form upload is checked against its POST policy: the ``content-length-range`` bounds, every
  field named by a condition (the key), and ``expiration``, after which the policy "is not
  valid" (Amazon S3 API Reference, "POST Policy",
  https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html).
- A preflight is answered from the bucket's CORS rules; an origin no rule allows gets 403 "This
  CORS request is not allowed" (Amazon S3 User Guide, "Troubleshooting CORS",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors-troubleshooting.html), and no
  ``Access-Control-Allow-Origin`` for it (Amazon S3 API Reference, "Appendix: OPTIONS object",
  https://docs.aws.amazon.com/AmazonS3/latest/API/RESTOPTIONSobject.html).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from devstack.settings import LOCAL_BUCKET

if TYPE_CHECKING:
    from pathlib import Path

    from devstack.client import ApiClient
    from devstack.stack import LocalStack

EVIL = "https://evil.example"
ROWS = b"".join(f"{n},Injected {n}\n".encode() for n in range(7001, 7184))  # 183 rows


def _jobs_loaded(api: ApiClient) -> int:
    return sum(
        u["rows_valid"] or 0 for u in api.call("list_uploads", params={"table": "jobs"})["uploads"]
    )


def _stored(key: str) -> bool:
    try:
        boto3.client("s3").head_object(Bucket=LOCAL_BUCKET, Key=key)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in ("404", "NoSuchKey")
        return False
    return True


def _error(reply: requests.Response) -> str:
    start, end = reply.text.find("<Code>"), reply.text.find("</Code>")
    return reply.text[start + len("<Code>") : end] if start >= 0 else reply.text[:80]


@pytest.fixture
def before(stack: LocalStack, api: ApiClient) -> dict[str, Any]:
    stack.wait_idle()
    return {"jobs_rows": _jobs_loaded(api), "uploads": api.call("list_uploads")["uploads"]}


def _nothing_happened(stack: LocalStack, api: ApiClient, before: dict[str, Any]) -> None:
    stack.wait_idle()
    assert api.call("list_uploads")["uploads"] == before["uploads"]
    assert _jobs_loaded(api) == before["jobs_rows"]


def test_an_unsigned_form_post_from_another_origin_is_refused_and_loads_nothing(
    stack: LocalStack, api: ApiClient, before: dict[str, Any]
) -> None:
    reply = requests.post(
        f"{stack.s3_url}/{LOCAL_BUCKET}",
        headers={"Origin": EVIL},
        data={"key": "raw/jobs/x.csv"},
        files={"file": ("x.csv", ROWS)},
        timeout=30,
    )
    assert (reply.status_code, _error(reply)) == (403, "AccessDenied")
    assert "Access-Control-Allow-Origin" not in reply.headers
    assert not _stored("raw/jobs/x.csv")
    _nothing_happened(stack, api, before)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "?list-type=2", None),  # a listing would show every key
        ("GET", "/raw/", None),
        ("PUT", "/raw/jobs/put.csv", ROWS),
        ("DELETE", "/raw/jobs/put.csv", None),
    ],
)
def test_unsigned_reads_writes_and_listings_are_refused(
    stack: LocalStack,
    api: ApiClient,
    before: dict[str, Any],
    method: str,
    path: str,
    body: bytes | None,
) -> None:
    url = f"{stack.s3_url}/{LOCAL_BUCKET}{path}"
    reply = requests.request(method, url, data=body, headers={"Origin": EVIL}, timeout=30)
    assert (reply.status_code, _error(reply)) == (403, "AccessDenied")
    assert "<Contents>" not in reply.text  # no key is shown
    assert not _stored("raw/jobs/put.csv")
    _nothing_happened(stack, api, before)


def _grant(api: ApiClient, size: int) -> dict[str, Any]:
    body = {"table": "jobs", "filename": "small.csv", "size": size}
    return dict(api.call("create_upload", json=body))


def test_a_presigned_post_larger_than_declared_is_refused_and_loads_nothing(
    stack: LocalStack, api: ApiClient, before: dict[str, Any]
) -> None:
    grant = _grant(api, 10)
    reply = requests.post(
        grant["url"], data=grant["fields"], files={"file": ("small.csv", ROWS)}, timeout=30
    )
    assert (reply.status_code, _error(reply)) == (400, "EntityTooLarge")
    assert not _stored(grant["key"])
    stack.wait_idle()
    assert api.status(grant["upload_id"])["state"] == "waiting"  # no file ever arrived
    assert _jobs_loaded(api) == before["jobs_rows"]


def test_a_presigned_post_smaller_than_declared_is_refused(
    stack: LocalStack, api: ApiClient
) -> None:
    grant = _grant(api, len(ROWS))
    reply = requests.post(
        grant["url"], data=grant["fields"], files={"file": ("small.csv", ROWS[:9])}, timeout=30
    )
    assert (reply.status_code, _error(reply)) == (400, "EntityTooSmall")
    assert not _stored(grant["key"])


def test_a_presigned_post_to_another_key_is_refused(
    stack: LocalStack, api: ApiClient, before: dict[str, Any]
) -> None:
    grant = _grant(api, len(ROWS))
    fields = {**grant["fields"], "key": "raw/jobs/elsewhere.csv"}
    reply = requests.post(
        grant["url"], data=fields, files={"file": ("small.csv", ROWS)}, timeout=30
    )
    assert (reply.status_code, _error(reply)) == (403, "AccessDenied")
    assert "Policy Condition failed" in reply.text
    assert not _stored("raw/jobs/elsewhere.csv")
    assert not _stored(grant["key"])
    _nothing_happened(stack, api, {**before, "uploads": api.call("list_uploads")["uploads"]})


def test_an_expired_presigned_post_is_refused(stack: LocalStack, tmp_path: Path) -> None:
    s3 = boto3.client("s3")
    key = "raw/jobs/late.csv"
    grant = s3.generate_presigned_post(
        LOCAL_BUCKET, key, Conditions=[["content-length-range", 1, 100]], ExpiresIn=1
    )
    time.sleep(2)
    reply = requests.post(
        grant["url"], data=grant["fields"], files={"file": ("late.csv", b"1,Late\n")}, timeout=30
    )
    assert (reply.status_code, _error(reply)) == (403, "AccessDenied")
    assert "Policy expired" in reply.text
    assert not _stored(key)


@pytest.mark.parametrize("method", ["POST", "PUT", "GET"])
def test_a_preflight_from_an_origin_the_cors_rules_do_not_name_is_refused(
    stack: LocalStack, method: str
) -> None:
    url = f"{stack.s3_url}/{LOCAL_BUCKET}/raw/jobs/x.csv"
    asked = {
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type",
    }
    refused = requests.options(url, headers={"Origin": EVIL, **asked}, timeout=30)
    assert (refused.status_code, _error(refused)) == (403, "AccessForbidden")
    assert "Access-Control-Allow-Origin" not in refused.headers
    # The console's own origin is allowed, and only it is named.
    origin = stack.console_origins()[0]
    allowed = requests.options(url, headers={"Origin": origin, **asked}, timeout=30)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == origin


def test_a_signed_upload_sent_from_another_origin_gets_no_cors_grant(
    stack: LocalStack, api: ApiClient
) -> None:
    """S3 authorises a form by its signature, not its origin, so a page elsewhere holding a
    grant could send it; the reply grants that page nothing to read (no CORS header)."""
    grant = _grant(api, len(ROWS))
    reply = requests.post(
        grant["url"],
        data=grant["fields"],
        files={"file": ("small.csv", ROWS)},
        headers={"Origin": EVIL},
        timeout=30,
    )
    assert reply.status_code == 204
    assert "Access-Control-Allow-Origin" not in reply.headers
    assert api.wait(grant["upload_id"])["state"] == "loaded"
