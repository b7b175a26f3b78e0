"""``python -m ingest_cli``: the same as the ``ingest`` command."""

from __future__ import annotations

import sys

from ingest_cli.cli import main

if __name__ == "__main__":
    sys.exit(main())
