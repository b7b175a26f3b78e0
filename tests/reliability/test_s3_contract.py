"""The S3 behaviour the pipeline relies on, checked the same way on the in-memory S3 and on the
local stack's S3.

Most reliability tests run on ``FakeS3`` for speed; this holds it to the AWS emulator the local
stack runs on what the code depends on: conditional writes (``If-None-Match: *``,
``If-Match``) and conditional reads, and listing (prefix, delimiter, key order, pages,
continuation tokens, start-after). Every check runs against both.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import storage
from tests.reliability.fakes3 import FakeS3

if TYPE_CHECKING:
    from tests.reliability.conftest import LocalS3

KEYS = [
    "b",
    "a/2",
    "a/10",
    "a/1",
    "A",
    "a-b",
    "a.b",
    "a/b/c",
    "a/b/d",
    "a/c/e",
    "\u00e9",
    "z",
    "a0",
    "_x",
    "a/ b",
    "a/\u00e9t\u00e9",
]


@pytest.fixture(params=["in-memory", "emulator"])
def s3(request: pytest.FixtureRequest, local_s3: LocalS3) -> tuple[Any, str]:
    if request.param == "in-memory":
        return FakeS3("contract"), "contract"
    return local_s3.s3, local_s3.new_bucket()


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _filled(s3: tuple[Any, str]) -> tuple[Any, str]:
    client, bucket = s3
    for key in random.Random(7).sample(KEYS, len(KEYS)):
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return client, bucket


def _keys(page: dict[str, Any]) -> list[str]:
    return [item["Key"] for item in page.get("Contents", [])]


def _utf8_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


def test_s3_put_returns_the_md5_etag(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    etag = client.put_object(Bucket=bucket, Key="k", Body=b"data")["ETag"]
    assert etag == f'"{hashlib.md5(b"data").hexdigest()}"'  # noqa: S324 - S3's ETag
    assert client.head_object(Bucket=bucket, Key="k")["ETag"] == etag
    assert client.get_object(Bucket=bucket, Key="k")["ETag"] == etag


def test_s3_put_if_none_match_creates_once(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert _code(caught) == ("PreconditionFailed", 412)
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_s3_put_if_match_replaces_only_the_version_read(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    first = client.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    second = client.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=first)["ETag"]
    assert second != first
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key="k", Body=b"three", IfMatch=first)
    assert _code(caught) == ("PreconditionFailed", 412)
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key="missing", Body=b"x", IfMatch=first)
    assert _code(caught) == ("NoSuchKey", 404)


def test_s3_get_if_match_refuses_a_changed_object(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    first = client.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    assert client.get_object(Bucket=bucket, Key="k", IfMatch=first)["Body"].read() == b"one"
    client.put_object(Bucket=bucket, Key="k", Body=b"two")
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=bucket, Key="k", IfMatch=first)
    assert _code(caught) == ("PreconditionFailed", 412)


def test_s3_ranged_get_serves_the_bytes_asked_for_and_refuses_past_the_end(
    s3: tuple[Any, str],
) -> None:
    client, bucket = s3
    etag = client.put_object(Bucket=bucket, Key="k", Body=b"0123456789")["ETag"]
    got = client.get_object(Bucket=bucket, Key="k", Range="bytes=2-5", IfMatch=etag)
    assert got["Body"].read() == b"2345"
    assert client.get_object(Bucket=bucket, Key="k", Range="bytes=7-")["Body"].read() == b"789"
    assert client.get_object(Bucket=bucket, Key="k", Range="bytes=8-99")["Body"].read() == b"89"
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=bucket, Key="k", Range="bytes=10-")
    assert _code(caught) == ("InvalidRange", 416)


def test_s3_storage_conditional_json_helpers(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    key = "uploads/jobs/x/state.json"
    assert storage.put_json_if_absent(client, bucket, key, {"v": 1})
    assert not storage.put_json_if_absent(client, bucket, key, {"v": 2})
    found = storage.get_json_and_etag(client, bucket, key)
    assert found is not None and found[0] == {"v": 1}
    assert storage.put_json_if_match(client, bucket, key, {"v": 3}, found[1])
    assert not storage.put_json_if_match(client, bucket, key, {"v": 4}, found[1])
    assert storage.get_json(client, bucket, key) == {"v": 3}
    assert not storage.put_json_if_match(client, bucket, key + ".missing", {"v": 5}, found[1])
    assert storage.get_json(client, bucket, key + ".missing") is None
    assert not storage.exists(client, bucket, key + ".missing")


def test_s3_missing_objects(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=bucket, Key="nope")
    assert _code(caught) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as caught:
        client.head_object(Bucket=bucket, Key="nope")
    assert _code(caught) == ("404", 404)
    client.delete_object(Bucket=bucket, Key="nope")  # deleting nothing is fine


def test_s3_copy_onto_itself_needs_replace(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"a": "1"})
    source = {"Bucket": bucket, "Key": "k"}
    with pytest.raises(ClientError) as caught:
        client.copy_object(Bucket=bucket, Key="k", CopySource=source)
    assert _code(caught) == ("InvalidRequest", 400)
    client.copy_object(
        Bucket=bucket, Key="k", CopySource=source, MetadataDirective="REPLACE", Metadata={"b": "2"}
    )
    head = client.head_object(Bucket=bucket, Key="k")
    assert head["Metadata"] == {"b": "2"}
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_s3_list_is_in_utf8_key_order_and_filtered_by_prefix(s3: tuple[Any, str]) -> None:
    client, bucket = _filled(s3)
    everything = client.list_objects_v2(Bucket=bucket)
    assert _keys(everything) == _utf8_order(KEYS)
    assert everything["KeyCount"] == len(KEYS) and not everything["IsTruncated"]
    under_a = client.list_objects_v2(Bucket=bucket, Prefix="a/")
    assert _keys(under_a) == _utf8_order([k for k in KEYS if k.startswith("a/")])
    none = client.list_objects_v2(Bucket=bucket, Prefix="nothing/")
    assert (_keys(none), none["KeyCount"], "Contents" in none) == ([], 0, False)


def test_s3_list_with_a_delimiter_gives_folders_in_order(s3: tuple[Any, str]) -> None:
    client, bucket = _filled(s3)
    page = client.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert _keys(page) == _utf8_order(["a/1", "a/10", "a/2", "a/ b", "a/\u00e9t\u00e9"])
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/b/", "a/c/"]
    assert page["KeyCount"] == 7
    assert storage.list_folders(client, bucket, "a/") == ["b", "c"]


def test_s3_list_pages_follow_continuation_tokens(s3: tuple[Any, str]) -> None:
    client, bucket = _filled(s3)
    seen: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": 3}
    pages = 0
    while True:
        page = client.list_objects_v2(**kwargs)
        pages += 1
        assert page["KeyCount"] == len(_keys(page)) <= 3
        seen += _keys(page)
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        assert len(_keys(page)) == 3
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    assert seen == _utf8_order(KEYS)
    assert pages == -(-len(KEYS) // 3)


def test_s3_list_start_after(s3: tuple[Any, str]) -> None:
    client, bucket = _filled(s3)
    ordered = _utf8_order(KEYS)
    page = client.list_objects_v2(Bucket=bucket, StartAfter="a/2")
    assert _keys(page) == ordered[ordered.index("a/2") + 1 :]
    page = client.list_objects_v2(Bucket=bucket, Prefix="a/", StartAfter="a/10", MaxKeys=2)
    assert _keys(page) == ["a/2", "a/b/c"] and page["IsTruncated"]
    rest = client.list_objects_v2(
        Bucket=bucket,
        Prefix="a/",
        StartAfter="a/10",
        ContinuationToken=page["NextContinuationToken"],
    )
    assert _keys(rest) == ["a/b/d", "a/c/e", "a/\u00e9t\u00e9"]
    beyond = client.list_objects_v2(Bucket=bucket, StartAfter="\u00ff")
    assert _keys(beyond) == []


def test_s3_paginator_and_storage_listing_walk_every_page(s3: tuple[Any, str]) -> None:
    client, bucket = _filled(s3)
    pages = list(
        client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 4}
        )
    )
    assert len(pages) == 4
    assert [k for page in pages for k in _keys(page)] == _utf8_order(KEYS)
    assert list(storage.list_keys(client, bucket, "a/b/")) == ["a/b/c", "a/b/d"]
    assert list(storage.list_keys(client, bucket, "")) == _utf8_order(KEYS)


def test_s3_list_pages_with_a_delimiter_count_folders_once(s3: tuple[Any, str]) -> None:
    client, bucket = _filled(s3)
    pages = list(
        client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="a/", Delimiter="/", PaginationConfig={"PageSize": 2}
        )
    )
    assert [p["KeyCount"] for p in pages] == [2, 2, 2, 1]
    folders = [f["Prefix"] for page in pages for f in page.get("CommonPrefixes", [])]
    assert folders == ["a/b/", "a/c/"]
    keys = [k for page in pages for k in _keys(page)]
    assert keys == _utf8_order(["a/1", "a/10", "a/2", "a/ b", "a/\u00e9t\u00e9"])
