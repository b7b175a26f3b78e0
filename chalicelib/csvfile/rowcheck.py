"""Deciding whether one CSV record is a valid row of a table, and why not.

The table's JSON Schema decides. Text fields are first turned into JSON values (``fields.py``: an
empty field becomes null, a canonical integer an int), then checked by per-column screens that
accept the common valid value without running the full validator; any row they do not accept goes
to ``jsonschema``, which gives the verdict and the reasons. Tests prove the screens never accept a
row the schema rejects. Record-level rules (UTF-8, NUL bytes, quoting, length) are checked here
before the schema sees any field.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, FormatChecker

from chalicelib.csvfile.boundaries import MAX_RECORD_BYTES, Record, ends_in_quoted_field
from chalicelib.csvfile.fastpath import ROW_ONLY_KEYWORDS, UTC_MOMENT, UTC_PATTERN
from chalicelib.csvfile.fields import INTEGER_TEXT, FieldSyntaxError, coerce, parse_fields

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from jsonschema.exceptions import ValidationError

    from chalicelib.tables import Column, Table

_SHOW_CHARS = 60
_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
RAW_PREVIEW_CHARS = 1000

FORMATS = FormatChecker(formats=())
_UTC_KEYWORDS = {"title", "type", "pattern", "format"}


@FORMATS.checks("date-time", raises=ValueError)
def _is_utc_datetime(value: object) -> bool:
    # The schema's pattern fixes the shape; this rejects dates that do not exist (2021-02-30).
    if isinstance(value, str):
        datetime.strptime(value, _UTC_FORMAT)
    return True


@dataclass(frozen=True)
class Verdict:
    """The outcome for one record: its typed values when valid, else the reasons."""

    line: int
    values: tuple[Any, ...] | None
    errors: tuple[str, ...] = ()
    raw: str = ""


def screen_column(column: Column) -> Callable[[Any], bool] | None:
    """A fast check equivalent to the column's schema, or None if the schema has other keywords."""
    item = column.schema
    known = {"title", "type", "minimum", "maximum", "minLength", "maxLength", "pattern", "format"}
    if set(item) - known - {"not"} or item.get("format", "date-time") != "date-time":
        return None
    refused = item.get("not")
    if refused is not None and not _refuses_characters(item):
        return None
    pattern = re.compile(item["pattern"]) if "pattern" in item else None
    forbidden = re.compile(refused["pattern"]) if refused is not None else None
    if item.get("type") == "integer":
        low = item.get("minimum", float("-inf"))
        high = item.get("maximum", float("inf"))
        return lambda v: type(v) is int and low <= v <= high
    if item.get("type") != "string":
        return None
    min_len = item.get("minLength", 0)
    max_len = item.get("maxLength", float("inf"))
    has_format = "format" in item
    if has_format and item.get("pattern") == UTC_PATTERN and set(item) <= _UTC_KEYWORDS:
        # The calendar as one pattern (tests hold it to strptime): no strptime per value.
        moment = UTC_MOMENT.fullmatch
        return lambda v: type(v) is str and moment(v) is not None

    def check(v: Any) -> bool:
        if type(v) is not str or not min_len <= len(v) <= max_len:
            return False
        if pattern is not None and not pattern.search(v):
            return False
        if forbidden is not None and forbidden.search(v):
            return False
        if has_format:
            try:
                datetime.strptime(v, _UTC_FORMAT)
            except ValueError:
                return False
        return True

    return check


def _refuses_characters(item: dict[str, Any]) -> bool:
    """True if the column is text whose ``not`` is a pattern alone (characters it may not hold)."""
    refused = item.get("not")
    is_pattern = isinstance(refused, dict) and set(refused) == {"pattern"}
    return item.get("type") == "string" and is_pattern


class RowChecker:
    """Validates records of one table: a compiled screen first, the JSON Schema for the rest."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.validator = Draft202012Validator(table.schema, format_checker=FORMATS)
        self._column_screens = [screen_column(c) for c in table.columns]
        screens = self._column_screens
        self._screens = None if any(s is None for s in screens) else screens
        self._width = len(table.columns)
        # The same schema taken apart: the row's own keywords, then one validator per column. A
        # bad row's reasons then cost only its bad fields' validation, not the whole row's.
        row = {k: v for k, v in table.schema.items() if k != "prefixItems"}
        self._split = set(row) <= ROW_ONLY_KEYWORDS
        self._row_validator = Draft202012Validator(row, format_checker=FORMATS)
        self._column_validators = [
            Draft202012Validator(c.schema, format_checker=FORMATS) for c in table.columns
        ]
        self._first_error_validators = [_by_rule_order(c.schema) for c in table.columns]
        # Bad rows repeat their mistakes (a missing field, the same impossible date, a short
        # row): a field's reason depends only on its column and value, and the row's own
        # keywords only on the number of fields, so both are remembered, within bounds.
        self._field_reasons: dict[tuple[int, str, Any], str | None] = {}
        self._row_errors: dict[int, list[ValidationError]] = {}

    def screen(self, values: Sequence[Any]) -> bool:
        """True only if the schema accepts ``values`` (False means: ask the schema)."""
        if self._screens is None or len(values) != self._width:
            return False
        return all(check(v) for check, v in zip(self._screens, values, strict=True))  # type: ignore[misc]

    def errors(
        self, values: Sequence[Any], passed: Sequence[bool] = ()
    ) -> list[tuple[int, ValidationError]]:
        """Every error the schema finds in ``values``: (field index, or -1 for the row; error).

        ``passed`` may say, per field, that the column's screen already accepted it.
        """
        if not self._split:
            return [
                (int(e.path[0]) if e.path else -1, e) for e in self.validator.iter_errors(values)
            ]
        passed = passed or self._passed(values)
        found = [(-1, e) for e in self._row_validator.iter_errors(list(values))]
        items = zip(self._column_validators, values, passed, strict=False)
        for index, (validator, value, ok) in enumerate(items):
            if not ok:  # the column screens are exact: a field they pass has no errors
                found += [(index, e) for e in validator.iter_errors(value)]
        return found

    def _passed(self, values: Sequence[Any]) -> list[bool]:
        screens = zip(self._column_screens, values, strict=False)
        return [check is not None and check(value) for check, value in screens]

    def reasons(self, values: Sequence[Any], passed: Sequence[bool] = ()) -> list[str]:
        """Every reason the schema gives against ``values``, as '<field>: <reason>'.

        One reason per field, the most basic one (a bad shape makes the date check moot), after
        the row's own: the order of ``errors`` sorted by field and rule.
        """
        if not self._split:
            return self._reasons_from(self.errors(values, passed), values)
        passed = passed or self._passed(values)
        reasons = [self._explain(-1, error, values) for error in self._row_errors_for(values)]
        for index, (value, ok) in enumerate(zip(values, passed, strict=False)):
            if index < self._width and not ok:
                reason = self._field_reason(index, value)
                if reason is not None:
                    reasons.append(reason)
        return reasons

    def _reasons_from(
        self, errors: list[tuple[int, ValidationError]], values: Sequence[Any]
    ) -> list[str]:
        reasons: list[str] = []
        seen: set[int] = set()
        for index, error in sorted(errors, key=_error_order):
            if index in seen and index >= 0:
                continue
            seen.add(index)
            reasons.append(self._explain(index, error, values))
        return reasons

    def _row_errors_for(self, values: Sequence[Any]) -> list[ValidationError]:
        """The row's own errors (its keywords see only how many fields it has), remembered."""
        found = self._row_errors.get(len(values))
        if found is None:
            found = sorted(self._row_validator.iter_errors(list(values)), key=_rule_order)
            if all(e.validator in ("minItems", "maxItems") for e in found):
                self._row_errors[len(values)] = found
        return found

    def _field_reason(self, index: int, value: Any) -> str | None:
        """The most basic reason the column gives against ``value``, remembered."""
        cacheable = value is None or (isinstance(value, (int, str)) and len(str(value)) <= 64)
        key = (index, type(value).__name__, value)
        if cacheable and key in self._field_reasons:
            return self._field_reasons[key]
        first = _first_error(self._first_error_validators[index], value)
        reason = self._explain(index, first, ()) if first is not None else None
        if cacheable:
            if len(self._field_reasons) >= _REASON_CACHE_LIMIT:
                self._field_reasons.clear()
            self._field_reasons[key] = reason
        return reason

    def check_values(self, values: Sequence[Any]) -> list[str]:
        """Reasons ``values`` is invalid; empty when valid."""
        passed = self._passed(values)
        if self._screens is not None and len(values) == self._width and all(passed):
            return []
        return self.reasons(values, passed)

    def check_record(self, record: Record) -> Verdict | None:
        """Judge one record; None for a blank line, which is not a row."""
        if record.truncated:
            reason = f"record: longer than {MAX_RECORD_BYTES} bytes"
            if ends_in_quoted_field(record.data):
                reason += (
                    "; a quote in it is never closed, so the lines after it were read as part "
                    "of this row"
                )
            return Verdict(
                record.line,
                None,
                (reason,),
                _preview(record.data.decode("utf-8", "replace"), record.size),
            )
        try:
            text = record.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = record.data[exc.start]
            return Verdict(
                record.line,
                None,
                (f"record: not valid UTF-8 (byte 0x{bad:02x} at position {exc.start})",),
                _preview(record.data.decode("utf-8", "replace"), record.size),
            )
        if text == "":
            return None
        nul = text.find("\x00")
        if nul >= 0:
            # Redshift's COPY fails the whole load on a NUL byte, so it is refused row by row here.
            return Verdict(
                record.line,
                None,
                (
                    f"record: holds a NUL byte (0x00) at character {nul}; save the file as UTF-8 "
                    "text without NUL characters",
                ),
                _preview(text, len(text)),
            )
        try:
            fields = parse_fields(text)
        except FieldSyntaxError as exc:
            return Verdict(record.line, None, (f"record: {exc}",), _preview(text, len(text)))
        values = coerce(self.table, fields)
        errors = self.check_values(values)
        if errors:
            return Verdict(record.line, None, tuple(errors), _preview(text, len(text)))
        return Verdict(record.line, tuple(values), (), text)

    def _explain(self, index: int, error: ValidationError, values: Sequence[Any]) -> str:
        if index < 0:
            if error.validator in ("minItems", "maxItems"):
                hint = ""
                if any(isinstance(v, str) and "\r" in v for v in values):
                    hint = " (a lone CR is not a line break: end lines with LF or CRLF)"
                return f"record: expected {self._width} fields, got {len(values)}{hint}"
            return f"record: {error.message}"
        column = self.table.columns[index]
        return f"{column.name}: {_reason(column, error)}"


_RULE_ORDER = {"type": 0, "minimum": 1, "maximum": 1, "minLength": 1, "maxLength": 1, "pattern": 2}
# Remembered reasons per checker; values longer than 64 characters are never remembered.
_REASON_CACHE_LIMIT = 10_000


def _rule_order(error: ValidationError) -> int:
    return _RULE_ORDER.get(str(error.validator), 3)


# Keywords that judge a value each on its own: a schema of only these can be checked a few
# keywords at a time with the same errors.
_INDEPENDENT = {
    "title",
    "description",
    "type",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "not",
    "enum",
    "const",
}


def _by_rule_order(schema: dict[str, Any]) -> list[Draft202012Validator]:
    """Validators for ``schema``'s keywords, one per rule order (``_RULE_ORDER``), lowest first;
    each keeps the keywords in the schema's order. One validator of the whole schema if it has
    keywords that may depend on each other."""
    if set(schema) - _INDEPENDENT:
        return [Draft202012Validator(schema, format_checker=FORMATS)]
    groups: dict[int, dict[str, Any]] = {}
    for keyword, value in schema.items():
        groups.setdefault(_RULE_ORDER.get(keyword, 3), {})[keyword] = value
    return [Draft202012Validator(groups[order], format_checker=FORMATS) for order in sorted(groups)]


def _first_error(validators: list[Draft202012Validator], value: Any) -> ValidationError | None:
    """The error a column gives first against ``value`` in rule order: the same error as
    sorting every error of the whole schema (a stable sort keeps the schema's order within an
    order), without checking the rules of a later order once an earlier one failed (a date
    that is not even shaped like one is not parsed)."""
    for validator in validators:
        found: ValidationError | None = next(validator.iter_errors(value), None)
        if found is not None:
            return found
    return None


def _error_order(item: tuple[int, ValidationError]) -> tuple[int, int]:
    return (item[0], _rule_order(item[1]))


def _reason(column: Column, error: ValidationError) -> str:
    value, rule, limit = error.instance, error.validator, error.validator_value
    if value is None:
        return "missing value"
    low = column.schema.get("minimum", "-inf")
    high = column.schema.get("maximum", "inf")
    if rule == "type":
        if column.kind == "integer" and isinstance(value, str) and INTEGER_TEXT.fullmatch(value):
            return f"{_show(value)} is out of range [{low}, {high}]"
        kind = "an integer" if column.kind == "integer" else "text"
        return f"{_show(value)} is not {kind}"
    if rule in ("minimum", "maximum"):
        return f"{value} is out of range [{low}, {high}]"
    if rule == "maxLength":
        return f"longer than {limit} characters ({len(str(value))})"
    if rule == "minLength":
        return f"shorter than {limit} characters"
    # A pattern's "$" also matches before a final newline, so "...Z\n" reaches the date check.
    timestamp_shape = rule == "pattern" or (rule == "format" and str(value).endswith("\n"))
    if column.kind == "timestamp" and timestamp_shape:
        return f"{_show(value)} is not a UTC timestamp like 2021-07-27T16:02:08Z"
    if rule == "pattern" and limit == r"\S":
        return f"{_show(value)} is blank"
    if rule == "pattern":
        return f"{_show(value)} does not match the pattern {limit}"
    if rule == "format":
        return f"{_show(value)} is not a real date and time"
    if rule == "not" and isinstance(limit, dict) and set(limit) == {"pattern"}:
        found = re.search(limit["pattern"], str(value))
        if found:
            char = found[0][0]
            what = "control character" if unicodedata.category(char) == "Cc" else "character"
            return f"{_show(value)} holds the {what} U+{ord(char):04X}"
    return error.message


def _show(value: Any) -> str:
    """A value as a reason quotes it: its repr, cut short if long (the rejects file has it all)."""
    text = repr(value)
    if len(text) <= _SHOW_CHARS:
        return text
    return f"{text[: _SHOW_CHARS - 10]}... ({len(str(value))} characters)"


def _preview(text: str, size: int) -> str:
    if len(text) <= RAW_PREVIEW_CHARS:
        return text
    return f"{text[:RAW_PREVIEW_CHARS]}... ({size} bytes in all)"
