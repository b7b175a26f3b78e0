"""What a loaded upload's counts do not say by themselves: warnings when little or nothing loaded.

Owns the warnings an upload's status carries once it is loaded: no data rows, every row
rejected, most rows rejected for one reason (and, when that reason is the number of fields and
another delimiter splits those rows right, the option to upload the file again with). The
reasons are counted from the rejects file's lines as the load writes it (``rejects.py``); this
module judges no row and reads no object.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from chalicelib.csvfile.options import DELIMITERS
from chalicelib.tables import get_table

if TYPE_CHECKING:
    from chalicelib.csvfile.options import FileOptions

WarningCode = Literal["no_data_rows", "all_rows_rejected", "most_rows_rejected"]
# Rejected rows whose reasons are counted: every one of a file of up to this many rejected rows;
# of a larger one, the first ones (reading a line costs about 10 us: counting all of a file of
# ten million rejected rows would add minutes to its load, this caps it near a second).
REASON_SAMPLE = 100_000
# Rows with the wrong number of fields tried against the other delimiters: enough to name one
# with confidence, few enough that an all-rejected file of millions costs nothing more.
DELIMITER_SAMPLE = 1000
_FIELD_COUNT = re.compile(r"^record: expected ([0-9]+) fields, got ([0-9]+)")
# A reason without the row's own values, so that like reasons group: the same rules as the
# clients' summaries of the rejects file (ingest_cli/render.py reason_of, the console's reasonOf).
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_LEADING_VALUE = re.compile(r"^([a-z_]+: )-?[0-9.eE+]+(?= is )")
_ROW = re.compile(r"\brow [0-9]+")
_DETAIL = re.compile(r" \([^()]*\)$")


@dataclass(frozen=True)
class UploadWarning:
    """Something about a loaded upload that its counts alone do not say, in words, with the
    file option that would read the file right when one would."""

    code: Annotated[
        WarningCode,
        "no_data_rows: the file held no row to load; all_rows_rejected: nothing was loaded; "
        "most_rows_rejected: more than half the rows failed for one reason",
    ]
    message: str
    option: Annotated[
        dict[str, str] | None,
        'A file option to upload the file again with, e.g. {"delimiter": ";"}',
    ]


def reason_of(error: str) -> str:
    """``error`` without the row's own values (``id: 'x' is not an integer`` → ``id: … is not
    an integer``)."""
    reason = _QUOTED.sub("…", error)
    reason = _LEADING_VALUE.sub(r"\1…", reason)
    reason = _ROW.sub("row N", reason)
    return _DETAIL.sub("", reason).strip()


def shown_delimiter(delimiter: str) -> str:
    return "'\\t' (tab)" if delimiter == "\t" else repr(delimiter)


class Tally:
    """The rejects file's lines (the first ``REASON_SAMPLE``) counted by reason as they are
    written; for the first ``DELIMITER_SAMPLE`` rows with the wrong number of fields, which
    other delimiters would have split them into the table's columns."""

    def __init__(self, table: str, read_as: FileOptions) -> None:
        self.width = len(get_table(table).columns)
        self.delimiter = read_as.delimiter
        self.lines = 0
        self.rows = 0
        self.reasons: Counter[str] = Counter()
        self.tried = 0
        self.splits: Counter[str] = Counter()

    @property
    def sampled(self) -> bool:
        """True if only the first of the rejected rows were counted."""
        return self.rows < self.lines

    def add(self, line: bytes) -> None:
        """Count one line of the rejects file (``{"row", "raw", "errors"}``)."""
        self.lines += 1
        if self.rows >= REASON_SAMPLE:
            return
        entry = json.loads(line)
        errors = [str(e) for e in entry.get("errors") or []]
        self.rows += 1
        # In the order the row's errors come (its shape before its fields), so that of reasons
        # as common as each other, the one seen first is named.
        self.reasons.update(list(dict.fromkeys(reason_of(e) for e in errors)))
        if self.tried < DELIMITER_SAMPLE and any(_FIELD_COUNT.match(e) for e in errors):
            self.tried += 1
            self.splits.update(self._fitting(str(entry.get("raw", ""))))

    def _fitting(self, raw: str) -> list[str]:
        """The other delimiters that split the row's original text into the table's columns."""
        original = raw if self.delimiter == "," else _rejoined(raw, self.delimiter)
        return [
            other
            for other in DELIMITERS
            if other != self.delimiter and _width(original, other) == self.width
        ]

    def delimiter_hint(self) -> str | None:
        """The delimiter that splits most of the rows tried right, if it splits most of them."""
        if not self.splits:
            return None
        best, count = self.splits.most_common(1)[0]
        return best if count * 2 > self.tried else None


def _width(text: str, delimiter: str) -> int:
    try:
        fields = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    except csv.Error:
        return -1
    return len(fields)


def _rejoined(raw: str, delimiter: str) -> str:
    """A rejected row's text as the file held it: the pipeline rewrote it to commas, so its
    fields are joined again with the delimiter the file was read with."""
    try:
        fields = next(csv.reader(io.StringIO(raw)), [])
    except csv.Error:
        return raw
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(fields)
    return out.getvalue()


def warnings_of(
    rows_total: int, rows_valid: int, header_skipped: bool, tally: Tally | None
) -> list[UploadWarning]:
    """The warnings of an upload loaded with these counts; ``tally`` counted its rejects (it
    is needed only when more than half its rows were rejected)."""
    if rows_total == 0:
        what = "a header line and no data rows" if header_skipped else "no data rows"
        return [
            UploadWarning(
                "no_data_rows",
                f"the file holds {what} (blank lines are not rows): nothing was loaded",
                None,
            )
        ]
    found: list[UploadWarning] = []
    if rows_valid == 0:
        found.append(
            UploadWarning(
                "all_rows_rejected",
                f"every one of the file's {rows_total:,} rows was rejected: nothing was loaded",
                None,
            )
        )
    if tally is not None and tally.reasons:
        reason, count = tally.reasons.most_common(1)[0]
        if 2 * count * tally.lines > rows_total * tally.rows:
            found.append(_common_reason(reason, count, rows_total, tally))
    return found


def _common_reason(reason: str, count: int, rows_total: int, tally: Tally) -> UploadWarning:
    if tally.sampled:
        message = (
            f"most rows were rejected for one reason: {count:,} of the first {tally.rows:,} "
            f"rejected rows ({tally.lines:,} of the file's {rows_total:,} rows were rejected): "
            f"{reason}"
        )
    else:
        message = f"{count:,} of {rows_total:,} rows were rejected for one reason: {reason}"
    hint = tally.delimiter_hint() if _FIELD_COUNT.match(reason) else None
    if hint is None:
        return UploadWarning("most_rows_rejected", message, None)
    shown = shown_delimiter(hint)
    message += (
        f"; split at {shown} instead of {shown_delimiter(tally.delimiter)}, "
        f"{tally.splits[hint]:,} of the {tally.tried:,} such rows tried have the table's "
        f"{tally.width} fields: upload the file again with the option delimiter {shown}"
    )
    return UploadWarning("most_rows_rejected", message, {"delimiter": hint})
