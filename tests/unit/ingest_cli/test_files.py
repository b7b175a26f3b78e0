"""Which files the client sends, and for which table: the rule the API and the console use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import tables
from ingest_cli.errors import UsageError
from ingest_cli.files import guess_table, plan_files
from ingest_cli.progress import Feedback
from tests.properties import examples
from tests.unit.chalicelib.test_tables import GUESSES

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(("name", "table"), GUESSES)
def test_guess_table_from_a_file_name(name: str, table: str | None) -> None:
    assert guess_table(name) == table


# Names made of the pieces that decide a guess: table words in any case, separators, digits,
# letters outside ASCII, path separators.
PIECES = st.sampled_from(
    ["hired", "employees", "Employees", "jobs", "JOBS", "Jobs", "departments", "job", "HR",
     "x", "2021", " ", "_", "-", ".", "(1)", "/", "\\", "é", "日", ":", "<", "csv"]
)  # fmt: skip


@settings(max_examples=examples(500), deadline=None)
@given(st.one_of(st.lists(PIECES, max_size=8).map("".join), st.text(max_size=40)))
def test_the_client_guesses_as_the_api_does(name: str) -> None:
    assert guess_table(name) == tables.guess_table(name)


def _feedback(lines: list[str]) -> Feedback:
    feedback = Feedback.__new__(Feedback)
    feedback.say = lines.append  # type: ignore[method-assign]
    return feedback


def test_plan_files_takes_a_directory_in_load_order_and_skips_other_files(tmp_path: Path) -> None:
    for name in ("hired_employees.csv", "jobs.csv", "departments.csv", "notes.csv"):
        (tmp_path / name).write_text("1,x\n")
    lines: list[str] = []
    plan = plan_files([tmp_path], None, _feedback(lines))
    assert [(p.name, t) for p, t in plan] == [
        ("departments.csv", "departments"),
        ("jobs.csv", "jobs"),
        ("hired_employees.csv", "hired_employees"),
    ]
    assert lines == ["skipping notes.csv (not named after a table)"]


def test_plan_files_names_a_files_table_from_its_name_or_the_flag(tmp_path: Path) -> None:
    jobs, copy, other = tmp_path / "jobs.csv", tmp_path / "jobs (1).csv", tmp_path / "export.csv"
    for path in (jobs, copy, other):
        path.write_text("1,x\n")
    feedback = _feedback([])
    assert plan_files([jobs], None, feedback) == [(jobs, "jobs")]
    assert plan_files([copy], None, feedback) == [(copy, "jobs")]
    assert plan_files([other], "hired_employees", feedback) == [(other, "hired_employees")]
    with pytest.raises(UsageError, match="which table is export.csv for"):
        plan_files([other], None, feedback)
    with pytest.raises(UsageError, match="--table applies to files"):
        plan_files([tmp_path], "jobs", feedback)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="holds none of"):
        plan_files([empty], None, feedback)
