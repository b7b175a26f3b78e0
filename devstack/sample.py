"""Deterministic sample files for the three tables, with a few percent of invalid rows.

The demo and the tests use these instead of any real data. Invalid rows cover several kinds
(missing field, malformed or impossible datetime, non-integer id, wrong column count), names
sometimes hold commas (so they are quoted), and a few hire ids repeat (the last row wins).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DEPARTMENTS = [
    "Accounting",
    "Business Development",
    "Engineering",
    "Human Resources",
    "Legal",
    "Marketing",
    "Product Management",
    "Research and Development",
    "Sales",
    "Services",
    "Support",
    "Training",
]
JOB_TITLES = [
    "Account Executive",
    "Analyst",
    "Data Engineer",
    "Designer",
    "Developer",
    "Director",
    "Engineer",
    "Manager",
    "Recruiter",
    "Sales Associate",
    "Support Specialist",
    "Writer",
]
FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Donald",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Katherine",
    "Linus",
    "Hedy",
    "Dennis",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Knuth",
    "Allen",
    "Backus",
    "Perlman",
    "Berners-Lee",
    "Johnson",
    "Torvalds",
    "Lamarr",
    "Ritchie",
]
INVALID_KINDS = ("missing_job", "bad_datetime", "impossible_date", "bad_id", "short_row")


@dataclass(frozen=True)
class SampleFiles:
    departments: Path
    jobs: Path
    hired_employees: Path

    def for_table(self, table: str) -> Path:
        path: Path = getattr(self, table)
        return path


def _csv_line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()


def hired_employees_lines(
    rows: int,
    *,
    seed: int = 7,
    invalid_rate: float = 0.03,
    duplicate_rate: float = 0.005,
    departments: int = len(DEPARTMENTS),
    jobs: int = len(JOB_TITLES),
    year: int = 2021,
) -> list[str]:
    """CSV lines for ``hired_employees`` (each ends with a newline)."""
    rows_of = hired_employees_rows(
        rows,
        seed=seed,
        invalid_rate=invalid_rate,
        duplicate_rate=duplicate_rate,
        departments=departments,
        jobs=jobs,
        year=year,
    )
    return [_csv_line(fields) for fields in rows_of]


def write_hired_employees(path: Path, rows: int, *, seed: int = 7) -> Path:
    """Write ``rows`` lines of ``hired_employees`` to ``path``, streaming (any size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        batch: list[list[str]] = []
        for fields in hired_employees_rows(rows, seed=seed):
            batch.append(fields)
            if len(batch) == 10_000:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)
    return path


def hired_employees_rows(
    rows: int,
    *,
    seed: int = 7,
    invalid_rate: float = 0.03,
    duplicate_rate: float = 0.005,
    departments: int = len(DEPARTMENTS),
    jobs: int = len(JOB_TITLES),
    year: int = 2021,
) -> Iterator[list[str]]:
    """The fields of ``rows`` deterministic ``hired_employees`` rows, some invalid."""
    rng = random.Random(seed)
    start = datetime(year, 1, 1, tzinfo=UTC)
    next_id = 1
    for _ in range(rows):
        if next_id > 10 and rng.random() < duplicate_rate:
            hire_id = rng.randrange(1, next_id)  # a repeated id: the last row wins
        else:
            hire_id, next_id = next_id, next_id + 1
        name = (
            f"{rng.choice(LAST)}, {rng.choice(FIRST)}"
            if rng.random() < 0.2
            else (f"{rng.choice(FIRST)} {rng.choice(LAST)}")
        )
        when = start + timedelta(seconds=rng.randrange(0, 365 * 24 * 3600))
        fields = [
            str(hire_id),
            name,
            when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            str(rng.randint(1, departments)),
            str(rng.randint(1, jobs)),
        ]
        if rng.random() < invalid_rate:
            kind = rng.choice(INVALID_KINDS)
            if kind == "missing_job":
                fields[4] = ""
            elif kind == "bad_datetime":
                fields[2] = when.strftime("%Y/%m/%d %H:%M")
            elif kind == "impossible_date":
                fields[2] = f"{year}-02-30T10:00:00Z"
            elif kind == "bad_id":
                fields[0] = f"{hire_id}.5"
            else:
                fields = fields[:3]
        yield fields


def write_samples(folder: Path, hires: int = 2000, seed: int = 7) -> SampleFiles:
    """Write the three sample files into ``folder`` (CRLF for hires, as exports often are)."""
    folder.mkdir(parents=True, exist_ok=True)
    departments = folder / "departments.csv"
    departments.write_text(
        "".join(_csv_line([str(i), d]) for i, d in enumerate(DEPARTMENTS, 1)), encoding="utf-8"
    )
    jobs = folder / "jobs.csv"
    jobs.write_text(
        "".join(_csv_line([str(i), j]) for i, j in enumerate(JOB_TITLES, 1)), encoding="utf-8"
    )
    hired = folder / "hired_employees.csv"
    with hired.open("w", encoding="utf-8", newline="") as handle:
        for line in hired_employees_lines(hires, seed=seed):
            handle.write(line.replace("\n", "\r\n"))
    return SampleFiles(departments, jobs, hired)
