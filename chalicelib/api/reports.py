"""The data-exploration reports, computed as SQL in the warehouse.

Hires are counted by the quarter of their UTC datetime. Reports join hires with departments and
jobs, so hires whose department or job is not loaded are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.errors import InvalidRequestError
from chalicelib.warehouse import Warehouse, sql

MIN_YEAR, MAX_YEAR = 1900, 9998


def parse_year(raw: Any) -> int:
    """The report year from a query-string value.

    Raises:
        InvalidRequestError: missing, not an integer, or out of range.
    """
    text = str(raw).strip() if raw is not None else ""
    if not text.isdigit() or not MIN_YEAR <= int(text) <= MAX_YEAR:
        raise InvalidRequestError(
            f"year must be an integer between {MIN_YEAR} and {MAX_YEAR}, got {raw!r}",
            parameter="year",
        )
    return int(text)


def _bounds(year: int) -> list[datetime]:
    return [datetime(year, 1, 1), datetime(year + 1, 1, 1)]


@dataclass(frozen=True)
class QuarterRow:
    """Hires of one job in one department, by quarter of the year."""

    department: str
    job: str
    q1: int
    q2: int
    q3: int
    q4: int


@dataclass(frozen=True)
class DepartmentHires:
    """A department and how many people it hired in the year."""

    id: int
    department: str
    hired: int


def hires_by_quarter(warehouse: Warehouse, year: int) -> list[QuarterRow]:
    """Hires per department and job in ``year``, by quarter, ordered by department then job."""
    rows = warehouse.execute(sql.hires_by_quarter(), _bounds(year))
    return [QuarterRow(str(d), str(j), int(a), int(b), int(c), int(e)) for d, j, a, b, c, e in rows]


def departments_above_mean(warehouse: Warehouse, year: int) -> tuple[float, list[DepartmentHires]]:
    """The mean hires per hiring department in ``year``, and departments above it (most first)."""
    mean_row = warehouse.execute(sql.mean_hires_per_department(), _bounds(year))
    mean = float(mean_row[0][0]) if mean_row and mean_row[0][0] is not None else 0.0
    rows = warehouse.execute(sql.departments_above_mean(), _bounds(year))
    return mean, [DepartmentHires(int(i), str(d), int(h)) for i, d, h, _ in rows]


@dataclass(frozen=True)
class HiresByQuarter:
    """Hires per department and job in ``year``, by quarter, by department then job."""

    year: int
    rows: list[QuarterRow]


@dataclass(frozen=True)
class DepartmentsAboveMean:
    """Departments that hired more than ``mean``, the mean of the departments that hired."""

    year: int
    mean: float
    rows: list[DepartmentHires]


def hires_by_quarter_report(warehouse: Warehouse, year: int) -> HiresByQuarter:
    """The hires-by-quarter report of ``year``."""
    return HiresByQuarter(year, hires_by_quarter(warehouse, year))


def departments_above_mean_report(warehouse: Warehouse, year: int) -> DepartmentsAboveMean:
    """The departments-above-mean report of ``year``."""
    mean, rows = departments_above_mean(warehouse, year)
    return DepartmentsAboveMean(year, mean, rows)
