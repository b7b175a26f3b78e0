"""The client's streamed request bodies: byte-exact, sized up front, and reporting progress."""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING, Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from urllib3 import encode_multipart_formdata

from ingest_cli.errors import TransferError
from ingest_cli.progress import Feedback
from ingest_cli.transfer import Cancelled, FileSlice, FormBody, s3_error, send
from tests.properties import examples

if TYPE_CHECKING:
    from pathlib import Path

NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
FIELDS = st.dictionaries(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True).filter(lambda k: k != "file"),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    max_size=6,
)


def read_in(body: FormBody | FileSlice, sizes: list[int]) -> bytes:
    out = bytearray()
    for size in sizes:
        out += body.read(size)
    while block := body.read(7):
        out += block
    return bytes(out)


@settings(max_examples=examples(60), deadline=None)
@given(
    fields=FIELDS,
    filename=NAMES,
    data=st.binary(max_size=3000),
    sizes=st.lists(st.integers(-1, 500), max_size=8),
)
def test_form_body_matches_urllib3_encoding_whatever_the_read_sizes(
    fields: dict[str, str], filename: str, data: bytes, sizes: list[int]
) -> None:
    sent: list[int] = []
    body = FormBody(fields, filename, io.BytesIO(data), len(data), sent.append, boundary="b0und")
    expected, content_type = encode_multipart_formdata(
        [*fields.items(), ("file", (filename, data, "application/octet-stream"))],
        boundary="b0und",
    )
    assert len(body) == len(expected)  # S3 needs the exact Content-Length before the body
    assert read_in(body, sizes) == expected
    assert body.content_type == content_type
    assert sum(sent) == len(data)  # progress counts file bytes, not the form around them


def test_form_body_iterates_in_blocks() -> None:
    data = bytes(range(256)) * 4000
    body = FormBody({"key": "k"}, "f.csv", io.BytesIO(data), len(data), lambda n: None)
    blocks = list(body)
    assert len(blocks) > 1 and b"".join(blocks).count(data) == 1


@pytest.mark.parametrize(("offset", "length"), [(0, 10), (5, 5), (9, 1), (0, 0)])
def test_file_slice_reads_exactly_its_window(tmp_path: Path, offset: int, length: int) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    sent: list[int] = []
    part = FileSlice(path, offset, length, sent.append, threading.Event())
    assert len(part) == length
    assert b"".join(part) == b"0123456789"[offset : offset + length]
    assert (part.sent, sum(sent)) == (length, length)
    part.close()


def test_file_slice_stops_when_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    cancelled = threading.Event()
    part = FileSlice(path, 0, 100, lambda n: None, cancelled)
    assert part.read(10) == b"x" * 10
    cancelled.set()
    with pytest.raises(Cancelled):
        part.read(10)
    part.close()


class FakeApi:
    """The API side of an upload: grants go to a closed port, cancels are recorded."""

    timeout = 5.0

    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def create_upload(
        self, table: str, filename: str, size: int, options: Any = None
    ) -> dict[str, Any]:
        return {"upload_id": "u-1", "url": "http://127.0.0.1:9/bucket", "fields": {"key": "k"}}

    def cancel(self, upload_id: str) -> dict[str, Any]:
        self.cancelled.append(upload_id)
        return {"upload_id": upload_id, "state": "failed"}


def test_send_cancels_the_upload_when_s3_cannot_be_reached(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text("1,Dev\n")
    api = FakeApi()
    with pytest.raises(TransferError) as raised:
        send(api, path, "jobs", Feedback(Console(file=io.StringIO())), multipart=False)
    assert raised.value.message == "sending jobs.csv to S3 failed: Connection refused"
    assert raised.value.hint == "the upload was cancelled; run the command again to retry"
    assert api.cancelled == ["u-1"]


def s3_reply(status: int, text: str) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content, response.reason = status, text.encode(), "Forbidden"
    return response


EXPIRED = "<Error><Code>AccessDenied</Code><Message>Policy expired.</Message></Error>"
TOO_LARGE = "<Error><Code>EntityTooLarge</Code></Error>"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (s3_reply(403, EXPIRED), "S3 refused f.csv: AccessDenied: Policy expired. (HTTP 403)"),
        (s3_reply(400, TOO_LARGE), "S3 refused f.csv: EntityTooLarge (HTTP 400)"),
        (s3_reply(403, "not xml"), "S3 refused f.csv: Forbidden (HTTP 403)"),
    ],
)
def test_s3_error_reads_the_code_and_message_of_s3s_xml(
    response: requests.Response, message: str
) -> None:
    assert s3_error(response, "f.csv").message == message
