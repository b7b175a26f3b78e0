"""Which files an ``ingest upload`` sends, in which order, and the table each is for.

A file's table comes from ``--table`` or from its name, by the rule the API and the console
use: the words of the name's last path segment hold the table's words side by side
(``hired employees (1).csv`` is for ``hired_employees``). The rule's pattern comes with the
generated ``contract.py``; the tests hold this function to the API's over a shared table of
names. A folder gives its ``<table>.csv`` files, dimensions first.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ingest_cli.contract import NAME_WORDS, PATH_SEPARATORS, TABLES
from ingest_cli.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ingest_cli.progress import Feedback


def guess_table(filename: str) -> str | None:
    """The table a file is for, from its name alone; None when no table, or several, fit."""
    base = re.split(PATH_SEPARATORS, filename)[-1]
    words = [word.lower() for word in re.findall(NAME_WORDS, base)]
    named = [table for table in TABLES if _holds_run(words, table.split("_"))]
    return named[0] if len(named) == 1 else None


def _holds_run(words: list[str], run: list[str]) -> bool:
    return any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))


def plan_files(
    paths: Sequence[Path], table: str | None, feedback: Feedback
) -> list[tuple[Path, str]]:
    """(file, table) pairs in upload order; a directory gives its ``<table>.csv`` files.

    Raises:
        UsageError: a file's table is unknown, or a directory holds no table file.
    """
    plan: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            if table:
                raise UsageError(
                    "--table applies to files; a directory's files are named after their tables"
                )
            found = [(path / f"{t}.csv", t) for t in TABLES if (path / f"{t}.csv").is_file()]
            if not found:
                names = ", ".join(f"{t}.csv" for t in TABLES)
                raise UsageError(f"{path} holds none of {names}")
            for other in sorted(set(path.glob("*.csv")) - {p for p, _ in found}):
                feedback.say(f"skipping {other.name} (not named after a table)")
            plan += found
            continue
        name = table or guess_table(path.name)
        if name is None:
            raise UsageError(
                f"which table is {path.name} for? its name does not say: pass --table "
                f"({', '.join(TABLES)})"
            )
        plan.append((path, name))
    return plan
