"""Stage 2: validate one chunk against its table's schema.

Owns turning ``chunks/<table>/<id>/<n>.rec`` (a byte range of the raw file, or a copy of its
records: ``chunks.py``) into a cleaned CSV chunk (valid rows, typed, with the
line each came from) and a JSON Lines rejects file, then the chunk's done marker. Rows go through
the compiled fast path (``csvfile/fastpath.py``) first, over the raw file's bytes themselves when
the chunk is a plain range of it, and through JSON Schema (``csvfile/rowcheck.py``) when it
cannot vouch for them. Running it twice on the same chunk writes the same objects.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import keys
from chalicelib.csvfile import boundaries, chunkfile
from chalicelib.csvfile.boundaries import MAX_RECORD_BYTES, QUOTED, START, Record, scan
from chalicelib.csvfile.cleaned import clean_row
from chalicelib.csvfile.fastpath import RowPattern, compile_row_pattern, lines_pattern
from chalicelib.csvfile.rowcheck import RowChecker
from chalicelib.pipeline import chunks, completion, rejects, state
from chalicelib.pipeline.state import ChunkDone
from chalicelib.tables import get_table

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.pipeline.runner import StageEvent

logger = logging.getLogger(__name__)

_CHECKERS: dict[str, tuple[RowChecker, RowPattern | None, RowPattern | None]] = {}


def checker_for(table: str) -> tuple[RowChecker, RowPattern | None, RowPattern | None]:
    """One compiled checker and fast path (for one line, and for many) per table per
    container."""
    if table not in _CHECKERS:
        definition = get_table(table)
        pattern = compile_row_pattern(definition)
        lines = None if pattern is None else lines_pattern(pattern)
        _CHECKERS[table] = (RowChecker(definition), pattern, lines)
    return _CHECKERS[table]


@dataclass(frozen=True)
class ChunkResult:
    """What validating one chunk produced."""

    key: str
    upload_id: str | None
    rows_in: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    skipped: str | None = None


@dataclass(frozen=True)
class Judged:
    """A chunk's cleaned rows (CSV) and rejected rows (JSON Lines), with their counts."""

    clean: bytes
    rejected: bytes
    rows_in: int
    rows_valid: int
    rows_rejected: int


def judge_chunk(table: str, body: bytes) -> Judged:
    """Judge every record of a chunk body; valid rows become CSV, rejects JSON Lines.

    The fast path takes the lines it can vouch for, whole runs at a time; every other record
    goes to the JSON Schema checker, which gives the verdict and the reasons. Cleaned rows keep
    the order of the file.

    Raises:
        ValueError: ``body`` is not a chunk body.
    """
    judge = _Judge(*checker_for(table))
    clean: list[str] = []
    for section in chunkfile.iter_sections(body):
        if isinstance(section, Record):
            clean.append(judge.by_schema(section))
            continue
        try:
            if section.lines:
                clean.append(judge.lines(section.first_line, chunkfile.lines_text(section)) or "")
            else:
                texts = chunkfile.record_texts(section)
                clean.extend(judge.text(line, text) for line, text in texts)
        except UnicodeDecodeError:  # some record is not UTF-8: take them one by one, as bytes
            found = boundaries.iter_records(io.BytesIO(section.data), section.first_line)
            clean.extend(map(judge.by_schema, found))
    rows_in, valid = judge.rows_in, judge.rows_valid
    return Judged(
        "".join(clean).encode(), "".join(judge.rejected).encode(), rows_in, valid, rows_in - valid
    )


def judge_range(table: str, chunk: chunks.PlainRange) -> Judged | None:
    """Judge a plain range of the raw file taking each line as one record, or None if it cannot.

    One pass of the fast path over the whole range, as for a run of lines; every line it leaves
    goes to the schema path. That holds only if no record goes on to the next line: every line
    left must end outside quotes (a line the fast path takes always does) and be short enough
    to keep whole. Otherwise (a quoted line break, a long record, bytes that are not UTF-8)
    None: the caller cuts the range into records, as the split would have.
    """
    definition = get_table(table)
    if any(c.kind == "text" and c.max_length is None for c in definition.columns):
        return None  # a line the fast path takes could be too long to keep whole
    data = chunk.data
    if b"\r\n" in data:  # if each line is a record (checked below), CRLF is a line break
        data = data.replace(b"\r\n", b"\n")
    if data.endswith(b"\r"):  # the file's last record: a CR before its end is taken off
        data = data[:-1]
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    judge = _Judge(*checker_for(table))
    clean = judge.lines(chunk.first_line, text, whole=_whole_record)
    if clean is None:
        return None
    rows_in, valid = judge.rows_in, judge.rows_valid
    return Judged(clean.encode(), "".join(judge.rejected).encode(), rows_in, valid, rows_in - valid)


def _whole_record(line: bytes) -> bool:
    """True if a line read as a record is the whole record: it ends outside quotes and is not
    cut short."""
    return len(line) <= MAX_RECORD_BYTES and scan(line, START) != QUOTED


class _Judge:
    """Judges the records of one chunk and counts them; keeps the rejects lines."""

    def __init__(
        self, checker: RowChecker, pattern: RowPattern | None, lines: RowPattern | None
    ) -> None:
        self.checker, self.pattern = checker, pattern
        self.emptied = None if lines is None else lines.sub
        self.columns = checker.table.columns
        self.rejected: list[str] = []
        self.rows_in = self.rows_valid = 0

    def by_schema(self, record: Record) -> str:
        """The cleaned row for ``record`` ('' if it is rejected or blank), by JSON Schema."""
        verdict = self.checker.check_record(record)
        if verdict is None:
            return ""
        self.rows_in += 1
        if verdict.values is None:
            self.rejected.append(rejects.reject_line(verdict.line, verdict.raw, verdict.errors))
            return ""
        self.rows_valid += 1
        return clean_row(self.columns, verdict.values, verdict.line)

    def text(self, line: int, text: str) -> str:
        """The cleaned row for one record's text, through the fast path if it can."""
        if self.pattern is not None and self.pattern.fullmatch(text):
            self.rows_in += 1
            self.rows_valid += 1
            return f"{text},{line}\n"
        data = text.encode()
        return self.by_schema(Record(line, data, len(data)))

    def lines(
        self, first: int, text: str, whole: Callable[[bytes], bool] | None = None
    ) -> str | None:
        """The cleaned rows of a run of whole-record lines (each ending in LF), the first on line
        ``first``.

        One pass of the fast path over the whole text empties the lines it vouches for; each of
        those is its own cleaned row, followed by its line number. Only the lines left (and
        blank ones, which are not rows) are judged one by one. With ``whole``, the lines are
        not known to be whole records: None unless ``whole`` says each line left is one.
        """
        lines = text.split("\n")
        lines.pop()  # '' after the last line break
        if self.emptied is None:
            if whole is not None and not all(whole(line.encode()) for line in lines):
                return None
            return "".join(map(self.text, range(first, first + len(lines)), lines))
        left = self.emptied("", text).split("\n")
        others = [i for i, rest in enumerate(left) if rest]
        if "" in lines:  # blank lines: emptied by nothing, and not rows
            others = sorted({*others, *(i for i, line in enumerate(lines) if not line)})
        left_lines = [lines[i].encode() for i in others]
        if whole is not None and not all(map(whole, left_lines)):
            return None
        out = [f"{line_text},{line}\n" for line, line_text in enumerate(lines, first)]
        for i, data in zip(others, left_lines, strict=True):
            out[i] = self.by_schema(Record(first + i, data, len(data)))
        taken = len(lines) - len(others)
        self.rows_in += taken
        self.rows_valid += taken
        return "".join(out)


def validate_chunk(s3: S3Client, settings: Settings, event: StageEvent) -> ChunkResult:
    """Validate the chunk ``event`` names and record that it is done."""
    key, table, upload_id, n = event.key, event.table, event.upload_id or "", event.chunk or 0
    bucket = settings.bucket
    upload = state.read(s3, bucket, table, upload_id)
    if upload is None or upload.state not in ("splitting", "validating"):
        reason = "unknown upload" if upload is None else f"upload is {upload.state}"
        return ChunkResult(key, upload_id, skipped=reason)
    # A redelivered event judges its chunk again and writes the same objects: rarer than
    # looking for the chunk's done marker first would be costly (one request per chunk).
    started = time.monotonic()
    chunk = chunks.read_chunk(s3, bucket, key)
    judged = judge_range(table, chunk) if isinstance(chunk, chunks.PlainRange) else None
    if judged is None:
        judged = judge_chunk(table, chunk.body() if isinstance(chunk, chunks.PlainRange) else chunk)
    s3.put_object(
        Bucket=bucket,
        Key=keys.clean_key(table, upload_id, n),
        Body=judged.clean,
        ContentType="text/csv",
    )
    if judged.rejected:  # no rejects, no file: the load reads only chunks that rejected rows
        s3.put_object(
            Bucket=bucket,
            Key=keys.chunk_rejects_key(table, upload_id, n),
            Body=judged.rejected,
            ContentType="application/x-ndjson",
        )
    result = ChunkDone(
        n, judged.rows_in, judged.rows_valid, judged.rows_rejected, len(judged.clean)
    )
    completion.mark_chunk_done(s3, bucket, table, upload_id, result)
    logger.info(
        "validate.completed",
        extra={
            "chunk": n,
            "rows_in": result.rows_in,
            "rows_valid": result.rows_valid,
            "rows_rejected": result.rows_rejected,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    completion.request_load_if_complete(s3, bucket, upload, chunk=n)
    return ChunkResult(key, upload_id, result.rows_in, result.rows_valid, result.rows_rejected)
