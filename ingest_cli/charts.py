"""Report charts as PNG files, drawn with matplotlib's Agg renderer (no display needed).

Uses the object API (``Figure`` + ``FigureCanvasAgg``), never ``pyplot``, so no global state or
GUI backend is involved. matplotlib is imported only when a chart is asked for, so the other
commands start fast. Names are drawn as the terminal shows them (control characters as visible
escapes), and what matplotlib warns or logs while drawing (a glyph its font lacks, quoting the
name's character and the installed file's path) is kept from the terminal and comes back as
notes in words.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ingest_cli.errors import UsageError
from ingest_cli.safe import shown

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

QUARTERS = ("q1", "q2", "q3", "q4")
QUARTER_COLOURS = ("#4C72B0", "#55A868", "#DD8452", "#8172B3")
_GLYPH = re.compile(r"^Glyph ([0-9]+) \(.*\) missing from font")
_SHOWN_CODES = 8


class _Kept(logging.Handler):
    """Keeps matplotlib's log lines instead of letting logging print them on stderr."""

    def __init__(self, kept: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.kept = kept

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.kept.append(record.getMessage())


@contextmanager
def _kept_quiet() -> Iterator[list[str]]:
    """Warnings and log lines raised inside, collected instead of printed."""
    kept: list[str] = []
    logger = logging.getLogger("matplotlib")
    handler, propagate = _Kept(kept), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield kept
        kept += [str(w.message) for w in caught]
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def notes_of(messages: list[str]) -> list[str]:
    """What was said while drawing, in words, each once: missing glyphs by code point."""
    missing = sorted({int(m[1]) for m in map(_GLYPH.match, messages) if m})
    notes: list[str] = []
    if missing:
        codes = ", ".join(f"U+{code:04X}" for code in missing[:_SHOWN_CODES])
        more = ", ..." if len(missing) > _SHOWN_CODES else ""
        count = f"{len(missing)} character" + ("s" if len(missing) > 1 else "")
        notes.append(
            f"the chart's font has no glyph for {count} of the names ({codes}{more}): "
            "they are drawn as boxes"
        )
    others = [shown(m) for m in messages if not _GLYPH.match(m)]
    return notes + list(dict.fromkeys(others))


def _drawn(
    draw: Callable[[dict[str, Any]], Figure], report: dict[str, Any], path: Path
) -> list[str]:
    with _kept_quiet() as said:
        _save(draw(report), path)
    return notes_of(said)


def _figure(rows: int) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib", "pip install matplotlib (make setup installs it)"
        ) from None
    figure = Figure(figsize=(9, max(3.0, 0.45 * rows + 1.6)), layout="constrained", dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _empty(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()


def _save(figure: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def bottom_up(totals: dict[str, int]) -> list[str]:
    """Names in the order ``barh`` must get them for a reader, top down, to see the biggest
    first and ties by name, as the report tables list them (``barh`` draws the first at the
    bottom)."""
    return sorted(totals, key=lambda name: (-totals[name], name))[::-1]


def hires_by_quarter(report: dict[str, Any], path: Path) -> list[str]:
    """Hires per department as horizontal bars, stacked by quarter; notes on the drawing."""
    return _drawn(draw_hires_by_quarter, report, path)


def draw_hires_by_quarter(report: dict[str, Any]) -> Figure:
    """The hires-by-quarter chart."""
    per_department: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in report.get("rows", []):
        counts = per_department[shown(row["department"])]
        for i, q in enumerate(QUARTERS):
            counts[i] += int(row.get(q) or 0)
    names = bottom_up({d: sum(counts) for d, counts in per_department.items()})
    figure = _figure(len(names))
    axes = figure.add_subplot()
    axes.set_title(f"Hires by quarter, {report.get('year')}", loc="left", fontweight="bold")
    if not names:
        _empty(axes, f"No hires in {report.get('year')}")
        return figure
    left = [0] * len(names)
    for i, q in enumerate(QUARTERS):
        widths = [per_department[d][i] for d in names]
        axes.barh(names, widths, left=left, label=q.upper(), color=QUARTER_COLOURS[i])
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, total in enumerate(left):
        axes.text(total, y, f" {total:,}", va="center", fontsize=8)
    axes.set_xlabel("hires")
    axes.set_xlim(0, max(left) * 1.1 or 1)
    axes.legend(ncols=4, loc="lower right", bbox_to_anchor=(1, 1), frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def departments_above_mean(report: dict[str, Any], path: Path) -> list[str]:
    """Departments above the mean as bars, with the mean drawn as a line; notes on the drawing."""
    return _drawn(draw_departments_above_mean, report, path)


def draw_departments_above_mean(report: dict[str, Any]) -> Figure:
    """The departments-above-mean chart."""
    hired_by_name = {shown(r["department"]): int(r["hired"]) for r in report.get("rows", [])}
    mean = float(report.get("mean") or 0)
    figure = _figure(len(hired_by_name))
    axes = figure.add_subplot()
    axes.set_title(
        f"Departments above the mean, {report.get('year')}", loc="left", fontweight="bold"
    )
    if not hired_by_name:
        _empty(axes, f"No department above the mean in {report.get('year')}")
        return figure
    names = bottom_up(hired_by_name)
    hired = [hired_by_name[name] for name in names]
    axes.barh(names, hired, color="#4C72B0")
    for y, value in enumerate(hired):
        axes.text(value, y, f" {value:,}", va="center", fontsize=8)
    axes.axvline(mean, color="#C44E52", linestyle="--", linewidth=1.5, label=f"mean {mean:,.1f}")
    axes.set_xlabel("hires")
    axes.set_xlim(0, max(*hired, mean) * 1.12)
    axes.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


CHARTS = {"hires-by-quarter": hires_by_quarter, "departments-above-mean": departments_above_mean}
