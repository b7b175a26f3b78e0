"""How the client words a finished upload, and which exit code a command ends with."""

from __future__ import annotations

from typing import Any

import pytest

from ingest_cli.errors import EXIT_FAILED, EXIT_NOTHING_LOADED, EXIT_OK
from ingest_cli.outcome import exit_code, finished_lines, next_step, option_flag

UID = "20260101T000000Z-0123456789ab"
SEMICOLONS = {
    "code": "most_rows_rejected",
    "message": "12 of 12 rows were rejected for one reason: record: expected 2 fields, got 1; "
    "... upload the file again with the option delimiter ';'",
    "option": {"delimiter": ";"},
}


def _loaded(valid: int, *warnings: dict[str, Any]) -> dict[str, Any]:
    return {
        "upload_id": UID,
        "state": "loaded",
        "rows_total": 12,
        "rows_valid": valid,
        "rows_rejected": 12 - valid,
        "chunks_total": 1,
        "warnings": list(warnings),
    }


def test_a_loaded_upload_with_a_delimiter_warning_names_the_flag_to_use() -> None:
    lines = finished_lines("d.csv", _loaded(0, SEMICOLONS), 1.25)
    assert lines == [
        "d.csv: loaded: 12 rows, 0 valid, 12 rejected (1 chunk, 1.2 s)",
        f"d.csv: warning: {SEMICOLONS['message']}",
        "d.csv: upload the file again with --delimiter ';'",
    ]


@pytest.mark.parametrize(
    ("status", "step"),
    [
        ({"state": "failed", "upload_id": UID, "retryable": True},
         f"once the cause is fixed, re-drive it: ingest retry {UID}"),
        ({"state": "failed", "upload_id": UID, "retryable": False},
         "a re-drive cannot help: upload the file again (fixed, if the file was at fault)"),
        (_loaded(0, {**SEMICOLONS, "option": {"delimiter": "\t"}}),
         "upload the file again with --delimiter tab"),
        (_loaded(0, {"code": "no_data_rows", "message": "no data rows", "option": None}), None),
        (_loaded(12), None),
    ],
)  # fmt: skip
def test_next_step_offers_only_what_can_help(status: dict[str, Any], step: str | None) -> None:
    assert next_step(status) == step


def test_a_failure_the_file_caused_never_suggests_a_redrive() -> None:
    failed = {"state": "failed", "upload_id": UID, "retryable": False, "error": "split: xlsx"}
    text = "\n".join(finished_lines("book.csv", failed, 0.1))
    assert "retry" not in text and "re-drive it" not in text
    assert text.startswith("book.csv: failed: split: xlsx")


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([_loaded(12), _loaded(3)], EXIT_OK),
        ([_loaded(12), _loaded(0, SEMICOLONS)], EXIT_NOTHING_LOADED),
        ([_loaded(12), {"state": "skipped", "error": "empty"}], EXIT_NOTHING_LOADED),
        ([_loaded(0), {"state": "failed"}], EXIT_FAILED),
        ([{**_loaded(0), "rows_total": 0, "rows_valid": 0}], EXIT_NOTHING_LOADED),
    ],
)
def test_exit_code_says_failed_before_nothing_loaded(
    statuses: list[dict[str, Any]], code: int
) -> None:
    assert exit_code(statuses) == code


def test_option_flags_quote_what_a_shell_would_split() -> None:
    assert option_flag("delimiter", "|") == "--delimiter '|'"
    assert option_flag("encoding", "cp1252") == "--encoding cp1252"


def test_one_row_is_one_row() -> None:
    status = {**_loaded(1), "rows_total": 1, "rows_rejected": 0}
    assert finished_lines("j.csv", status, 0.5)[0] == (
        "j.csv: loaded: 1 row, 1 valid, 0 rejected (1 chunk, 0.5 s)"
    )
