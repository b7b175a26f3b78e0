"""How much one invocation may spend before it hands the rest of its work to a fresh one.

Owns the split's stopping rule: the Lambda's remaining time less a margin (the time to write the
hand-off), capped by ``INGEST_MAX_INVOCATION_SECONDS`` and ``INGEST_MAX_INVOCATION_BYTES`` when
they are set. Locally there is no Lambda clock: without the settings, an invocation is not
limited. The split (``plan.py``) asks before each chunk; it never stops inside one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.config import Settings

# Kept back from the Lambda's own limit: enough to write a chunk, the hand-off and the state.
MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class Budget:
    """Until when (``time.monotonic()``) and for how many bytes one invocation may go on."""

    deadline: float | None = None
    max_bytes: int | None = None

    def allows(self, next_seconds: float, bytes_done: int) -> bool:
        """True if one more step, expected to take ``next_seconds``, fits after ``bytes_done``."""
        if self.max_bytes is not None and bytes_done >= self.max_bytes:
            return False
        return self.deadline is None or time.monotonic() + next_seconds <= self.deadline


def budget_for(settings: Settings, context: Any = None) -> Budget:
    """The budget of an invocation that starts now, with Lambda ``context`` (None locally)."""
    now = time.monotonic()
    seconds = settings.max_invocation_seconds
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        left = remaining() / 1000 - MARGIN_SECONDS
        seconds = left if seconds is None else min(seconds, left)
    deadline = None if seconds is None else now + max(seconds, 0.0)
    return Budget(deadline, settings.max_invocation_bytes)
