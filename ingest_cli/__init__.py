"""``ingest``: the command line client of the CSV ingest API.

A separate package from ``chalicelib`` and never deployed to Lambda: it talks to the HTTP API
like any other client (base URL and key from flags or ``INGEST_API_URL``/``INGEST_API_KEY``),
and touches S3 only through the presigned URLs the API hands out, so it needs no AWS credentials.
"""

from __future__ import annotations

__version__ = "0.1.0"
