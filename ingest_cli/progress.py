"""Telling a person what is going on: live bars on a terminal, plain timed lines elsewhere.

On a terminal the client draws rich progress bars (bytes, rate and ETA while uploading; chunks
done of total while the pipeline works). When stderr is not a terminal (CI, a pipe, a log file)
it prints a plain line when something changes and at most every few seconds in between, so logs
stay readable and nothing waits for a TTY.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ingest_cli.safe import shown

if TYPE_CHECKING:
    from rich.console import Console

Advance = Callable[[int], None]
Update = Callable[[dict[str, Any]], None]


def phase(status: dict[str, Any]) -> str:
    """What the pipeline is doing with an upload, in a word or two."""
    state = status.get("state")
    if state == "waiting":
        return "queued"
    if state != "processing":
        return str(state)
    total, done = status.get("chunks_total"), status.get("chunks_done") or 0
    if total is None:
        return "splitting"
    return "validating" if done < total else "loading"


def rate(size: float, seconds: float) -> str:
    return f"{decimal(int(size / seconds))}/s" if seconds > 0 else "-"


class Feedback:
    """Progress and notes for one command, written to ``console`` (stderr)."""

    def __init__(
        self,
        console: Console,
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.live = console.is_terminal and not console.is_dumb_terminal
        self.interval = interval
        self.clock = clock

    def say(self, text: str) -> None:
        self.console.print(shown(text), markup=False, highlight=False, soft_wrap=True)

    @contextmanager
    def transfer(self, label: str, total: int) -> Iterator[Advance]:
        """Show ``total`` bytes going out; yields a thread-safe ``advance(n)`` (n < 0 rewinds)."""
        if self.live:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            ) as bars:
                task = bars.add_task(escape(shown(label)), total=total)
                yield lambda n: bars.advance(task, n)
            return
        lock = threading.Lock()
        started = self.clock()
        sent, said_at = 0, started

        def advance(n: int) -> None:
            nonlocal sent, said_at
            with lock:
                sent += n
                now = self.clock()
                if now - said_at >= self.interval and sent < total:
                    said_at = now
                    self.say(
                        f"{label}: {sent * 100 // max(total, 1)}% "
                        f"({decimal(sent)} of {decimal(total)}, {rate(sent, now - started)})"
                    )

        self.say(f"{label}: uploading {decimal(total)}")
        yield advance
        elapsed = self.clock() - started
        self.say(f"{label}: uploaded {decimal(total)} in {elapsed:.1f} s ({rate(total, elapsed)})")

    @contextmanager
    def processing(self, label: str) -> Iterator[Update]:
        """Show the pipeline's progress; yields ``update(status)`` for each status poll."""
        if self.live:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("chunks  {task.fields[phase]}"),
                TimeElapsedColumn(),
                console=self.console,
            ) as bars:
                task = bars.add_task(escape(shown(label)), total=None, phase="queued")

                def show(status: dict[str, Any]) -> None:
                    bars.update(
                        task,
                        total=status.get("chunks_total"),
                        completed=status.get("chunks_done") or 0,
                        phase=phase(status),
                    )

                yield show
            return
        said, said_at = "", self.clock()

        def update(status: dict[str, Any]) -> None:
            nonlocal said, said_at
            now = self.clock()
            word = phase(status)
            total = status.get("chunks_total")
            done = status.get("chunks_done") or 0
            if word in ("loaded", "failed"):
                return  # the caller prints the outcome
            line = word if total is None else f"{word}, {done}/{total} chunks"
            if not said.startswith(word) or (now - said_at >= self.interval and line != said):
                self.say(f"{label}: {line}")
                said, said_at = line, now

        yield update
