"""Multipart uploads and cancelling, over HTTP on the local stack (moto implements multipart)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests

from chalicelib.api.multipart_uploads import CANCELLED, MiB

if TYPE_CHECKING:
    from devstack.client import ApiClient

BUCKET = "ingest-local"
LONG = 1_000_000  # bytes: a record over 64 KiB is rejected unread, so big files stay cheap


def big_jobs_file(size: int) -> tuple[bytes, int, int]:
    """(body, rows, valid rows): valid job rows between records too long to read."""
    lines, valid, n = [], 0, 0
    while sum(map(len, lines)) < size:
        n += 1
        if n % 3 == 0:
            lines.append(f"{n},Job {n}\n".encode())
            valid += 1
        else:
            lines.append(f"{n},{'x' * LONG}\n".encode())
    return b"".join(lines), n, valid


def start(api: ApiClient, name: str, size: int, **extra: Any) -> dict[str, Any]:
    body = {"table": "jobs", "filename": name, "size": size, **extra}
    return dict(api._call("POST", "/api/v1/multipart-uploads", json=body))


def put_parts(api: ApiClient, grant: dict[str, Any], body: bytes) -> list[dict[str, Any]]:
    uid, size = grant["upload_id"], grant["part_size"]
    numbers = list(range(1, grant["part_count"] + 1))
    signed = api._call(
        "POST", f"/api/v1/multipart-uploads/{uid}/parts", json={"part_numbers": numbers}
    )["parts"]
    parts = []
    for item in signed:
        n = item["part_number"]
        reply = requests.put(item["url"], data=body[(n - 1) * size : n * size], timeout=30)
        assert reply.status_code == 200, reply.text
        parts.append({"part_number": n, "etag": reply.headers["ETag"]})
    return parts


def pending_multipart_keys() -> list[str]:
    return [
        u["Key"]
        for u in boto3.client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    ]


def test_multipart_upload_in_two_parts_is_reassembled_and_loaded(api: ApiClient) -> None:
    body, rows, valid = big_jobs_file(5 * MiB + 200_000)
    grant = start(api, "big.csv", len(body), part_size=5 * MiB)
    assert (grant["part_size"], grant["part_count"], grant["size"]) == (5 * MiB, 2, len(body))
    assert grant["key"] == f"raw/jobs/{grant['upload_id']}/big.csv"
    parts = put_parts(api, grant, body)
    done = api._call(
        "POST", f"/api/v1/multipart-uploads/{grant['upload_id']}/complete", json={"parts": parts}
    )
    assert done == {"upload_id": grant["upload_id"], "key": grant["key"], "size": len(body)}
    status = api.wait(grant["upload_id"])
    assert (status["state"], status["rows_total"], status["rows_valid"]) == ("loaded", rows, valid)
    assert grant["key"] not in pending_multipart_keys()


def test_complete_refuses_missing_parts_and_a_wrong_total_size(api: ApiClient) -> None:
    body, _, _ = big_jobs_file(1000)
    grant = start(api, "short.csv", len(body) + 1)  # declares one byte more than it sends
    parts = put_parts(api, grant, body)
    uid = grant["upload_id"]
    for bad, fragment in [
        ({"parts": []}, "every part from 1 to 1"),
        ({"parts": [{"part_number": 1}]}, "part_number"),
        (parts, "parts must be"),
        ({"parts": parts}, f"hold {len(body)} bytes but the upload declared {len(body) + 1}"),
    ]:
        reply = requests.post(
            f"{api.base_url}/api/v1/multipart-uploads/{uid}/complete",
            json=bad,
            headers={"x-api-key": api.api_key},
            timeout=10,
        )
        assert reply.status_code == 400, bad
        assert fragment in reply.json()["error"]["message"]
    assert api.status(uid)["state"] == "waiting"  # nothing was completed


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"size": 0}, "is empty (0 bytes)"),
        ({"size": 6 * 1024**4}, "size must be"),
        ({"part_size": 1024}, "part_size must be"),
        ({"part_size": "5MB"}, "part_size must be"),
        ({"table": "payroll"}, "unknown table"),
    ],
)
def test_create_multipart_refuses_bad_bodies(
    api: ApiClient, extra: dict[str, Any], fragment: str
) -> None:
    body = {"table": "jobs", "filename": "a.csv", "size": 10, **extra}
    reply = requests.post(
        f"{api.base_url}/api/v1/multipart-uploads",
        json=body,
        headers={"x-api-key": api.api_key},
        timeout=10,
    )
    assert reply.status_code == 400
    assert fragment in reply.json()["error"]["message"]


def test_sign_parts_refuses_out_of_range_part_numbers(api: ApiClient) -> None:
    grant = start(api, "a.csv", 10)
    for numbers in ([], [0], [2], ["1"], list(range(1, 102))):
        reply = requests.post(
            f"{api.base_url}/api/v1/multipart-uploads/{grant['upload_id']}/parts",
            json={"part_numbers": numbers},
            headers={"x-api-key": api.api_key},
            timeout=10,
        )
        assert reply.status_code == 400, numbers


def test_cancel_aborts_the_s3_upload_and_marks_it_failed(api: ApiClient) -> None:
    grant = start(api, "cancelled.csv", 10)
    assert grant["key"] in pending_multipart_keys()
    reply = api._call("DELETE", f"/api/v1/uploads/{grant['upload_id']}")
    assert reply == {"upload_id": grant["upload_id"], "state": "failed", "error": CANCELLED}
    assert grant["key"] not in pending_multipart_keys()
    status = api.status(grant["upload_id"])
    assert (status["state"], status["error"]) == ("failed", CANCELLED)
    again = requests.post(
        f"{api.base_url}/api/v1/multipart-uploads/{grant['upload_id']}/parts",
        json={"part_numbers": [1]},
        headers={"x-api-key": api.api_key},
        timeout=10,
    )
    assert again.status_code == 409


def test_cancel_refuses_an_upload_whose_file_arrived(api: ApiClient, write: Any) -> None:
    uid = api.upload("jobs", write("jobs.csv", "1,Dev\n"))
    assert api.wait(uid)["state"] == "loaded"
    reply = requests.delete(
        f"{api.base_url}/api/v1/uploads/{uid}", headers={"x-api-key": api.api_key}, timeout=10
    )
    assert reply.status_code == 409
    assert reply.json()["error"]["code"] == "conflict"
    assert api.status(uid)["state"] == "loaded"


def test_a_presigned_post_upload_can_be_cancelled_before_its_file_arrives(
    api: ApiClient,
) -> None:
    grant = api._call(
        "POST", "/api/v1/uploads", json={"table": "jobs", "filename": "j.csv", "size": 5}
    )
    api._call("DELETE", f"/api/v1/uploads/{grant['upload_id']}")
    assert api.status(grant["upload_id"])["state"] == "failed"
