"""The web console: one static page and its assets, served by the app itself.

Owns which files are served, their content types and the headers that guard the page (a
Content Security Policy that allows scripts from this origin only, no framing, no referrer).
It does not call the API: the page does, from the browser, with the key a person types. The
files live in ``static/`` beside this module and ship in the Lambda bundle with ``chalicelib``.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CORSRuleTypeDef

STATIC = Path(__file__).resolve().parent / "static"
PAGE = "index.html"
PAGE_PATHS = ("/", "/console")
ASSET_PATH = "/console/{name}"
# Routes that answer without the x-api-key header: the page and its files hold no data.
PUBLIC_PATHS = frozenset({*PAGE_PATHS, ASSET_PATH})
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # The files change with each deployment; a browser asks again rather than keeping old ones.
    "Cache-Control": "no-cache",
}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, as a browser compares origins."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def s3_origins(s3: S3Client, bucket: str) -> list[str]:
    """The origins the browser sends files to and reads reports from: those of the presigned
    POST and GET URLs this client makes (signing only; no request is sent)."""
    post = s3.generate_presigned_post(Bucket=bucket, Key="raw/", ExpiresIn=60)["url"]
    get = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "rejected/"}, ExpiresIn=60
    )
    return sorted({origin_of(post), origin_of(get)})


def base_href(context: Mapping[str, Any]) -> str:
    """The folder the page's relative links start from: ``/`` locally, ``/<stage>/`` behind API
    Gateway, whose request path carries the stage while the resource path does not."""
    path = str(context.get("path") or "/")
    resource = str(context.get("resourcePath") or "/")
    if resource == "/":
        prefix = path.rstrip("/")
    elif path.endswith(resource):
        prefix = path[: -len(resource)]
    else:
        prefix = ""
    return f"{prefix.rstrip('/')}/"


def cors_rules(origins: list[str]) -> list[CORSRuleTypeDef]:
    """The bucket's CORS rules (boto3's shape) for a console served at ``origins``: POST (one
    file), PUT (multipart parts, whose ETag the page must read) and GET (rejected rows)."""
    return [
        {
            "AllowedOrigins": sorted(set(origins)),
            "AllowedMethods": ["GET", "POST", "PUT"],
            "AllowedHeaders": ["content-type"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 600,
        }
    ]


def content_security_policy(origins: list[str]) -> str:
    """The page's CSP: its own scripts and styles only, no inline code, and the network
    reached only at this origin (the API) and the bucket's (presigned uploads and downloads)."""
    connect = " ".join(["'self'", *sorted(set(origins))])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src {connect}",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
        ]
    )


@functools.cache
def _files() -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(STATIC.iterdir())
        if p.is_file() and p.suffix in CONTENT_TYPES
    }


def page(origins: list[str], base: str) -> dict[str, Any]:
    """The console page as ``Response`` keyword arguments, with its security headers;
    ``origins`` are the bucket's (``s3_origins``), ``base`` the page's folder (``base_href``)."""
    headers = {
        **_COMMON_HEADERS,
        "Content-Type": CONTENT_TYPES[".html"],
        "Content-Security-Policy": content_security_policy(origins),
        "X-Frame-Options": "DENY",
    }
    body = _files()[PAGE].decode().replace("{{base}}", html.escape(base, quote=True))
    return {"body": body, "headers": headers, "status_code": 200}


def asset(name: str) -> dict[str, Any]:
    """One of the page's files (scripts, styles, icon) as ``Response`` keyword arguments;
    a JSON 404 for any other name."""
    files = _files()
    if name == PAGE or name not in files:
        error = {"code": "not_found", "message": f"the console has no file {name!r}"}
        return {
            "body": json.dumps({"error": error}),
            "headers": {**_COMMON_HEADERS, "Content-Type": "application/json"},
            "status_code": 404,
        }
    content_type = CONTENT_TYPES[Path(name).suffix]
    return {
        "body": files[name].decode(),
        "headers": {**_COMMON_HEADERS, "Content-Type": content_type},
        "status_code": 200,
    }
