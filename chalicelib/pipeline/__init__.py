"""What happens to a file after it lands in ``raw/``: one module per stage, and their fan-in.

``triggers`` says which objects start which stage and unwraps their queue messages; ``runner``
runs a stage for one object with the retry-or-fail policy; ``split`` cuts a raw object (opened by
``rawfile``: compression, encoding, delimiter, header) into chunks, by byte ranges where it can
(``split_ranges``, within a ``budget``), and ``unrouted`` records an object no table takes;
``chunks`` reads either kind of chunk back; ``validate`` judges one chunk; ``completion`` notices
the last chunk and writes the load trigger; ``load`` (or ``load_async``, one Redshift Data API
batch) COPYs and merges an upload, and ``rejects`` merges its rejects files; ``state`` is the
upload state machine every stage checks first; ``redrive`` restarts a failed or stuck upload
from the stage it needs, and ``stuck`` finds uploads nobody is working on. Stages never import
each other; the handlers chain them.
"""

__all__ = [
    "budget",
    "chunks",
    "completion",
    "load",
    "load_async",
    "rawfile",
    "redrive",
    "rejects",
    "runner",
    "split",
    "split_ranges",
    "state",
    "stuck",
    "triggers",
    "unrouted",
    "validate",
]
