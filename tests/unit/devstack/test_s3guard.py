"""The guard in front of the emulator refuses a copy of an object onto itself that changes
nothing, as S3 does, and passes every other request on."""

from __future__ import annotations

import pytest

from devstack.s3guard import refusal

SIGNED = {"authorization": "AWS4-HMAC-SHA256 Credential=..."}


@pytest.mark.parametrize(
    ("path", "query", "headers"),
    [
        ("/b/k", "", {"x-amz-copy-source": "b/k"}),
        ("/b/k", "", {"x-amz-copy-source": "/b/k"}),
        ("/b/a%20b", "", {"x-amz-copy-source": "b/a%20b"}),
        ("/b/k", "", {"x-amz-copy-source": "b/k", "x-amz-metadata-directive": "COPY"}),
        ("/b/k", "X-Amz-Signature=abc", {"x-amz-copy-source": "b/k", "authorization": None}),
    ],
)
def test_a_self_copy_that_changes_nothing_is_refused(
    path: str, query: str, headers: dict[str, str | None]
) -> None:
    sent = {k: v for k, v in {**SIGNED, **headers}.items() if v is not None}
    code, message = refusal("PUT", path, query, sent) or ("", "")
    assert code == "InvalidRequest"
    assert "copy an object to itself" in message


@pytest.mark.parametrize(
    ("method", "path", "query", "headers"),
    [
        ("PUT", "/b/k", "", {"x-amz-copy-source": "b/k", "x-amz-metadata-directive": "REPLACE"}),
        ("PUT", "/b/k", "", {"x-amz-copy-source": "b/k", "x-amz-storage-class": "GLACIER"}),
        ("PUT", "/b/k", "", {"x-amz-copy-source": "b/k", "x-amz-server-side-encryption": "AES256"}),
        ("PUT", "/b/k", "", {"x-amz-copy-source": "b/k?versionId=3"}),
        ("PUT", "/b/k2", "", {"x-amz-copy-source": "b/k"}),  # another key
        ("PUT", "/c/k", "", {"x-amz-copy-source": "b/k"}),  # another bucket
        ("PUT", "/b/k", "partNumber=1&uploadId=u", {"x-amz-copy-source": "b/k"}),  # a part
        ("PUT", "/b/k", "", {}),  # a plain PUT
        ("GET", "/b/k", "", {"x-amz-copy-source": "b/k"}),
    ],
)
def test_every_other_request_is_passed_on(
    method: str, path: str, query: str, headers: dict[str, str]
) -> None:
    assert refusal(method, path, query, {**SIGNED, **headers}) is None


def test_an_unsigned_self_copy_is_left_to_the_emulator_which_refuses_it_as_anonymous() -> None:
    assert refusal("PUT", "/b/k", "", {"x-amz-copy-source": "b/k"}) is None
