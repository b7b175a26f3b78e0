"""The HTTP API as the client sees it: one method per route, JSON in and out.

Owns the base URL, the ``x-api-key`` header, timeouts and retries, and turns every failure into
a one-line ``ApiError`` or ``ApiUnreachableError``. It does not move file bytes (``transfer.py``)
or print anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ingest_cli.contract import ROUTES
from ingest_cli.errors import ApiError, ApiUnreachableError, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

PREFIX = "/api/v1"
DEFAULT_URL = "http://127.0.0.1:8000"  # `make serve`
KEY_HINT = "pass --api-key or set INGEST_API_KEY"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_PARAMETER = re.compile(r"\{(\w+)\}")
# The report names the CLI takes, and the routes that serve them.
REPORTS = {
    "hires-by-quarter": "get_hires_by_quarter",
    "departments-above-mean": "get_departments_above_mean",
}


def normalize_url(url: str) -> str:
    """The API root from what a user typed: no trailing slash, no trailing ``/api/v1``.

    Raises:
        UsageError: not an http(s) URL.
    """
    text = url.strip().rstrip("/")
    text = text.removesuffix(PREFIX)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"API URL must look like https://host[/stage], got {url!r}",
            "pass --api-url or set INGEST_API_URL",
        )
    return text


def _seg(value: str) -> str:
    """One path segment: an id typed by a user cannot reach another route."""
    return quote(value, safe="")


def route(name: str, **params: str) -> tuple[str, str]:
    """The method and the path (under ``/api/v1``) of the API's route ``name``, with its
    ``{parameters}`` filled in, each as one path segment.

    Raises:
        KeyError: no such route, or a parameter it needs is missing.
    """
    method, path = ROUTES[name]
    filled = _PARAMETER.sub(lambda m: _seg(params[m.group(1)]), path)
    return method, filled.removeprefix(PREFIX)


def _session() -> requests.Session:
    session = requests.Session()
    # Only reads are retried: a repeated POST could start a second upload.
    retry = Retry(
        total=3,
        connect=2,
        backoff_factor=0.2,
        status_forcelist=(502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
    )
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def short_reason(exc: Exception) -> str:
    """The useful end of a requests/urllib3 error chain (e.g. 'Connection refused')."""
    found = _ERRNO.findall(str(exc))
    if found:
        return str(found[-1]).strip()
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__


def error_of(reply: requests.Response, what: str) -> ApiError:
    """An ``ApiError`` from an error reply, whichever shape its body has."""
    try:
        body = reply.json()
    except ValueError:
        body = None
    message, code = None, None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # ours: {"error": {"code", "message"}}
            message, code = error.get("message"), error.get("code")
        else:  # API Gateway: {"message"}; Chalice's own: {"Code", "Message"}
            message = body.get("message") or body.get("Message")
            code = body.get("Code")
    if not message:
        message = reply.text.strip()[:200] or reply.reason or "no details"
    hint = KEY_HINT if reply.status_code in (401, 403) else None
    return ApiError(
        reply.status_code,
        code,
        f"{message} (HTTP {reply.status_code} from {what})",
        hint,
    )


@dataclass
class Api:
    """A client of one deployment of the API."""

    base_url: str
    api_key: str | None = None
    timeout: float = 30.0
    session: requests.Session = field(default_factory=_session)

    def __post_init__(self) -> None:
        self.base_url = normalize_url(self.base_url)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The JSON reply of ``method path``.

        Raises:
            ApiError: the API answered with an error status.
            ApiUnreachableError: no answer.
        """
        url = f"{self.base_url}{PREFIX}{path}"
        headers = {"x-api-key": self.api_key} if self.api_key else {}
        what = f"{method} {PREFIX}{path}"
        try:
            reply = self.session.request(
                method, url, json=body, params=params, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ApiUnreachableError(
                f"cannot reach the API at {self.base_url}: {short_reason(exc)}",
                "is the stack running (make serve)? check --api-url or INGEST_API_URL",
            ) from None
        if reply.status_code >= 400:
            raise error_of(reply, what)
        try:
            return reply.json() if reply.content else None
        except ValueError:
            raise ApiError(
                reply.status_code, None, f"the API sent something that is not JSON ({what})"
            ) from None

    def health(self) -> dict[str, Any]:
        return dict(self.call(*route("get_health")))

    def create_upload(
        self, table: str, filename: str, size: int, options: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        body = {"table": table, "filename": filename, "size": size, **(options or {})}
        return dict(self.call(*route("create_upload"), body=body))

    def create_multipart(
        self,
        table: str,
        filename: str,
        size: int,
        part_size: int | None = None,
        options: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"table": table, "filename": filename, "size": size}
        body.update(options or {})
        if part_size is not None:
            body["part_size"] = part_size
        return dict(self.call(*route("create_multipart_upload"), body=body))

    def sign_parts(self, upload_id: str, numbers: list[int]) -> list[dict[str, Any]]:
        method, path = route("sign_upload_parts", upload_id=upload_id)
        reply = self.call(method, path, body={"part_numbers": numbers})
        return list(reply["parts"])

    def complete_multipart(self, upload_id: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
        method, path = route("complete_multipart_upload", upload_id=upload_id)
        reply = self.call(method, path, body={"parts": parts})
        return dict(reply)

    def cancel(self, upload_id: str) -> dict[str, Any]:
        return dict(self.call(*route("cancel_upload", upload_id=upload_id)))

    def retry(self, upload_id: str) -> dict[str, Any]:
        return dict(self.call(*route("retry_upload", upload_id=upload_id)))

    def status(self, upload_id: str) -> dict[str, Any]:
        return dict(self.call(*route("get_upload", upload_id=upload_id)))

    def uploads(self, table: str | None = None) -> list[dict[str, Any]]:
        params = {"table": table} if table else None
        return list(self.call(*route("list_uploads"), params=params)["uploads"])

    def report(self, name: str, year: int) -> dict[str, Any]:
        return dict(self.call(*route(REPORTS[name]), params={"year": year}))

    def backup(self, table: str) -> dict[str, Any]:
        return dict(self.call(*route("create_backup"), body={"table": table}))

    def backups(self) -> list[dict[str, Any]]:
        reply = self.call(*route("list_backups"))
        return list(reply["backups"] if isinstance(reply, dict) else reply)

    def restore(self, backup_id: str, table: str) -> dict[str, Any]:
        body = {"backup_id": backup_id, "table": table}
        return dict(self.call(*route("create_restore"), body=body))

    def dead_letters(self) -> list[dict[str, Any]]:
        return list(self.call(*route("list_dead_letters"))["queues"])

    def redrive_dead_letters(self, stage: str, limit: int) -> dict[str, int]:
        body = {"stage": stage, "limit": limit}
        reply = self.call(*route("redrive_dead_letters"), body=body)
        return {str(k): int(v) for k, v in reply["moved"].items()}
