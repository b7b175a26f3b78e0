"""The SQL of the two analytics reports: hires by quarter, and departments above the year's mean.

Hires are counted by the quarter of their UTC datetime; hires whose department or job is not
loaded are left out by the joins. ``api/reports.py`` shapes the rows.
"""

from __future__ import annotations

_HIRES_IN_YEAR = (
    'FROM "hired_employees" h JOIN "departments" d ON d."id" = h."department_id" '
    'JOIN "jobs" j ON j."id" = h."job_id" '
    'WHERE h."datetime" >= ? AND h."datetime" < ?'
)


def hires_by_quarter() -> str:
    """Hires per department and job in [start, end), one column per calendar quarter."""
    quarters = ", ".join(
        f'SUM(CASE WHEN EXTRACT(QUARTER FROM h."datetime") = {q} THEN 1 ELSE 0 END) AS q{q}'
        for q in range(1, 5)
    )
    return (
        f'SELECT d."department", j."job", {quarters} {_HIRES_IN_YEAR} '
        'GROUP BY d."department", j."job" ORDER BY d."department", j."job"'
    )


def hires_per_department() -> str:
    """Hires per department in [start, end), for departments with at least one hire."""
    return (
        f'SELECT d."id", d."department", COUNT(*) AS hired {_HIRES_IN_YEAR} '
        'GROUP BY d."id", d."department"'
    )


def departments_above_mean() -> str:
    """Departments that hired more than the mean of departments with at least one hire."""
    return (
        f"WITH per_dept AS ({hires_per_department()}) "
        'SELECT p."id", p."department", p.hired, m.mean FROM per_dept p '
        "CROSS JOIN (SELECT AVG(CAST(hired AS DOUBLE PRECISION)) AS mean FROM per_dept) m "
        'WHERE p.hired > m.mean ORDER BY p.hired DESC, p."department"'
    )


def mean_hires_per_department() -> str:
    return (
        f"SELECT AVG(CAST(hired AS DOUBLE PRECISION)) FROM ({hires_per_department()}) AS per_dept"
    )
