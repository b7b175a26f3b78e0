"""The request side: what the HTTP routes do, each module behind a few routes of ``app.py``.

``uploads`` (presigned uploads, status, listings), ``multipart_uploads`` (S3 multipart for large
files, cancelling), ``formdata`` (multipart/form-data bodies of the seed-compatible routes),
``batch_rows`` (JSON rows loaded synchronously), ``redrive`` (re-driving failed or stuck
uploads), ``reports`` (the analytics) and ``openapi`` (the API's description).
"""

__all__ = [
    "batch_rows",
    "formdata",
    "multipart_uploads",
    "openapi",
    "redrive",
    "reports",
    "uploads",
]
