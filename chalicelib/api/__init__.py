"""The request side: what the HTTP routes do, each module behind a few routes of ``app.py``.

``uploads`` (presigned uploads, status, listings), ``multipart_uploads`` (S3 multipart for large
files, cancelling), ``formdata`` (multipart/form-data bodies of the seed-compatible routes),
``fields`` (strict JSON bodies), ``batch_rows`` (JSON rows loaded synchronously),
``deadletters`` (the stages' dead-letter queues),
``reports`` (the analytics), ``health`` (the deep health check), ``apikey`` (the deployed
stage's key it compares with), ``replies`` (reply shapes shared
by routes), and the API's description: ``openapi`` (paths), ``openapi_requests`` (request
bodies) and ``schema_gen`` (reply schemas generated from the reply classes).
"""

__all__ = [
    "apikey",
    "batch_rows",
    "deadletters",
    "fields",
    "formdata",
    "health",
    "multipart_uploads",
    "openapi",
    "openapi_requests",
    "replies",
    "reports",
    "schema_gen",
    "uploads",
]
