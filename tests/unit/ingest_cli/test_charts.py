"""Report charts: what matplotlib says about the names it draws never reaches the terminal raw."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest

from ingest_cli import charts

if TYPE_CHECKING:
    from pathlib import Path

ESC_NAME = "Sales\x1b]0;owned\x07\x1b[2J"
REPORTS = {
    "hires-by-quarter": {
        "year": 2021,
        "rows": [
            {"department": ESC_NAME, "job": "Dev", "q1": 1, "q2": 0, "q3": 0, "q4": 2},
            {"department": "日本", "job": "Ops", "q1": 0, "q2": 3, "q3": 0, "q4": 0},
        ],
    },
    "departments-above-mean": {
        "year": 2021,
        "mean": 1.5,
        "rows": [
            {"id": 1, "department": ESC_NAME, "hired": 3},
            {"id": 2, "department": "日本", "hired": 2},
        ],
    },
}


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_a_chart_of_names_with_controls_and_missing_glyphs_prints_nothing_raw(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "chart.png"
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        notes = charts.CHARTS[name](REPORTS[name], path)
    assert path.read_bytes().startswith(b"\x89PNG")
    assert [str(w.message) for w in leaked] == []
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err == ""
    # The control characters are drawn as their visible escapes, so no glyph is missing for
    # them; the characters the font lacks are named once, by code point, in one note.
    assert notes == [
        "the chart's font has no glyph for 2 characters of the names (U+65E5, U+672C): "
        "they are drawn as boxes"
    ]
    assert not any(c in "".join(notes) for c in "\x1b\x07")


def test_chart_labels_show_control_characters_as_escapes() -> None:
    figure = charts.draw_departments_above_mean(REPORTS["departments-above-mean"])
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert "Sales\\x1b]0;owned\\x07\\x1b[2J" in labels
