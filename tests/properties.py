"""How many examples a property test tries: its own count in ``make test``, a fifth of it in the
edit-test loop (``make check`` sets ``TEST_EXAMPLES_SCALE=0.2``), never fewer than 10.

The full counts are what the suite stands on; the scaled ones keep the loop quick and still
exercise every property with generated data each time it runs.
"""

from __future__ import annotations

import os

_SCALE = float(os.environ.get("TEST_EXAMPLES_SCALE") or 1.0)
_FEWEST = 10


def examples(count: int) -> int:
    """``count`` examples, scaled by ``TEST_EXAMPLES_SCALE`` (at least 10, at most ``count``)."""
    return min(count, max(_FEWEST, round(count * _SCALE)))
