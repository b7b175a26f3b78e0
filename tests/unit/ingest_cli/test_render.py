"""What the client prints: reasons grouped, progress lines off a terminal, bars on one."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from ingest_cli.progress import Feedback, phase
from ingest_cli.render import RejectedSummary, reason_of, status_table, write_csv


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("job_id: missing value", "job_id: missing value"),
        ("job_id: 'xx' is not an integer", "job_id: … is not an integer"),
        ('name: "it\'s" is blank', "name: … is blank"),
        (
            "datetime: '2021/07/27 16:02' is not a UTC timestamp like 2021-07-27T16:02:08Z",
            "datetime: … is not a UTC timestamp like 2021-07-27T16:02:08Z",
        ),
        ("id: duplicate id, superseded by row 3210", "id: duplicate id, superseded by row N"),
        ("id: 0 is out of range [1, 99]", "id: … is out of range [1, 99]"),
        ("record: expected 5 fields, got 3", "record: expected 5 fields, got 3"),
        ("record: not valid UTF-8 (byte 0xff at position 3)", "record: not valid UTF-8"),
        ("name: longer than 256 characters (300)", "name: longer than 256 characters"),
    ],
)  # fmt: skip
def test_reason_of_drops_the_rows_own_values(error: str, reason: str) -> None:
    assert reason_of(error) == reason


def test_rejected_summary_counts_reasons_and_keeps_first_rows() -> None:
    summary = RejectedSummary(keep_examples=2)
    entries = [
        {"row": 3, "raw": "a", "errors": ["id: 'a' is not an integer"]},
        {"row": 8, "raw": "b", "errors": ["id: 'b' is not an integer", "job_id: missing value"]},
        {"row": 9, "raw": "c", "errors": ["id: 'c' is not an integer"]},
        {"row": 12, "raw": "d", "errors": ["id: 'd' is not an integer"]},
    ]
    for entry in entries:
        summary.add(entry)
    assert summary.as_json() == {
        "rows_rejected": 4,
        "reasons": [
            {"reason": "id: … is not an integer", "rows": 4, "first_rows": [3, 8, 9]},
            {"reason": "job_id: missing value", "rows": 1, "first_rows": [8]},
        ],
    }
    assert [e["row"] for e in summary.examples] == [3, 8]


def test_write_csv_writes_a_header_then_the_columns_in_order() -> None:
    out = io.StringIO()
    write_csv(out, ["id", "department"], [{"department": "Sales, West", "id": 1, "x": 2}])
    assert out.getvalue() == 'id,department\n1,"Sales, West"\n'


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def plain(clock: Clock) -> tuple[Feedback, io.StringIO]:
    out = io.StringIO()
    return Feedback(Console(file=out, width=200), interval=5.0, clock=clock), out


def test_feedback_off_a_terminal_prints_a_line_at_start_every_interval_and_at_the_end() -> None:
    clock = Clock()
    feedback, out = plain(clock)
    assert not feedback.live
    with feedback.transfer("big.csv", 4_000_000) as advance:
        for _ in range(4):
            clock.now += 3
            advance(1_000_000)
    assert out.getvalue().splitlines() == [
        "big.csv: uploading 4.0 MB",
        "big.csv: 50% (2.0 MB of 4.0 MB, 333.3 kB/s)",
        "big.csv: uploaded 4.0 MB in 12.0 s (333.3 kB/s)",
    ]


def status(state: str, total: int | None = None, done: int = 0) -> dict[str, Any]:
    return {"state": state, "chunks_total": total, "chunks_done": done}


def test_feedback_off_a_terminal_reports_phase_changes_and_leaves_the_outcome_to_the_caller() -> (
    None
):
    clock = Clock()
    feedback, out = plain(clock)
    polls = [
        status("waiting"),
        status("waiting"),
        status("processing"),
        status("processing", 10, 1),
        status("processing", 10, 2),  # same phase, too soon: quiet
        status("processing", 10, 7),  # same phase, interval passed: a line
        status("processing", 10, 10),
        status("loaded", 10, 10),
    ]
    with feedback.processing("h.csv") as update:
        for poll in polls:
            clock.now += 3
            update(poll)
    assert out.getvalue().splitlines() == [
        "h.csv: queued",
        "h.csv: splitting",
        "h.csv: validating, 1/10 chunks",
        "h.csv: validating, 7/10 chunks",
        "h.csv: loading, 10/10 chunks",
    ]


@pytest.mark.parametrize(
    ("poll", "word"),
    [
        (status("waiting"), "queued"),
        (status("processing"), "splitting"),
        (status("processing", 3, 2), "validating"),
        (status("processing", 3, 3), "loading"),
        (status("loaded", 3, 3), "loaded"),
        (status("failed"), "failed"),
    ],
)
def test_phase_names_what_the_pipeline_is_doing(poll: dict[str, Any], word: str) -> None:
    assert phase(poll) == word


def test_feedback_on_a_terminal_draws_bars_with_bytes_and_chunks() -> None:
    out = io.StringIO()
    feedback = Feedback(Console(file=out, force_terminal=True, width=120))
    assert feedback.live
    with feedback.transfer("big.csv", 2_000_000) as advance:
        advance(2_000_000)
    with feedback.processing("big.csv") as update:
        update(status("processing", 4, 4))
    text = out.getvalue()
    assert "━" in text and "2.0/2.0 MB" in text
    assert "4/4" in text and "loading" in text


@pytest.mark.parametrize(
    ("files", "shown"), [(["s3://b/x/1", "s3://b/x/2"], "2"), (3, "3"), (None, "-")]
)
def test_file_count_shows_how_many_files_a_backup_has(files: object, shown: str) -> None:
    from ingest_cli.render import file_count

    assert file_count(files) == shown


def _top_down(figure: Any) -> list[str]:
    """A horizontal bar chart's category labels as a reader sees them, top first."""
    (axes,) = figure.axes
    return [label.get_text() for label in axes.get_yticklabels()][::-1]


def test_charts_order_ties_as_the_report_tables_do() -> None:
    from ingest_cli import charts

    # Ordered as the API sends it (and the table prints it): most hires first, ties by name.
    above = {
        "year": 2021,
        "mean": 100.0,
        "rows": [
            {"id": 5, "department": "Support", "hired": 410},
            {"id": 2, "department": "Accounting", "hired": 410},
            {"id": 9, "department": "Training", "hired": 512},
        ],
    }
    expected = ["Training", "Accounting", "Support"]
    assert _top_down(charts.draw_departments_above_mean(above)) == expected
    quarters = {
        "year": 2021,
        "rows": [
            {"department": name, "job": "x", "q1": row["hired"], "q2": 0, "q3": 0, "q4": 0}
            for row in above["rows"]  # type: ignore[attr-defined]
            for name in [row["department"]]
        ],
    }
    assert _top_down(charts.draw_hires_by_quarter(quarters)) == expected


def _shown(renderable: Any) -> str:
    out = Console(width=200, record=True, file=io.StringIO())
    out.print(renderable)
    return out.export_text()


def test_status_of_a_failed_upload_says_what_was_never_counted() -> None:
    failed = {
        "upload_id": "20260101T000000Z-0123456789ab",
        "state": "failed",
        "rows_total": None,
        "chunks_total": None,
        "chunks_done": 0,
        "error": "split: looks like an Excel workbook (xlsx)",
        "retryable": False,
    }
    text = _shown(status_table(failed))
    assert "- in all" not in text and "0 of -" not in text
    assert "none counted: it failed before its rows were read" in text
    assert "none: it failed before it was split" in text
    assert "a re-drive cannot help: upload the file again" in text
    assert "ingest retry" not in text


def test_status_shows_each_warning_and_the_option_to_use() -> None:
    loaded = {
        "upload_id": "20260101T000000Z-0123456789ab",
        "state": "loaded",
        "rows_total": 12,
        "rows_valid": 0,
        "rows_rejected": 12,
        "chunks_total": 1,
        "chunks_done": 1,
        "warnings": [
            {"code": "all_rows_rejected", "message": "every one ... was rejected", "option": None},
            {"code": "most_rows_rejected", "message": "12 of 12 ...", "option": {"delimiter": ";"}},
        ],
    }
    text = _shown(status_table(loaded))
    assert "warning  every one ... was rejected" in text
    assert "warning  12 of 12 ..." in text
    assert "next     upload the file again with --delimiter ';'" in text


STORED = "Sales\x1b]0;owned\x07\u202eWest\x9b"


def test_write_csv_carries_stored_values_byte_for_byte() -> None:
    out = io.StringIO()
    write_csv(out, ["id", "department"], [{"id": 1, "department": STORED}])
    assert out.getvalue() == f"id,department\n1,{STORED}\n"


def test_write_csv_for_a_terminal_shows_control_characters_as_escapes() -> None:
    out = io.StringIO()
    write_csv(out, ["id", "department"], [{"id": 1, "department": STORED}], for_terminal=True)
    assert out.getvalue() == "id,department\n1,Sales\\x1b]0;owned\\x07\\u202eWest\\x9b\n"
