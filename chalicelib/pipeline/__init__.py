"""What happens to a file after it lands in ``raw/``: one module per stage, and their fan-in.

``triggers`` says which objects start which stage and unwraps their queue messages; ``events``
runs a stage for one object with the retry-or-fail policy; ``split`` cuts a raw object (opened by
``rawfile``: compression, encoding, delimiter, header) into chunks, and ``unrouted`` records an
object no table takes; ``validate`` judges one chunk; ``completion`` notices the last chunk and
writes the load trigger; ``load`` (or ``load_data_api``, through the Redshift Data API) COPYs and
merges an upload, and ``rejects`` merges its rejects files; ``backup``, ``backup_catalog``,
``restore`` and ``avro_export`` move tables to and from S3; ``state`` is the upload state machine
every stage checks first; ``stuck`` finds uploads nobody is working on. Stages never import each
other; ``app.py`` chains them.
"""

__all__ = [
    "avro_export",
    "backup",
    "backup_catalog",
    "completion",
    "events",
    "load",
    "load_data_api",
    "rawfile",
    "rejects",
    "restore",
    "split",
    "state",
    "stuck",
    "triggers",
    "unrouted",
    "validate",
]
