"""Sending a file's bytes to S3 through the presigned requests the API hands out.

Owns the streamed ``multipart/form-data`` body of a presigned POST (files up to 5 GB) and the
parallel part PUTs of a multipart upload (bigger files), both reporting progress as bytes go
out. If sending fails or is interrupted (Ctrl-C), it asks the API to cancel the upload, which
aborts any S3 multipart upload, so nothing is left half-done: running the command again starts
a fresh upload. It never needs AWS credentials.
"""

from __future__ import annotations

import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import requests

from ingest_cli.api import short_reason
from ingest_cli.errors import CliError, Interrupted, TransferError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from ingest_cli.api import Api
    from ingest_cli.progress import Advance, Feedback

BLOCK = 256 * 1024
# A presigned POST carries at most 5 GB; well below that a multipart upload is already faster
# (parallel parts) and survives a dropped connection with one part to resend, not the file.
MULTIPART_THRESHOLD = 100 * 1024**2
PART_ATTEMPTS = 3
_S3_CODE = re.compile(r"<Code>([^<]*)</Code>")
_S3_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


class Cancelled(OSError):
    """Raised inside a body read when the transfer is being cancelled."""


def s3_error(reply: requests.Response, what: str) -> TransferError:
    """A one-line ``TransferError`` from S3's XML error reply."""
    code = _S3_CODE.search(reply.text)
    message = _S3_MESSAGE.search(reply.text)
    detail = ": ".join(m.group(1) for m in (code, message) if m) or reply.reason or "no details"
    return TransferError(f"S3 refused {what}: {detail} (HTTP {reply.status_code})")


class FormBody:
    """A presigned POST's multipart/form-data body, read from the file as it is sent.

    S3 needs the exact Content-Length up front (no chunked encoding), so the size is computed
    from the fields and the file size, and ``__len__`` tells it to requests.
    """

    def __init__(
        self,
        fields: Mapping[str, str],
        filename: str,
        handle: BinaryIO,
        size: int,
        advance: Advance,
        boundary: str | None = None,
    ) -> None:
        self.boundary = boundary or secrets.token_hex(16)
        safe_name = filename.replace('"', "%22").replace("\r", "").replace("\n", "")
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + str(value).encode()
            + b"\r\n"
            for name, value in fields.items()
        )
        # S3 requires the file to be the last field.
        head += (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._parts: list[bytes | BinaryIO] = [head, handle, tail]
        self._length = len(head) + size + len(tail)
        self._advance = advance
        self._index = 0
        self._offset = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._length

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the body (all that is left if ``n`` < 0); b"" at the end."""
        out = bytearray()
        while self._index < len(self._parts) and (n < 0 or len(out) < n):
            part = self._parts[self._index]
            want = -1 if n < 0 else n - len(out)
            if isinstance(part, bytes):
                piece = (
                    part[self._offset :] if want < 0 else part[self._offset : self._offset + want]
                )
                self._offset += len(piece)
                if self._offset >= len(part):
                    self._index, self._offset = self._index + 1, 0
            else:
                piece = part.read(want)
                if piece:
                    self._advance(len(piece))
                else:
                    self._index += 1
            out += piece
        return bytes(out)

    def __iter__(self) -> Iterator[bytes]:
        while block := self.read(BLOCK):
            yield block


class FileSlice:
    """``length`` bytes of a file from ``offset``: one part's PUT body, cancellable."""

    def __init__(
        self, path: Path, offset: int, length: int, advance: Advance, cancelled: threading.Event
    ) -> None:
        self._handle = path.open("rb")
        self._handle.seek(offset)
        self._left = self._length = length
        self._advance = advance
        self._cancelled = cancelled
        self.sent = 0

    def __len__(self) -> int:
        return self._length

    def read(self, n: int = -1) -> bytes:
        if self._cancelled.is_set():
            raise Cancelled("transfer cancelled")
        piece = self._handle.read(self._left if n < 0 else min(n, self._left))
        self._left -= len(piece)
        self.sent += len(piece)
        self._advance(len(piece))
        return piece

    def __iter__(self) -> Iterator[bytes]:
        while block := self.read(BLOCK):
            yield block

    def close(self) -> None:
        self._handle.close()


@dataclass(frozen=True)
class Sent:
    """A file handed to the pipeline."""

    upload_id: str
    table: str
    path: Path
    size: int
    multipart: bool


def send(
    api: Api,
    path: Path,
    table: str,
    feedback: Feedback,
    *,
    multipart: bool | None = None,
    part_size: int | None = None,
    workers: int = 4,
    options: Mapping[str, str] | None = None,
) -> Sent:
    """Upload ``path`` into ``table``; multipart when asked, or when the file is big.
    ``options`` (header, encoding, delimiter) say how the pipeline is to read the file.

    Raises:
        ApiError: the API refused the upload.
        TransferError: S3 refused the bytes.
    """
    size = path.stat().st_size
    use_multipart = size > MULTIPART_THRESHOLD if multipart is None else multipart
    if use_multipart:
        grant = api.create_multipart(table, path.name, size, part_size, options)
    else:
        grant = api.create_upload(table, path.name, size, options)
    upload_id = str(grant["upload_id"])
    how = f"{grant['part_count']} parts" if use_multipart else "one POST"
    feedback.say(f"{path.name}: upload {upload_id} into {table} ({how})")
    try:
        with feedback.transfer(path.name, size) as advance:
            if use_multipart:
                _send_parts(api, grant, path, advance, workers)
            else:
                _post(grant, path, size, advance, api.timeout)
    except BaseException as exc:  # Ctrl-C included: leave nothing half-done on the server
        cancelled = _cancel_quietly(api, upload_id)
        outcome = "the upload was cancelled" if cancelled else "the upload could not be cancelled"
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(
                f"interrupted while sending {path.name}; {outcome}",
                "run the command again to start over",
            ) from None
        if isinstance(exc, CliError):
            exc.hint = f"{outcome}; run the command again to retry"
        raise
    return Sent(upload_id, table, path, size, use_multipart)


def _cancel_quietly(api: Api, upload_id: str) -> bool:
    try:
        api.cancel(upload_id)
    except CliError:
        return False  # already arrived (409), or the API is gone: nothing more to do here
    return True


def _post(grant: dict[str, Any], path: Path, size: int, advance: Advance, timeout: float) -> None:
    with path.open("rb") as handle:
        body = FormBody(grant["fields"], path.name, handle, size, advance)
        try:
            reply = requests.post(
                grant["url"],
                data=body,
                headers={"Content-Type": body.content_type, "Content-Length": str(len(body))},
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise TransferError(f"sending {path.name} to S3 failed: {short_reason(exc)}") from None
    if reply.status_code >= 300:
        raise s3_error(reply, path.name)


def _send_parts(
    api: Api, grant: dict[str, Any], path: Path, advance: Advance, workers: int
) -> None:
    upload_id, size = str(grant["upload_id"]), int(grant["size"])
    part_size, count = int(grant["part_size"]), int(grant["part_count"])
    cancelled = threading.Event()

    def one(number: int) -> dict[str, Any]:
        offset = (number - 1) * part_size
        length = min(part_size, size - offset)
        for attempt in range(1, PART_ATTEMPTS + 1):
            (signed,) = api.sign_parts(upload_id, [number])
            body = FileSlice(path, offset, length, advance, cancelled)
            try:
                reply = requests.put(signed["url"], data=body, timeout=api.timeout)
            except (requests.RequestException, OSError) as exc:
                advance(-body.sent)
                if cancelled.is_set() or attempt == PART_ATTEMPTS:
                    raise TransferError(
                        f"sending part {number} of {path.name} failed: {short_reason(exc)}"
                    ) from None
                continue
            finally:
                body.close()
            if reply.status_code >= 500 and attempt < PART_ATTEMPTS:
                advance(-body.sent)
                continue
            if reply.status_code >= 300:
                raise s3_error(reply, f"part {number} of {path.name}")
            return {"part_number": number, "etag": reply.headers["ETag"]}
        raise AssertionError("unreachable")

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="part")
    try:
        futures = [pool.submit(one, n) for n in range(1, count + 1)]
        parts = [future.result() for future in futures]
    except BaseException:
        cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    api.complete_multipart(upload_id, parts)
