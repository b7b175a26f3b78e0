"""Turning API replies into what a person reads (aligned tables) or a script reads (JSON, CSV).

Owns the columns each command shows and how numbers and states look. Results go to stdout;
progress and notes go to stderr (``progress.py``), so ``--json`` and ``--csv`` output can be
piped as it is.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.table import Table

from ingest_cli.outcome import next_step
from ingest_cli.safe import cell, json_text, shown

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from rich.console import RenderableType
    from rich.text import Text

STATE_STYLE = {"loaded": "green", "failed": "bold red", "processing": "yellow", "waiting": "cyan"}
QUARTERS = ("q1", "q2", "q3", "q4")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_LEADING_VALUE = re.compile(r"^([a-z_]+: )-?[0-9.eE+]+(?= is )")  # "id: 0 is out of range"
_ROW = re.compile(r"\brow [0-9]+")
_DETAIL = re.compile(r" \([^()]*\)$")  # "(byte 0xff at position 3)", "(300)"


def to_json(value: Any) -> str:
    return json_text(json.dumps(value, indent=2, ensure_ascii=False))


def write_csv(
    out: IO[str],
    columns: Sequence[str],
    rows: Iterable[dict[str, Any]],
    *,
    for_terminal: bool = False,
) -> None:
    """CSV of ``rows``: the stored values exactly, for a file or a pipe; on a terminal
    (``for_terminal``), control characters in text shown as visible escapes instead."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = ["" if row.get(c) is None else row.get(c) for c in columns]
        if for_terminal:
            values = [shown(v) if isinstance(v, str) else v for v in values]
        writer.writerow(values)


def number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def file_count(files: Any) -> str:
    """A backup's files: the API lists their locations; a count is shown."""
    return number(len(files)) if isinstance(files, list | tuple) else number(files)


def state_text(state: Any) -> Text:
    return cell(state, STATE_STYLE.get(str(state), ""))


def _table() -> Table:
    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)


def titled(title: str, table: Table, note: str | None = None) -> Group:
    """A bold heading line, the table, and an optional note line under it."""
    parts: list[RenderableType] = [cell(title, "bold"), table]
    if note:
        parts.append(cell(note, "dim"))
    return Group(*parts)


def uploads_table(uploads: Sequence[dict[str, Any]]) -> Table:
    """One line per upload: when, id, table, file, state, row counts."""
    table = _table()
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("upload", no_wrap=True, min_width=29)  # ids are never cut
    table.add_column("table", no_wrap=True)
    table.add_column("file", overflow="fold")
    table.add_column("state")
    for name in ("rows", "valid", "rejected"):
        table.add_column(name, justify="right")
    for u in uploads:
        table.add_row(
            cell(str(u.get("created_at") or "-").replace("T", " ").rstrip("Z")),
            cell(u.get("upload_id")),
            cell(u.get("table")),
            cell(u.get("filename") or "-"),
            state_text(u.get("state")),
            number(u.get("rows_total")),
            number(u.get("rows_valid")),
            number(u.get("rows_rejected")),
        )
    return table


def counts_text(status: dict[str, Any]) -> tuple[str, str]:
    """The rows and chunks lines of one upload, in words where there are no counts yet."""
    state, total, chunks = status.get("state"), status.get("rows_total"), status.get("chunks_total")
    if total is None:
        rows = (
            "none counted: it failed before its rows were read"
            if state == "failed"
            else ("not counted yet")
        )
    else:
        rows = (
            f"{number(total)} in all, {number(status.get('rows_valid'))} valid, "
            f"{number(status.get('rows_rejected'))} rejected"
        )
    if chunks is None:
        split = "none: it failed before it was split" if state == "failed" else "not split yet"
    else:
        split = f"{number(status.get('chunks_done') or 0)} of {number(chunks)} done"
    return rows, split


def status_table(status: dict[str, Any]) -> Table:
    """One upload, field by field, with its warnings and the next step that can help."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows_line, chunks_line = counts_text(status)
    rows: list[tuple[str, str | Text]] = [
        ("upload", cell(status.get("upload_id"))),
        ("table", cell(status.get("table"))),
        ("file", cell(status.get("filename") or "-")),
        ("state", state_text(status.get("state"))),
        ("rows", rows_line),
        ("chunks", chunks_line),
        ("read as", cell(read_as(status))),
        ("created", cell(status.get("created_at") or "-")),
        ("updated", cell(status.get("updated_at") or "-")),
    ]
    if status.get("error"):
        rows.append(("error", cell(status["error"], "red")))
    rows += [("warning", cell(w.get("message"), "yellow")) for w in status.get("warnings") or []]
    step = next_step(status)
    if step:
        rows.append(("next", cell(step)))
    if status.get("rows_rejected"):
        rows.append(("why", f"ingest rejected {status.get('upload_id')}"))
    for name, value in rows:
        table.add_row(name, value)
    return table


def read_as(status: dict[str, Any]) -> str:
    """How the pipeline read the file: options given, then what it found."""
    options = status.get("options") or {}
    delimiter = options.get("delimiter", ",")
    read = status.get("header_skipped") is not None  # set once the split has read the file
    parts = [
        str(status.get("compression") or "not compressed") if read else "not read",
        str(status.get("encoding_read") or options.get("encoding", "utf-8")),
        "tab" if delimiter == "\t" else f"{delimiter!r} separated",
        f"header {options.get('header', 'auto')}",
    ]
    if status.get("header_skipped"):
        parts.append("header line skipped")
    return ", ".join(parts)


def hires_by_quarter_table(report: dict[str, Any], limit: int | None = None) -> Group:
    rows = report.get("rows", [])
    shown = rows[:limit] if limit else rows
    table = _table()
    table.add_column("department")
    table.add_column("job")
    for q in QUARTERS:
        table.add_column(q.upper(), justify="right")
    table.add_column("total", justify="right", style="bold")
    for row in shown:
        counts = [int(row.get(q) or 0) for q in QUARTERS]
        table.add_row(
            cell(row["department"]), cell(row["job"]), *map(number, counts), number(sum(counts))
        )
    if not rows:
        table.add_row("(no hires this year)", "", "", "", "", "", "")
    note = f"{len(shown)} of {len(rows)} rows; --csv for all" if len(shown) < len(rows) else None
    return titled(f"Hires by quarter, {report.get('year')}", table, note)


def departments_above_mean_table(report: dict[str, Any], limit: int | None = None) -> Group:
    rows = report.get("rows", [])
    shown = rows[:limit] if limit else rows
    mean = float(report.get("mean") or 0)
    table = _table()
    table.add_column("id", justify="right")
    table.add_column("department")
    table.add_column("hired", justify="right", style="bold")
    table.add_column("vs mean", justify="right")
    for row in shown:
        hired = int(row["hired"])
        above = f"+{(hired - mean) / mean:.0%}" if mean else "-"
        table.add_row(number(row["id"]), cell(row["department"]), number(hired), above)
    if not rows:
        table.add_row("", "(none)", "", "")
    title = f"Departments that hired more than the mean ({mean:,.1f}) in {report.get('year')}"
    return titled(title, table)


REPORT_COLUMNS = {
    "hires-by-quarter": ("department", "job", *QUARTERS),
    "departments-above-mean": ("id", "department", "hired"),
}
REPORT_TABLES = {
    "hires-by-quarter": hires_by_quarter_table,
    "departments-above-mean": departments_above_mean_table,
}


def reason_of(error: str) -> str:
    """A rejection reason without the row's own values, so that like reasons group together.

    ``"datetime: '2021/03/04' is not a UTC timestamp like ..."`` becomes ``"datetime: … is not
    a UTC timestamp like ..."``; ``"superseded by row 12"`` becomes ``"superseded by row N"``.
    """
    reason = _QUOTED.sub("…", error)
    reason = _LEADING_VALUE.sub(r"\1…", reason)
    reason = _ROW.sub("row N", reason)
    return _DETAIL.sub("", reason).strip()


@dataclass
class RejectedSummary:
    """Rejected rows counted by reason, with the first few rows of each."""

    rows: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    first_rows: dict[str, list[int]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    keep_examples: int = 5

    def add(self, entry: dict[str, Any]) -> None:
        self.rows += 1
        for error in entry.get("errors") or ["(no reason given)"]:
            reason = reason_of(str(error))
            self.reasons[reason] += 1
            seen = self.first_rows.setdefault(reason, [])
            if len(seen) < 3:
                seen.append(int(entry.get("row") or 0))
        if len(self.examples) < self.keep_examples:
            self.examples.append(entry)

    def as_json(self) -> dict[str, Any]:
        return {
            "rows_rejected": self.rows,
            "reasons": [
                {"reason": r, "rows": n, "first_rows": self.first_rows[r]}
                for r, n in self.reasons.most_common()
            ],
        }

    def table(self, title: str) -> Group:
        table = _table()
        table.add_column("reason", overflow="fold")
        table.add_column("rows", justify="right", style="bold")
        table.add_column("share", justify="right")
        table.add_column("first rows")
        for reason, count in self.reasons.most_common():
            share = f"{count / self.rows:.0%}" if self.rows else "-"
            first = ", ".join(map(str, self.first_rows[reason]))
            table.add_row(cell(reason), number(count), share, first)
        return titled(title, table)

    def examples_table(self) -> Group:
        table = _table()
        table.add_column("row", justify="right")
        table.add_column("raw", overflow="ellipsis", max_width=60, no_wrap=True)
        table.add_column("errors", overflow="fold")
        for entry in self.examples:
            table.add_row(
                cell(entry.get("row")),
                cell(entry.get("raw", "")),
                cell("; ".join(map(str, entry.get("errors") or []))),
            )
        return titled(f"First {len(self.examples)} rejected rows", table)


def backup_table(backup: dict[str, Any]) -> Group:
    table = _table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("files", justify="right")
    table.add_column("location", overflow="fold")
    for name, info in sorted((backup.get("tables") or {}).items()):
        rows, files = number(info.get("rows")), file_count(info.get("files"))
        table.add_row(cell(name), rows, files, cell(info.get("location") or "-"))
    return titled(f"Backup {backup.get('backup_id')} ({backup.get('created_at') or '-'})", table)


def backups_table(backups: Sequence[dict[str, Any]]) -> Group:
    table = _table()
    table.add_column("backup")
    table.add_column("created (UTC)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("files", justify="right")
    for backup in backups:
        tables = sorted((backup.get("tables") or {}).items()) or [("-", {})]
        for i, (name, info) in enumerate(tables):
            first = i == 0
            table.add_row(
                cell(backup.get("backup_id")) if first else "",
                cell(backup.get("created_at") or "-") if first else "",
                cell(name),
                number(info.get("rows")),
                file_count(info.get("files")),
            )
    if not backups:
        table.add_row("(no backups yet)", "", "", "", "")
    return titled("Backups, newest first", table)
