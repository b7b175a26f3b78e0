"""multipart/form-data parsing for the seed-compatible upload routes, as clients send it."""

from __future__ import annotations

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.api import boundary, formdata
from chalicelib.errors import InvalidRequestError, PayloadTooLargeError
from tests.properties import examples


def encode(files: dict[str, tuple[str, bytes]], data: dict[str, str] | None = None) -> tuple:
    """The content type and body ``requests`` sends, as ``curl -F file=@name`` does."""
    prepared = requests.Request("POST", "http://127.0.0.1/", files=files, data=data).prepare()
    assert isinstance(prepared.body, bytes)
    return prepared.headers["Content-Type"], prepared.body


@settings(max_examples=examples(100), deadline=None)
@given(
    data=st.binary(min_size=1, max_size=2000)
    | st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"--", b"a,b", b"\xff", b'"'])).map(
        b"".join
    ),
    name=st.from_regex(r"[A-Za-z0-9._-]{1,30}", fullmatch=True),
)
def test_read_file_field_returns_exactly_the_bytes_sent(data: bytes, name: str) -> None:
    if not data:
        data = b"x"
    content_type, body = encode({"file": (name, data)}, {"note": "other fields are ignored"})
    sent = formdata.read_file_field(content_type, body)
    assert sent.data == data
    assert sent.filename == name


@pytest.mark.parametrize(
    ("content_type", "body", "fragment"),
    [
        (None, b'{"a": 1}', "content type 'none' is not a form"),
        ("application/json", b'{"a": 1}', "'application/json' is not a form"),
        ("text/csv", b"1,Sales\n", "'text/csv' is not a form"),
        ("multipart/form-data", b"--x\r\n\r\n--x--", "could not be read"),
        ("multipart/form-data; boundary=x", b"not a form at all", "could not be read"),
        ("multipart/form-data; boundary=x\r\nX-Evil: 1", b"", "is not a form"),
    ],
)
def test_read_file_field_refuses_what_is_not_a_form(
    content_type: str | None, body: bytes, fragment: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        formdata.read_file_field(content_type, body)
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"upload": ("a.csv", b"1,Sales\n")}, "has no field 'file'"),
        ({"file": ("a.csv", b"")}, "is empty"),
    ],
)
def test_read_file_field_refuses_a_missing_or_empty_file(
    files: dict[str, tuple[str, bytes]], fragment: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        formdata.read_file_field(*encode(files))
    assert fragment in caught.value.message


def test_read_file_field_refuses_two_files_in_the_field() -> None:
    prepared = requests.Request(
        "POST", "http://127.0.0.1/", files=[("file", ("a", b"1")), ("file", ("b", b"2"))]
    ).prepare()
    with pytest.raises(InvalidRequestError, match="2 fields 'file'"):
        formdata.read_file_field(prepared.headers["Content-Type"], prepared.body)  # type: ignore[arg-type]


def test_read_file_field_refuses_a_form_over_the_limit_and_points_to_presigned_uploads() -> None:
    content_type, body = encode({"file": ("big.csv", b"x" * formdata.MAX_FORM_BYTES)})
    assert len(body) > formdata.MAX_FORM_BYTES
    with pytest.raises(PayloadTooLargeError) as caught:
        formdata.read_file_field(content_type, body)
    assert "POST /api/v1/uploads" in caught.value.message
    assert boundary.status_of(type(caught.value)) == 413


@pytest.mark.parametrize(
    ("headers", "context", "expected"),
    [
        (
            {"host": "127.0.0.1:8000"},
            {"path": "/api/v1/upload_jobs", "resourcePath": "/api/v1/upload_jobs"},
            "http://127.0.0.1:8000",
        ),
        (
            {"host": "abc.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https"},
            {"path": "/api/api/v1/upload_jobs", "resourcePath": "/api/v1/upload_jobs"},
            "https://abc.execute-api.us-east-1.amazonaws.com/api",
        ),
        ({}, {}, "http://localhost"),
    ],
)
def test_public_base_url_keeps_the_api_gateway_stage(
    headers: dict[str, str], context: dict[str, str], expected: str
) -> None:
    assert formdata.public_base_url(headers, context) == expected
