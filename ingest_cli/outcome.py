"""What a finished upload comes to: the lines a person reads about it, and the exit code.

Owns the one-line result of each upload (counts, or the error), its warnings, the next step
that can actually help (a re-drive only when the API says one can, another option when a
warning names one), and the exit code of a command that followed uploads to the end. Printing
is the caller's (``progress.Feedback``); this module only words things.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from ingest_cli.errors import EXIT_FAILED, EXIT_NOTHING_LOADED, EXIT_OK

if TYPE_CHECKING:
    from collections.abc import Iterable

# What ``ingest upload`` records for a file it did not send (it is empty).
SKIPPED = "skipped"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def option_flag(name: str, value: str) -> str:
    """A file option as the command line gives it: ``--delimiter ';'``, ``--delimiter tab``."""
    return f"--{name} {'tab' if value == chr(9) else shlex.quote(value)}"


def next_step(status: dict[str, Any]) -> str | None:
    """What can help an upload that failed or loaded nothing useful, if anything can."""
    upload_id = status.get("upload_id")
    if status.get("state") == "failed":
        if status.get("retryable"):
            return f"once the cause is fixed, re-drive it: ingest retry {upload_id}"
        return "a re-drive cannot help: upload the file again (fixed, if the file was at fault)"
    for warning in status.get("warnings") or []:
        option = warning.get("option") or {}
        if option:
            flags = " ".join(option_flag(k, str(v)) for k, v in option.items())
            return f"upload the file again with {flags}"
    return None


def finished_lines(name: str, status: dict[str, Any], seconds: float) -> list[str]:
    """The lines that say how the upload of the file ``name`` ended."""
    state = status.get("state")
    if state == SKIPPED:
        return [f"{name}: {SKIPPED}: {status.get('error')}"]
    if state == "failed":
        lines = [f"{name}: failed: {status.get('error')}"]
    else:
        lines = [
            f"{name}: {state}: {_plural(status.get('rows_total') or 0, 'row')}, "
            f"{status.get('rows_valid') or 0:,} valid, {status.get('rows_rejected') or 0:,} "
            f"rejected ({_plural(status.get('chunks_total') or 0, 'chunk')}, {seconds:.1f} s)"
        ]
    lines += [f"{name}: warning: {w.get('message')}" for w in status.get("warnings") or []]
    step = next_step(status)
    if step:
        lines.append(f"{name}: {step}")
    return lines


def loaded_nothing(status: dict[str, Any]) -> bool:
    """True for an upload that ended without loading a row (skipped, or loaded with none valid)."""
    state = status.get("state")
    return state == SKIPPED or (state == "loaded" and not status.get("rows_valid"))


def exit_code(statuses: Iterable[dict[str, Any]]) -> int:
    """1 if an upload failed, else 5 if one loaded no row, else 0 (the README's exit codes)."""
    seen = list(statuses)
    if any(s.get("state") == "failed" for s in seen):
        return EXIT_FAILED
    if any(loaded_nothing(s) for s in seen):
        return EXIT_NOTHING_LOADED
    return EXIT_OK
