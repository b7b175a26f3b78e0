"""Routes of the data-exploration reports."""

from __future__ import annotations

from chalicelib import providers
from chalicelib.api import bodies, openapi_requests
from chalicelib.api.reports import (
    DepartmentsAboveMean,
    HiresByQuarter,
    departments_above_mean_report,
    hires_by_quarter_report,
    parse_year,
)
from chalicelib.api.routing import Operation, Reply, Routes

routes = Routes(__name__)
_YEAR = (openapi_requests.YEAR,)


@routes.get(
    "/api/v1/reports/hires-by-quarter",
    Operation(
        "Hires per department and job, by quarter",
        Reply(200, HiresByQuarter, "The report (analytics)"),
        parameters=_YEAR,
    ),
)
def get_hires_by_quarter() -> HiresByQuarter:
    year = parse_year(bodies.query(routes.request, "year"))
    return hires_by_quarter_report(providers.statements(), year)


@routes.get(
    "/api/v1/reports/departments-above-mean",
    Operation(
        "Departments that hired more than the year's mean",
        Reply(200, DepartmentsAboveMean, "The report (analytics)"),
        parameters=_YEAR,
    ),
)
def get_departments_above_mean() -> DepartmentsAboveMean:
    year = parse_year(bodies.query(routes.request, "year"))
    return departments_above_mean_report(providers.statements(), year)
