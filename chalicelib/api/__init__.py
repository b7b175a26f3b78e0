"""The request side: the HTTP routes and the services behind them.

``routes/`` holds one blueprint per resource, each route declared with its OpenAPI operation
(``routing``); ``boundary`` turns errors into replies and checks the API key; ``bodies`` reads
requests. The services: ``uploads`` (presigned uploads, status, listings), ``multipart_uploads``
(S3 multipart for large files, cancelling), ``formdata`` (multipart/form-data bodies of the
seed-compatible routes), ``deadletters`` (the stages' dead-letter queues), ``reports`` (the
analytics), ``health`` (liveness and the deep check) and ``apikey`` (the deployed stage's key
the deep check compares with). The API's description: ``openapi``
(the document, from the app's routes), ``openapi_requests`` (request bodies and parameters) and
``schema_gen`` (reply schemas generated from the reply classes).
"""

__all__ = [
    "apikey",
    "bodies",
    "boundary",
    "deadletters",
    "formdata",
    "health",
    "multipart_uploads",
    "openapi",
    "openapi_requests",
    "reports",
    "routes",
    "routing",
    "schema_gen",
    "uploads",
]
