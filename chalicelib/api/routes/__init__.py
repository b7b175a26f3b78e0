"""The HTTP routes, one blueprint per resource; ``ROUTES`` is what ``app.py`` registers.

Each module declares its routes with their OpenAPI operations (``api/routing.py``) and calls one
service function per route; none shapes an error reply or reads a client or setting itself
(``providers.py`` makes those once per container).
"""

from __future__ import annotations

from chalicelib.api.routes import (
    backups,
    console,
    deadletters,
    meta,
    reports,
    rows,
    uploads,
)

# Registration order is the order of the OpenAPI document's paths.
ROUTES = (
    meta.routes,
    uploads.routes,
    reports.routes,
    rows.routes,
    backups.routes,
    deadletters.routes,
    console.routes,
)

__all__ = ["ROUTES"]
