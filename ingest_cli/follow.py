"""Following an upload through the pipeline until it is loaded or failed.

Polls the status route, quickly at first and then every two seconds, and hands each reply to
a progress callback. Stopping (Ctrl-C, timeout) only stops watching: the pipeline carries on.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from ingest_cli.errors import WaitTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable

FINAL = ("loaded", "failed")
FIRST_DELAY, MAX_DELAY = 0.2, 2.0


class StatusSource(Protocol):
    def status(self, upload_id: str) -> dict[str, Any]: ...


def follow(
    api: StatusSource,
    upload_id: str,
    update: Callable[[dict[str, Any]], None],
    *,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the upload is loaded or failed; return its last status.

    Raises:
        WaitTimeoutError: still not finished after ``timeout`` seconds.
        ApiError, ApiUnreachableError: from the status route.
    """
    deadline = None if timeout is None else clock() + timeout
    delay = FIRST_DELAY
    while True:
        status = api.status(upload_id)
        update(status)
        if status.get("state") in FINAL:
            return status
        if deadline is not None and clock() >= deadline:
            raise WaitTimeoutError(
                f"upload {upload_id} is still {status.get('state')} after {timeout:g} s",
                f"it carries on; follow it with: ingest status {upload_id} --wait",
            )
        sleep(delay)
        delay = min(delay * 1.5, MAX_DELAY)
