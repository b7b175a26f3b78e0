"""Row validation: the reasons users see, and the fast screen agreeing with the JSON Schema."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from chalicelib.csvfile.boundaries import MAX_RECORD_BYTES, Record
from chalicelib.csvfile.fields import coerce
from chalicelib.csvfile.rowcheck import (
    FORMATS,
    RowChecker,
    _by_rule_order,
    _first_error,
    _rule_order,
)
from chalicelib.tables import TABLES, Column
from tests.properties import examples

HIRES = RowChecker(TABLES["hired_employees"])
DEPARTMENTS = RowChecker(TABLES["departments"])


def _check(checker: RowChecker, data: bytes, **kwargs: Any) -> tuple[Any, tuple[str, ...]]:
    verdict = checker.check_record(Record(1, data, len(data)), **kwargs)
    assert verdict is not None
    return verdict.values, verdict.errors


@pytest.mark.parametrize(
    ("line", "errors"),
    [
        (b"1,Ada Lovelace,2021-07-27T16:02:08Z,2,96", ()),
        (b'1,"Lovelace, Ada",2021-07-27T16:02:08Z,2,96', ()),
        (b"2,Ty Hofer,2021-05-30T05:43:46Z,8,", ("job_id: missing value",)),
        (b",Ty Hofer,2021-05-30T05:43:46Z,8,1", ("id: missing value",)),
        (b"1,Ada,2021-07-27T16:02:08Z,2", ("record: expected 5 fields, got 4",)),
        (b"1,Ada,2021-07-27T16:02:08Z,2,3,4", ("record: expected 5 fields, got 6",)),
        (b"1.5,Ada,2021-07-27T16:02:08Z,2,3", ("id: '1.5' is not an integer",)),
        (b"+7,Ada,2021-07-27T16:02:08Z,2,3", ("id: '+7' is not an integer",)),
        (b"007,Ada,2021-07-27T16:02:08Z,2,3", ("id: '007' is not an integer",)),
        (b"1e3,Ada,2021-07-27T16:02:08Z,2,3", ("id: '1e3' is not an integer",)),
        (b" 7,Ada,2021-07-27T16:02:08Z,2,3", ("id: ' 7' is not an integer",)),
        (b"0,Ada,2021-07-27T16:02:08Z,2,3", ("id: 0 is out of range [1, 9223372036854775807]",)),
        (
            b"9223372036854775808,Ada,2021-07-27T16:02:08Z,2,3",
            ("id: 9223372036854775808 is out of range [1, 9223372036854775807]",),
        ),
        (b"1,   ,2021-07-27T16:02:08Z,2,3", ("name: '   ' is blank",)),
        (
            b"1,Ada,2021-02-30T10:00:00Z,2,3",
            ("datetime: '2021-02-30T10:00:00Z' is not a real date and time",),
        ),
        (
            b"1,Ada,2021-07-27 16:02:08,2,3",
            ("datetime: '2021-07-27 16:02:08' is not a UTC timestamp like 2021-07-27T16:02:08Z",),
        ),
        (
            b"1,Ada,2021-07-27T16:02:08+01:00,2,3",
            (
                "datetime: '2021-07-27T16:02:08+01:00' is not a UTC timestamp like "
                "2021-07-27T16:02:08Z",
            ),
        ),
        (
            b"id,name,datetime,department_id,job_id",
            (
                "id: 'id' is not an integer",
                "datetime: 'datetime' is not a UTC timestamp like 2021-07-27T16:02:08Z",
                "department_id: 'department_id' is not an integer",
                "job_id: 'job_id' is not an integer",
            ),
        ),
        (
            b"1,\xff\xfe,2021-07-27T16:02:08Z,2,3",
            ("record: not valid UTF-8 (byte 0xff at position 2)",),
        ),
        (
            b"1," + b"x" * 257 + b",2021-07-27T16:02:08Z,2,3",
            ("name: longer than 256 characters (257)",),
        ),
        (
            b"1" * 5000 + b",Ada,2021-07-27T16:02:08Z,2,3",
            (
                "id: '1111111111111111111111111111111111111111111111111... (5000 characters) "
                "is out of range [1, 9223372036854775807]",
            ),
        ),
        (
            b'1,"Ada"x,2021-07-27T16:02:08Z,2,3',
            (
                "record: field 2: text after its closing quote; inside a quoted field write a "
                'quote as ""',
            ),
        ),
        (
            b'1,"Ada,2021-07-27T16:02:08Z,2,3',
            (
                "record: field 2: its opening quote is never closed, so everything after it to "
                "the end of the file was read as this one field",
            ),
        ),
        (
            b"1,A\x00da,2021-07-27T16:02:08Z,2,3",
            (
                "record: holds a NUL byte (0x00) at character 3; save the file as UTF-8 text "
                "without NUL characters",
            ),
        ),
        (
            b"1,Ada,2021-07-27T16:02:08Z,2,3\r2,Bob,2021-07-27T16:02:08Z,2,3",
            (
                "record: expected 5 fields, got 9 (a lone CR is not a line break: end lines "
                "with LF or CRLF)",
                "job_id: '3\\r2' is not an integer",
            ),
        ),
        (
            b'1,Ada,"2021-07-27T16:02:08Z\n",2,3',
            (
                "datetime: '2021-07-27T16:02:08Z\\n' is not a UTC timestamp like "
                "2021-07-27T16:02:08Z",
            ),
        ),
        # Control characters (C0, DEL, C1) are refused by code point; a line break in a quoted
        # field (LF or CRLF) is not one of them, but a lone CR, a tab or a form feed is.
        (
            b'1,"A""d\ra",2021-07-27T16:02:08Z,2,3',
            ("name: 'A\"d\\ra' holds the control character U+000D",),
        ),
        (
            b'1,A"d\ra,2021-07-27T16:02:08Z,2,3',
            ("name: 'A\"d\\ra' holds the control character U+000D",),
        ),
        (
            b"1,Ada\x1b[31m,2021-07-27T16:02:08Z,2,3",
            ("name: 'Ada\\x1b[31m' holds the control character U+001B",),
        ),
        (
            b"1,\x07Ada,2021-07-27T16:02:08Z,2,3",
            ("name: '\\x07Ada' holds the control character U+0007",),
        ),
        (
            b"1,Ada\tLovelace,2021-07-27T16:02:08Z,2,3",
            ("name: 'Ada\\tLovelace' holds the control character U+0009",),
        ),
        (
            b"1,Ada\x7f,2021-07-27T16:02:08Z,2,3",
            ("name: 'Ada\\x7f' holds the control character U+007F",),
        ),
        (
            "1,Ada\x85,2021-07-27T16:02:08Z,2,3".encode(),
            ("name: 'Ada\\x85' holds the control character U+0085",),
        ),
        (
            "1,Ada\x9b1m,2021-07-27T16:02:08Z,2,3".encode(),
            ("name: 'Ada\\x9b1m' holds the control character U+009B",),
        ),
        (b'1,"Ada\r\nLovelace",2021-07-27T16:02:08Z,2,3', ()),
        (b'1,"Ada\nLovelace",2021-07-27T16:02:08Z,2,3', ()),
        ("1,Ada\xa0Lovelace\u2028,2021-07-27T16:02:08Z,2,3".encode(), ()),
    ],
)
def test_check_record_gives_each_reason(line: bytes, errors: tuple[str, ...]) -> None:
    values, got = _check(HIRES, line)
    assert got == errors
    assert (values is None) == bool(errors)


def test_check_record_takes_a_bom_that_reaches_it_as_data() -> None:
    # The split takes a file's byte order mark off; a U+FEFF left in a record is a character.
    line = "\ufeff1,Sales".encode()
    assert _check(DEPARTMENTS, line)[1] == ("id: '\\ufeff1' is not an integer",)


def test_check_record_skips_blank_lines_and_rejects_cut_records() -> None:
    assert DEPARTMENTS.check_record(Record(4, b"", 0)) is None
    cut = Record(9, b"1," + b"y" * 10, MAX_RECORD_BYTES + 5)
    verdict = DEPARTMENTS.check_record(cut)
    assert verdict is not None and verdict.errors == (
        f"record: longer than {MAX_RECORD_BYTES} bytes",
    )


def test_check_record_explains_a_cut_record_that_opened_a_quote() -> None:
    cut = Record(2, b'2,"Legal\n3,Ops\n' + b"4,x\n" * 20, MAX_RECORD_BYTES + 9)
    verdict = DEPARTMENTS.check_record(cut)
    assert verdict is not None and verdict.errors == (
        f"record: longer than {MAX_RECORD_BYTES} bytes; a quote in it is never closed, so the "
        "lines after it were read as part of this row",
    )


def test_check_record_keeps_surrounding_spaces_in_text() -> None:
    assert _check(DEPARTMENTS, b"3, Sales ") == ((3, " Sales "), ())


# Values drawn near every boundary the schema draws: types, ranges, lengths, date shapes.
text_value = st.one_of(
    st.none(),
    st.just(""),
    st.just(" "),
    st.text(max_size=4),
    st.text(min_size=255, max_size=258),
    st.text(alphabet="a \t\r\n\x00\x1b\x7f\x85\x9f\xa0", max_size=4),
    st.integers(),
)
int_value = st.one_of(
    st.none(),
    st.integers(min_value=-3, max_value=3),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 1),
    st.sampled_from(["7", "x", "1.5", ""]),
)
date_value = st.one_of(
    st.none(),
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format,
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 24),
        st.integers(0, 60),
        st.integers(0, 60),
    ),
    st.sampled_from(["2021-07-27 16:02:08", "2021-07-27T16:02:08+00:00", "x", ""]),
)
hire_values = st.lists(st.just(0), min_size=3, max_size=7).flatmap(
    lambda shape: st.tuples(
        *(
            [int_value, text_value, date_value, int_value, int_value, int_value, text_value][i]
            for i in range(len(shape))
        )
    )
)


@settings(max_examples=examples(1500), deadline=None)
@given(hire_values)
def test_screen_accepts_exactly_what_the_schema_accepts(values: tuple[Any, ...]) -> None:
    schema_valid = HIRES.validator.is_valid(list(values))
    assert HIRES.screen(values) == schema_valid
    assert (HIRES.check_values(values) == []) == schema_valid


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.text(alphabet="0123456789-+. ex", max_size=22), min_size=5, max_size=5))
def test_coerce_turns_only_canonical_integers_into_ints(fields: list[str]) -> None:
    values = coerce(TABLES["hired_employees"], fields)
    for column, text, value in zip(TABLES["hired_employees"].columns, fields, values, strict=True):
        if column.kind == "integer" and isinstance(value, int):
            assert str(value) == text
        elif text == "":
            assert value is None
        else:
            assert value == text


def _error_keys(errors: list[tuple[int, Any]]) -> list[tuple[int, str, str]]:
    return sorted((index, str(e.validator), repr(e.instance)) for index, e in errors)


@settings(max_examples=examples(400), deadline=None)
@given(hire_values)
def test_errors_checked_column_by_column_are_the_whole_schemas_errors(
    values: tuple[Any, ...],
) -> None:
    whole = [
        (int(e.path[0]) if e.path else -1, e) for e in HIRES.validator.iter_errors(list(values))
    ]
    assert _error_keys(HIRES.errors(values)) == _error_keys(whole)


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(hire_values, min_size=1, max_size=4))
def test_remembered_reasons_are_the_reasons_from_the_whole_error_list(
    rows: list[tuple[Any, ...]],
) -> None:
    # One checker sees the rows twice (the second time from what it remembered); each answer
    # must be what sorting the full error list gives.
    checker = RowChecker(TABLES["hired_employees"])
    for values in [*rows, *rows]:
        want = checker._reasons_from(checker.errors(values), values)  # noqa: SLF001 - reference
        assert checker.reasons(values) == want


any_value = st.one_of(text_value, int_value, date_value, st.floats(), st.booleans())


@pytest.mark.parametrize(
    "column",
    [c for t in sorted(TABLES) for c in TABLES[t].columns],
    ids=lambda c: c.name,
)
@settings(max_examples=examples(300), deadline=None)
@given(value=any_value)
def test_first_error_in_rule_order_is_the_first_of_every_error_sorted(
    column: Column, value: Any
) -> None:
    whole = Draft202012Validator(column.schema, format_checker=FORMATS)
    errors = sorted(whole.iter_errors(value), key=_rule_order)
    first = _first_error(_by_rule_order(column.schema), value)
    if not errors:
        assert first is None
        return
    assert first is not None
    assert (first.validator, first.validator_value, first.message) == (
        errors[0].validator,
        errors[0].validator_value,
        errors[0].message,
    )


def test_rule_order_is_one_validator_for_keywords_that_may_depend_on_each_other() -> None:
    schema = {"type": "string", "if": {"maxLength": 1}, "then": {"pattern": "a"}}
    assert len(_by_rule_order(schema)) == 1
    assert len(_by_rule_order({"type": "string", "maxLength": 2, "pattern": "a"})) == 3
