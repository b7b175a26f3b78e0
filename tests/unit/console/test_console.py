"""The console's serving module and its files, without a browser: headers, paths, CORS rules,
and that nothing in the page could turn text into markup or run inline code."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from moto import mock_aws

from chalicelib import console

JS_FILES = sorted(p for p in console.STATIC.iterdir() if p.suffix == ".js")


@pytest.mark.parametrize(
    ("path", "resource", "base"),
    [
        ("/", "/", "/"),  # local: no stage in the path
        ("/console", "/console", "/"),
        ("/api/", "/", "/api/"),  # API Gateway: the stage leads the path
        ("/api", "/", "/api/"),
        ("/api/console", "/console", "/api/"),
        ("/elsewhere", "/console", "/"),
    ],
)
def test_base_href_is_the_folder_the_page_is_served_from(
    path: str, resource: str, base: str
) -> None:
    assert console.base_href({"path": path, "resourcePath": resource}) == base


def test_page_carries_a_csp_without_inline_code_and_its_base() -> None:
    reply = console.page(["http://127.0.0.1:5000"], '/x"><script>/')
    csp = reply["headers"]["Content-Security-Policy"]
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self' http://127.0.0.1:5000"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert reply["headers"]["X-Content-Type-Options"] == "nosniff"
    # A base taken from the request path is escaped, never markup.
    assert '<base href="/x&quot;&gt;&lt;script&gt;/">' in reply["body"]
    assert "{{base}}" not in reply["body"]


@pytest.mark.parametrize("name", ["index.html", "nope.js", "../app.py", "%2e%2e", ""])
def test_only_the_pages_own_files_are_served(name: str) -> None:
    reply = console.asset(name)
    assert reply["status_code"] == 404
    assert json.loads(reply["body"])["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("main.js", "text/javascript"), ("console.css", "text/css"), ("icon.svg", "image/svg+xml")],
)
def test_assets_have_their_content_type(name: str, content_type: str) -> None:
    reply = console.asset(name)
    assert reply["status_code"] == 200
    assert reply["headers"]["Content-Type"].startswith(content_type)
    assert reply["body"]


def test_html_has_no_inline_script_style_or_handler() -> None:
    page = (console.STATIC / console.PAGE).read_text(encoding="utf-8")
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="console/main.js">']
    assert re.search(r"<script[^>]*>\s*[^<\s]", page) is None
    assert re.search(r"\son[a-z]+\s*=", page) is None
    assert re.search(r"\sstyle\s*=", page) is None
    assert "<style" not in page


@pytest.mark.parametrize("path", JS_FILES, ids=lambda p: p.name)
def test_scripts_never_write_markup(path: object) -> None:
    source = path.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source
    assert "new Function" not in source
    assert "localStorage" not in source  # the key lives in sessionStorage only
    assert "document.cookie" not in source


def test_cors_rules_admit_the_given_origins_and_expose_etag() -> None:
    (rule,) = console.cors_rules(["http://b:1", "http://a:1", "http://a:1"])
    assert rule["AllowedOrigins"] == ["http://a:1", "http://b:1"]
    assert sorted(rule["AllowedMethods"]) == ["GET", "POST", "PUT"]
    assert rule["ExposeHeaders"] == ["ETag"]


def test_s3_origins_are_those_of_the_presigned_urls(aws_env: None) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        assert console.s3_origins(s3, "ingest-local") == ["https://ingest-local.s3.amazonaws.com"]
