"""Report charts as PNG files, drawn with matplotlib's Agg renderer (no display needed).

Uses the object API (``Figure`` + ``FigureCanvasAgg``), never ``pyplot``, so no global state or
GUI backend is involved. matplotlib is imported only when a chart is asked for, so the other
commands start fast.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from ingest_cli.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

QUARTERS = ("q1", "q2", "q3", "q4")
QUARTER_COLOURS = ("#4C72B0", "#55A868", "#DD8452", "#8172B3")


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


def hires_by_quarter(report: dict[str, Any], path: Path) -> None:
    """Hires per department as horizontal bars, stacked by quarter."""
    _save(draw_hires_by_quarter(report), path)


def draw_hires_by_quarter(report: dict[str, Any]) -> Figure:
    """The hires-by-quarter chart."""
    per_department: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in report.get("rows", []):
        counts = per_department[str(row["department"])]
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


def departments_above_mean(report: dict[str, Any], path: Path) -> None:
    """Departments above the mean as bars, with the mean drawn as a line."""
    _save(draw_departments_above_mean(report), path)


def draw_departments_above_mean(report: dict[str, Any]) -> Figure:
    """The departments-above-mean chart."""
    hired_by_name = {str(r["department"]): int(r["hired"]) for r in report.get("rows", [])}
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
