"""What every command gets: the API client and where to write (results, progress, errors).

Kept apart from ``cli.py`` so that the modules of single commands (``backups``, ``rejected``,
``deadletters``) can take a session without importing the command group that imports them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from ingest_cli.api import Api
    from ingest_cli.progress import Feedback


@dataclass
class Session:
    """What every command gets: the API client and where to write."""

    api: Api
    out: Console
    feedback: Feedback


def console(stderr: bool) -> Console:
    """A rich console on stdout (results) or stderr (progress and errors)."""
    stream = sys.stderr if stderr else sys.stdout
    # Off a terminal rich assumes 80 columns; wide tables read better unwrapped in logs.
    wide = not stream.isatty() and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, width=160 if wide else None, highlight=False)
