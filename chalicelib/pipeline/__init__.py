"""What happens to a file after it lands in ``raw/``: one module per stage, and their fan-in.

``split`` cuts a raw object into chunks, ``validate`` judges one chunk, ``completion`` notices
the last chunk and writes the load trigger, ``load`` COPYs and merges an upload; ``backup`` and
``restore`` move tables to and from S3. ``state`` is the upload state machine every stage checks
first, ``events`` runs a stage for one S3 event with the retry-or-fail policy, and ``rejects``
merges the per-chunk rejects files. Stages never import each other; ``app.py`` chains them.
"""

__all__ = [
    "avro_export",
    "backup",
    "backup_catalog",
    "completion",
    "events",
    "load",
    "rejects",
    "restore",
    "split",
    "state",
    "validate",
]
