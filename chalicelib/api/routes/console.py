"""Routes of the web console: its page and assets, public (the person types the key into it)."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib import console, providers
from chalicelib.api.routing import Routes

routes = Routes(__name__)


def _page() -> Response:
    context: dict[str, Any] = routes.request.context or {}
    origins = console.s3_origins(providers.s3(), providers.settings().bucket)
    return Response(**console.page(origins, console.base_href(context)))


@routes.get(console.PAGE_PATHS[0], None, public=True)
def get_console_root() -> Response:
    return _page()


@routes.get(console.PAGE_PATHS[1], None, public=True)
def get_console() -> Response:
    return _page()


@routes.get(console.ASSET_PATH, None, public=True)
def get_console_file(name: str) -> Response:
    return Response(**console.asset(name))
