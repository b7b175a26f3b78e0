"""The fast path agrees with the JSON Schema: a line it matches is valid and is its own cleaned
row; every other line goes to the schema path (same verdicts, same reasons). Rows are built near
every boundary the schemas draw; the calendar is compared with the schema's date-time check on
every month and day of sampled years and every value of each time field."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from chalicelib.csvfile.boundaries import Record, iter_records
from chalicelib.csvfile.chunkfile import iter_chunks
from chalicelib.csvfile.cleaned import clean_row
from chalicelib.csvfile.fastpath import (
    CONTROL_PATTERN,
    UTC_PATTERN,
    compile_row_pattern,
    row_pattern_text,
)
from chalicelib.csvfile.fields import FieldSyntaxError, parse_fields
from chalicelib.csvfile.rowcheck import FORMATS, RowChecker
from chalicelib.pipeline.validate import judge_chunk
from chalicelib.tables import TABLES, Table, _column
from tests.properties import examples

CHECKERS = {name: RowChecker(table) for name, table in TABLES.items()}
SCREENS = {name: compile_row_pattern(table) for name, table in TABLES.items()}
WHITESPACE = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())

integer_text = st.one_of(
    st.integers(min_value=-3, max_value=12).map(str),
    st.integers(min_value=10**17 - 2, max_value=10**18 + 2).map(str),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 1).map(str),
    st.sampled_from(["", "007", "+7", "-0", "00", "1.5", "12.5", "1e3", " 7", "7 ", "7\r"]),
    # Digits str.isdigit() accepts but the schema's [0-9] does not: Arabic-Indic, full width,
    # superscript.
    st.sampled_from(["\u0663", "\uff17", "\u00b2", "1\u0663"]),
    st.text(alphabet="0123456789-+. e", max_size=20),
)
plain_text = st.one_of(
    st.text(max_size=4),
    st.text(min_size=255, max_size=258),
    st.text(alphabet=WHITESPACE[:12] + "a", max_size=3),
    st.sampled_from(["", " ", "\u00a0", "\x1c", "\u180e", "\u200b", 'a"b', "Smith, Jr.", "x\r\ny"]),
    # Control characters (refused but for a quoted LF or CRLF) beside their neighbours.
    st.text(alphabet='a \t\x1b\x7f\x80\x85\x9f\xa0\r\n,"', max_size=6),
)
timestamp_text = st.one_of(
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format,
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
    ),
    st.builds(
        "{:04d}-02-{:02d}T10:00:00Z".format,
        st.sampled_from([1900, 2000, 2020, 2021, 2100, 2400]),
        st.integers(27, 30),
    ),
    st.sampled_from(
        [
            "2021-07-27T16:02:08Z\n",
            "2021-07-27t16:02:08z",
            "2021-07-27 16:02:08",
            "2021-07-27T16:02:08+00:00",
            "\uff12021-07-27T16:02:08Z",
            "2021-07-27T16:02:8Z",
            "",
        ]
    ),
)
BY_KIND = {"integer": integer_text, "text": plain_text, "timestamp": timestamp_text}


def fields_for(table: Table) -> st.SearchStrategy[list[str]]:
    """The table's fields, sometimes one too few or one too many."""
    kinds = [BY_KIND[c.kind] for c in table.columns]
    return (
        st.integers(-1, 1)
        .flatmap(
            lambda extra: st.tuples(
                *kinds[: len(kinds) + min(extra, 0)], *[plain_text] * max(extra, 0)
            )
        )
        .map(list)
    )


def as_record(fields: list[str], quoting: int) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="", quoting=quoting).writerow(fields)
    return out.getvalue()


def test_not_blank_agrees_with_re_on_every_code_point() -> None:
    # The fast path reads the schema's pattern "\S" as "not str.isspace()".
    not_blank = re.compile(r"\S")
    assert all(
        (not_blank.search(c) is None) == c.isspace() for c in map(chr, range(sys.maxunicode + 1))
    )


def test_control_characters_are_refused_alike_by_the_fast_path_and_the_schema() -> None:
    screen, checker = SCREENS["departments"], CHECKERS["departments"]
    assert screen is not None
    for point in range(sys.maxunicode + 1):
        if 0xD800 <= point <= 0xDFFF:  # surrogates: never in decoded text
            continue
        char = chr(point)
        control = unicodedata.category(char) == "Cc"
        value = f"a{char}b"
        # The fast path takes every such name but those holding a control character or a
        # character that needs quotes (a comma, a quote), which it leaves to the schema.
        assert (screen.fullmatch(f"1,{value}") is not None) is not (control or char in ',"'), point
        if point < 0x3000:  # the schema's verdict, where every control character lies
            reasons = checker.check_values([1, value])
            if control and char != "\n":
                assert reasons == [
                    f"department: {value!r} holds the control character U+{point:04X}"
                ]
            else:
                assert reasons == []


def _left_to_the_schema(table: Table, text: str) -> bool:
    """Valid rows already in their cleaned form that the fast path still leaves to the schema:
    integers of 19 digits (near the maximum), and text holding a quote or a line break (CR or
    LF: the pattern judges one line at a time, and a record with a quoted line break spans two)."""
    try:
        fields = parse_fields(text)
    except FieldSyntaxError:
        return False
    cells = zip(table.columns, fields, strict=False)
    return any(
        (c.kind == "integer" and len(f) >= 19)
        or (c.kind == "text" and any(ch in f for ch in '"\r\n'))
        for c, f in cells
    )


@pytest.mark.parametrize("name", sorted(TABLES))
@settings(max_examples=examples(400), deadline=None)
@given(data=st.data(), quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, None]))
def test_screen_matches_exactly_the_valid_rows_already_in_cleaned_form(
    name: str, data: st.DataObject, quoting: int | None
) -> None:
    table = TABLES[name]
    fields = data.draw(fields_for(table))
    text = ",".join(fields) if quoting is None else as_record(fields, quoting)
    verdict = CHECKERS[name].check_record(Record(2, text.encode(), len(text.encode())))
    screen = SCREENS[name]
    assert screen is not None
    matched = screen.fullmatch(text) is not None
    if verdict is None:  # a blank line is not a row
        assert not matched
        return
    if matched:
        assert verdict.values is not None, verdict.errors
        assert clean_row(table.columns, verdict.values, 2) == f"{text},2\n"
    elif verdict.values is not None:
        # Valid, yet left to the schema: its cleaned row differs from its text (quotes the
        # cleaned row would not need, or would need), or one of the cases it leaves alone.
        own = clean_row(table.columns, verdict.values, 2) == f"{text},2\n"
        assert not own or _left_to_the_schema(table, text)


TIMESTAMP = next(c for c in TABLES["hired_employees"].columns if c.kind == "timestamp")
TIMESTAMP_VALID = Draft202012Validator(TIMESTAMP.schema, format_checker=FORMATS).is_valid
TIMESTAMP_PATTERN = compile_row_pattern(Table("t", 1, {"type": "array"}, (TIMESTAMP,), "datetime"))
YEARS = [0, 1, 4, 99, 100, 104, 200, 400, 1000, 1600, 1700, 1899, 1900, 1996, 1999, 2000, 2001]
YEARS += [2020, 2021, 2023, 2024, 2100, 2400, 2500, 8000, 9996, 9999]


@pytest.mark.parametrize("year", YEARS)
def test_calendar_agrees_with_the_schema_on_every_month_and_day(year: int) -> None:
    assert TIMESTAMP_PATTERN is not None
    for month in range(100):
        for day in range(100):
            value = f"{year:04d}-{month:02d}-{day:02d}T12:30:45Z"
            assert (TIMESTAMP_PATTERN.fullmatch(value) is not None) == TIMESTAMP_VALID(value), value


def test_calendar_agrees_with_the_schema_on_29_february_of_every_year() -> None:
    assert TIMESTAMP_PATTERN is not None
    for year in range(10000):
        value = f"{year:04d}-02-29T00:00:00Z"
        assert (TIMESTAMP_PATTERN.fullmatch(value) is not None) == TIMESTAMP_VALID(value), value


@pytest.mark.parametrize(
    "template", ["2021-07-27T{:02d}:00:00Z", "2021-07-27T00:{:02d}:00Z", "2021-07-27T00:00:{:02d}Z"]
)
def test_time_of_day_agrees_with_the_schema_on_every_value(template: str) -> None:
    assert TIMESTAMP_PATTERN is not None
    for n in range(100):
        value = template.format(n)
        assert (TIMESTAMP_PATTERN.fullmatch(value) is not None) == TIMESTAMP_VALID(value), value


@pytest.mark.parametrize(
    ("line", "accepted"),
    [
        ("1,Ada Lovelace,2021-07-27T16:02:08Z,2,96", True),
        ('1,"Lovelace, Ada",2021-07-27T16:02:08Z,2,96', True),
        ('1,"Say ""hi"", Ada",2021-07-27T16:02:08Z,2,96', False),  # inner quotes: the schema's
        ('1,"Ada",2021-07-27T16:02:08Z,2,96', False),  # quotes its cleaned row would not have
        ("1, Ada,2021-07-27T16:02:08Z,2,96", False),  # cleaned, it would be quoted
        ("1,Ada\rLovelace,2021-07-27T16:02:08Z,2,96", False),
        ("1,Ada,2020-02-29T23:59:59Z,2,96", True),
        ("999999999999999999,Ada,2021-07-27T16:02:08Z,2,3", True),
        # Beyond 18 digits the schema decides (here: valid).
        ("9223372036854775807,Ada,2021-07-27T16:02:08Z,2,3", False),
        # The traps of vectorised casts: rounding, exponents, calendar roll-over, lenient parsing.
        ("12.5,Ada,2021-07-27T16:02:08Z,2,3", False),
        ("1e3,Ada,2021-07-27T16:02:08Z,2,3", False),
        ("+7,Ada,2021-07-27T16:02:08Z,2,3", False),
        ("007,Ada,2021-07-27T16:02:08Z,2,3", False),
        ("\u0663,Ada,2021-07-27T16:02:08Z,2,3", False),
        ("1,Ada,2021-02-30T10:00:00Z,2,3", False),
        ("1,Ada,2021-02-29T10:00:00Z,2,3", False),
        ("1,Ada,1900-02-29T10:00:00Z,2,3", False),
        ("1,Ada,0000-01-01T10:00:00Z,2,3", False),
        ("1,Ada,2021-07-27T24:00:00Z,2,3", False),
        ("1,Ada,2021-07-27T23:59:60Z,2,3", False),
        ("1,\u00a0\u2003,2021-07-27T16:02:08Z,2,3", False),
        ("1,\x1c,2021-07-27T16:02:08Z,2,3", False),
        ("1,A\x00,2021-07-27T16:02:08Z,2,3", False),
        ("1,Ada,2021-07-27T16:02:08Z,2,3\n", False),
        ("1,Ada,2021-07-27T16:02:08Z,2", False),
        ('1,"unclosed,2021-07-27T16:02:08Z,2,3', False),
    ],
)
def test_screen_cases(line: str, accepted: bool) -> None:
    screen = SCREENS["hired_employees"]
    assert screen is not None
    assert (screen.fullmatch(line) is not None) is accepted


# Files: lines of fields near the boundaries, CSV-quoted or not, with CRLF, blank lines, and a
# U+FEFF at the start (the split takes a file's byte order mark off: one that reaches a chunk is
# data, to both paths).
def _file_lines(table: Table) -> st.SearchStrategy[bytes]:
    line = st.tuples(
        fields_for(table),
        st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, None]),
        st.sampled_from(["\n", "\r\n"]),
    ).map(lambda t: (",".join(t[0]) if t[1] is None else as_record(t[0], t[1])) + t[2])
    return (
        st.tuples(st.booleans(), st.lists(st.one_of(line, st.just("\n")), max_size=30))
        .map(lambda t: ("\ufeff" if t[0] else "") + "".join(t[1]))
        .map(str.encode)
    )


def reference_judgement(table: Table, data: bytes) -> tuple[bytes, bytes, int, int]:
    """Every record through the schema path, as validation worked before the fast path."""
    checker = CHECKERS[table.name]
    clean, rejected = io.StringIO(), io.StringIO()
    rows = valid = 0
    for record in iter_records(io.BytesIO(data)):
        verdict = checker.check_record(record)
        if verdict is None:
            continue
        rows += 1
        if verdict.values is None:
            entry = {"row": verdict.line, "raw": verdict.raw, "errors": list(verdict.errors)}
            rejected.write(json.dumps(entry, ensure_ascii=False) + "\n")
            continue
        valid += 1
        clean.write(clean_row(table.columns, verdict.values, verdict.line))
    return clean.getvalue().encode(), rejected.getvalue().encode(), rows, valid


@pytest.mark.parametrize("name", sorted(TABLES))
@settings(max_examples=examples(150), deadline=None)
@given(data=st.data(), chunk_rows=st.integers(min_value=1, max_value=12))
def test_judge_chunk_writes_what_the_schema_path_writes(
    name: str, data: st.DataObject, chunk_rows: int
) -> None:
    table = TABLES[name]
    body = data.draw(_file_lines(table))
    judged = [
        judge_chunk(name, chunk.data)
        for chunk in iter_chunks(io.BytesIO(body), chunk_rows, 1 << 20, read_bytes=64)
    ]
    got = (
        b"".join(j.clean for j in judged),
        b"".join(j.rejected for j in judged),
        sum(j.rows_in for j in judged),
        sum(j.rows_valid for j in judged),
    )
    assert got == reference_judgement(table, body)
    assert all(j.rows_in == j.rows_valid + j.rows_rejected for j in judged)


def _table(*items: dict[str, Any], **row: Any) -> Table:
    schema = {"type": "array", "prefixItems": list(items), "x-primary-key": "a", **row}
    columns = tuple(_column(item) for item in items)
    return Table("custom", 1, schema, columns, "a")


# The keywords it knows, with other values: a smaller range from 0, shorter text, no pattern.
CUSTOM = _table(
    {"title": "a", "type": "integer", "minimum": 0, "maximum": 5000},
    {"title": "b", "type": "string", "maxLength": 3},
    {"title": "c", "type": "string", "pattern": UTC_PATTERN, "format": "date-time"},
    minItems=3,
    maxItems=3,
)


@settings(max_examples=examples(500), deadline=None)
@given(
    st.tuples(
        st.integers(min_value=-1, max_value=6000).map(str),
        st.one_of(st.text(alphabet='AZaz ,"', max_size=5), st.just("")),
        timestamp_text,
    ),
    st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_screen_compiled_from_other_values_agrees_with_the_schema(
    fields: tuple[str, str, str], quoting: int
) -> None:
    screen = compile_row_pattern(CUSTOM)
    assert screen is not None
    text = as_record(list(fields), quoting)
    verdict = RowChecker(CUSTOM).check_record(Record(2, text.encode(), len(text.encode())))
    assert verdict is not None
    if screen.fullmatch(text):
        assert verdict.values is not None
        assert clean_row(CUSTOM.columns, verdict.values, 2) == f"{text},2\n"
    elif verdict.values is not None and quoting == csv.QUOTE_MINIMAL:
        # Left to the schema though valid: 0, 4-digit values, text that would need quotes.
        a, b, _ = fields
        assert a == "0" or len(a) == 4 or '"' in b or b != b.strip() or not b.strip()


@pytest.mark.parametrize(
    "table",
    [
        _table({"title": "a", "type": "integer", "multipleOf": 2}),
        _table({"title": "a", "type": "integer", "minimum": 5}),
        _table({"title": "a", "type": "integer", "minimum": 1, "maximum": 9}),
        _table({"title": "a", "type": "string", "enum": ["x"]}),
        _table({"title": "a", "type": "string", "pattern": "^[A-Z]"}),
        _table({"title": "a", "type": "string", "minLength": 2}),
        _table({"title": "a", "type": "string", "pattern": "^[0-9]{4}", "format": "date-time"}),
        _table({"title": "a", "type": "integer"}, uniqueItems=True),
        _table({"title": "a", "type": "integer"}, minItems=2),
        _table({"title": "a", "type": "string", "not": {"pattern": "[0-9]"}}),
        _table(
            {"title": "a", "type": "string", "not": {"pattern": CONTROL_PATTERN, "maxLength": 2}}
        ),
        _table({"title": "a", "type": "integer", "not": {"pattern": CONTROL_PATTERN}}),
    ],
)
def test_screen_is_not_compiled_for_keywords_it_does_not_know(table: Table) -> None:
    assert compile_row_pattern(table) is None
    assert row_pattern_text(table) is None
