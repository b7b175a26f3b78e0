"""The Chalice app: registers the routes, the API-key check and the pipeline's event handlers.

Nothing else lives here. Routes are blueprints by resource (``chalicelib/api/routes/``), event
handlers a blueprint of their own (``chalicelib/handlers.py``), clients and settings come from
``chalicelib/providers.py``, and errors become replies in ``chalicelib/api/boundary.py``.
"""

from __future__ import annotations

from chalice.app import Chalice

from chalicelib import logs, providers
from chalicelib.api import boundary, routing
from chalicelib.api.routes import ROUTES
from chalicelib.handlers import handlers

logs.setup()
app = Chalice(app_name="csv-ingest")
# API Gateway then hands form bodies to Lambda as base64 bytes, not as text that loses bytes.
app.api.binary_types.append("multipart/form-data")

for routes in ROUTES:
    app.register_blueprint(routes.blueprint)
app.register_blueprint(handlers)
app.register_middleware(
    boundary.api_key_middleware(routing.PUBLIC_PATHS, lambda: providers.settings().api_key),
    "http",
)
