"""The one way tests start the offline stack: free ports on 127.0.0.1, a fresh data folder.

Every test module that needs a running stack makes it here, with only the knobs it changes
(workers, redeliveries, warehouse, chunk size...), so a new setting of the stack is given to all
of them in one place.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from devstack.settings import LocalStackSettings
from devstack.stack import LocalStack, isolated_stack

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

STACK_KEY = "test-stack-key"
# The test stacks' handlers take well under a second: a failed delivery is made again after
# this many seconds (the functions' timeout and the queues' visibility timeout), not 120.
TEST_FUNCTION_TIMEOUT = 10


@contextmanager
def running_stack(
    data_dir: Path,
    *,
    key: str = STACK_KEY,
    env: Mapping[str, str] | None = None,
    **knobs: Any,
) -> Iterator[LocalStack]:
    """A started stack keeping its data in ``data_dir`` (``LocalStackSettings`` ``knobs``, app
    environment ``env``) that restores the process environment when it stops."""
    knobs.setdefault("function_timeout", TEST_FUNCTION_TIMEOUT)
    settings = LocalStackSettings(
        api_port=0, s3_port=0, api_key=key, data_dir=str(data_dir), **knobs
    )
    with isolated_stack(settings, extra_env=dict(env or {})) as local:
        yield local
