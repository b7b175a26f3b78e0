"""Planning a file by parts, each read on its own, then chaining the parts into one plan.

A part of the file is read from its first line start; whether that line start begins a record
or lies inside a quoted field depends on everything before it, so a part is planned under both
hypotheses (``plan_part``). One pass over the parts' summaries, in order, then picks the true
hypothesis of each (the one the part before it ends in), numbers lines by prefix sums and closes
the chunks that run from one part into the next (``chain``). The spans are exactly those one
``ranges.Planner`` finds reading the whole file, provided every part starts on the chunk byte
grid (a multiple of ``max_bytes``): a chunk's end then depends only on where its grid cell
begins, which the part holding it sees. This module knows nothing about S3 or tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.csvfile.ranges import OpenSpan, Planner, Span

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from chalicelib.csvfile.boundaries import Source


@dataclass(frozen=True)
class Hypothesis:
    """What one part holds if its first line start is (or is not) inside a quoted field.

    Lines are counted from 0 at the part's start. ``lead_end`` is where the record open at the
    part's start ends (the part's start itself when none is open); None if it does not end in
    the part. ``spans`` are the chunks that begin and end in the part; ``open`` the one its end
    leaves unfinished.
    """

    lead_end: int | None
    spans: tuple[Span, ...]
    open: OpenSpan | None
    lines: int  # line breaks in the part

    @property
    def ends_quoted(self) -> bool:
        """True if the part ends inside a quoted field (so the next part starts in one)."""
        return self.open is not None or self.lead_end is None

    def to_json(self) -> dict[str, Any]:
        return {
            "lead_end": self.lead_end,
            "spans": [_span_row(s) for s in self.spans],
            "open": None if self.open is None else list(vars(self.open).values()),
            "lines": self.lines,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Hypothesis:
        return cls(
            data["lead_end"],
            tuple(Span(*row) for row in data["spans"]),
            None if data["open"] is None else OpenSpan(*data["open"]),
            data["lines"],
        )


@dataclass(frozen=True)
class PartSummary:
    """A part ``[start, end)`` of the file (``start`` and ``end`` line starts) planned both ways.

    ``quoted`` is None for the part that starts where the data does: it starts a record.
    """

    start: int
    end: int
    boundary: Hypothesis
    quoted: Hypothesis | None

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "boundary": self.boundary.to_json(),
            "quoted": None if self.quoted is None else self.quoted.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartSummary:
        quoted = data["quoted"]
        return cls(
            data["start"],
            data["end"],
            Hypothesis.from_json(data["boundary"]),
            None if quoted is None else Hypothesis.from_json(quoted),
        )


def _span_row(span: Span) -> list[int]:
    return [span.start, span.end, span.first_line, span.last_line, span.records]


def line_start_at_or_after(head: bytes, position: int) -> int:
    """The first line start at or after ``position``, given ``head``: the file's bytes from
    ``position - 1`` up to and including the next line break (or to the file's end)."""
    if position == 0 or head[:1] == b"\n":
        return position
    eol = head.find(b"\n", 1)
    return position - 1 + (eol + 1 if eol >= 0 else len(head))


def plan_part(
    opener: Callable[[], Source],
    span: tuple[int, int],
    *,
    last: bool,
    first: bool,
    max_records: int,
    max_bytes: int,
    delimiter: str = ",",
) -> PartSummary:
    """Plan the part ``span`` (``[start, end)``, both line starts) under both hypotheses.

    ``opener`` returns a fresh stream of the part's bytes (read twice, once per hypothesis).
    ``first`` says the part starts where the data does (after a header), so only a record can
    start there; ``last`` that its end is the file's end, where an open record ends too.
    """
    start, end = span
    boundary = _hypothesis(opener(), start, last, False, max_records, max_bytes, delimiter)
    quoted = None
    if not first:
        quoted = _hypothesis(opener(), start, last, True, max_records, max_bytes, delimiter)
    return PartSummary(start, end, boundary, quoted)


def _hypothesis(
    source: Source,
    start: int,
    last: bool,
    quoted: bool,
    max_records: int,
    max_bytes: int,
    delimiter: str,
) -> Hypothesis:
    planner = Planner(
        source, offset=start, line=0, delimiter=delimiter, quoted=quoted, part=not last
    )
    lead_end: int | None = start
    if quoted:
        lead_end = planner.offset if planner.skip_record() else None
    spans: tuple[Span, ...] = ()
    if lead_end is not None:
        spans = tuple(planner.spans(max_records, max_bytes))
    return Hypothesis(lead_end, spans, planner.open_span(), planner.lines_read)


def chain(parts: Iterable[PartSummary], first_line: int) -> list[Span]:
    """The file's spans from its parts' summaries, in order; the first part starts on line
    ``first_line``, where the data starts.

    Raises:
        ValueError: the parts do not follow each other, or the file ends inside a record.
    """
    spans: list[Span] = []
    line, carry, end = first_line, None, None
    for part in parts:
        if end is not None and part.start != end:
            raise ValueError(f"a part starts at {part.start}, not where the one before ended")
        end = part.end
        guess = part.boundary if carry is None else part.quoted
        if guess is None:
            raise ValueError(f"the part at {part.start} cannot start inside a quoted field")
        if carry is not None:
            if guess.lead_end is None:  # the open record goes on through the whole part
                line += guess.lines
                continue
            spans.append(
                Span(
                    carry.start,
                    guess.lead_end,
                    carry.first_line,
                    carry.record_line,
                    carry.records + 1,
                )
            )
        spans += [_shifted(s, line) for s in guess.spans]
        carry = None
        if guess.open is not None:
            o = guess.open
            carry = OpenSpan(o.start, o.first_line + line, o.records, o.record_line + line)
        line += guess.lines
    if carry is not None:
        raise ValueError("the file ends inside a record that its last part left open")
    return spans


def _shifted(span: Span, lines: int) -> Span:
    return Span(span.start, span.end, span.first_line + lines, span.last_line + lines, span.records)
