"""The fast path agrees with the JSON Schema: same verdicts, same values, and (through the schema
path) the same reasons, on rows built near every boundary the schemas draw."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.records import Record, iter_records
from chalicelib.rows import FieldSyntaxError, RowChecker, parse_fields, to_csv_value
from chalicelib.runs import iter_chunks
from chalicelib.screen import compile_screen
from chalicelib.tables import TABLES, Table, _column
from chalicelib.validate import judge_chunk

CHECKERS = {name: RowChecker(table) for name, table in TABLES.items()}
SCREENS = {name: compile_screen(table) for name, table in TABLES.items()}
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


def cleaned(table: Table, values: tuple[Any, ...]) -> str:
    """The cleaned cells the schema path writes for a valid row (without the line number)."""
    out = io.StringIO()
    cells = [to_csv_value(c, v) for c, v in zip(table.columns, values, strict=True)]
    csv.writer(out, lineterminator="", quoting=csv.QUOTE_NONNUMERIC).writerow(cells)
    return out.getvalue()


def test_not_blank_agrees_with_re_on_every_code_point() -> None:
    # The fast path reads the schema's pattern "\S" as "not str.isspace()".
    not_blank = re.compile(r"\S")
    assert all(
        (not_blank.search(c) is None) == c.isspace() for c in map(chr, range(sys.maxunicode + 1))
    )


@pytest.mark.parametrize("name", sorted(TABLES))
@settings(max_examples=400, deadline=None)
@given(data=st.data(), quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, None]))
def test_screen_accepts_exactly_the_rows_the_schema_accepts(
    name: str, data: st.DataObject, quoting: int | None
) -> None:
    table = TABLES[name]
    fields = data.draw(fields_for(table))
    text = ",".join(fields) if quoting is None else as_record(fields, quoting)
    verdict = CHECKERS[name].check_record(Record(2, text.encode(), len(text.encode())))
    screen = SCREENS[name]
    assert screen is not None
    cells = screen(text)
    if verdict is None:  # a blank line is not a row
        assert cells is None
        return
    if cells is not None:
        assert verdict.values is not None, verdict.errors
        assert cells == cleaned(table, verdict.values)
    else:
        # What it leaves to the schema is invalid, or an integer too long to judge without
        # arithmetic (19 digits, near the maximum).
        try:
            parsed = parse_fields(text)
        except (csv.Error, FieldSyntaxError):
            parsed = []
        too_long = any(
            len(f) >= 19 for c, f in zip(table.columns, parsed, strict=False) if c.kind == "integer"
        )
        assert verdict.values is None or too_long


@pytest.mark.parametrize(
    ("line", "accepted"),
    [
        ("1,Ada Lovelace,2021-07-27T16:02:08Z,2,96", True),
        ('1,"Lovelace, Ada",2021-07-27T16:02:08Z,2,96', True),
        ('1,"Say ""hi""",2021-07-27T16:02:08Z,2,96', True),
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
        ("1,Ada,2021-07-27T16:02:08Z,2", False),
        ('1,"unclosed,2021-07-27T16:02:08Z,2,3', False),
    ],
)
def test_screen_cases(line: str, accepted: bool) -> None:
    screen = SCREENS["hired_employees"]
    assert screen is not None
    assert (screen(line) is not None) is accepted


# Files: lines of fields near the boundaries, CSV-quoted or not, with CRLF, blank lines, a BOM.
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
    writer = csv.writer(clean, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    rows = valid = 0
    for record in iter_records(io.BytesIO(data)):
        verdict = checker.check_record(record, strip_bom=record.line == 1)
        if verdict is None:
            continue
        rows += 1
        if verdict.values is None:
            entry = {"row": verdict.line, "raw": verdict.raw, "errors": list(verdict.errors)}
            rejected.write(json.dumps(entry, ensure_ascii=False) + "\n")
            continue
        valid += 1
        cells = [to_csv_value(c, v) for c, v in zip(table.columns, verdict.values, strict=True)]
        writer.writerow([*cells, verdict.line])
    return clean.getvalue().encode(), rejected.getvalue().encode(), rows, valid


@pytest.mark.parametrize("name", sorted(TABLES))
@settings(max_examples=150, deadline=None)
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


CUSTOM = _table(
    {"title": "a", "type": "integer", "minimum": 5, "maximum": 5000},
    {"title": "b", "type": "string", "maxLength": 3, "pattern": "^[A-Z]"},
    {
        "title": "c",
        "type": "string",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T",
        "format": "date-time",
    },
    minItems=3,
    maxItems=3,
)


@settings(max_examples=500, deadline=None)
@given(
    st.tuples(
        st.integers(min_value=-1, max_value=700).map(str),
        st.one_of(st.text(alphabet='AZaz "', max_size=4), st.just("")),
        timestamp_text,
    )
)
def test_screen_compiled_from_other_keywords_agrees_with_the_schema(
    fields: tuple[str, str, str],
) -> None:
    screen = compile_screen(CUSTOM)
    assert screen is not None
    text = as_record(list(fields), csv.QUOTE_MINIMAL)
    verdict = RowChecker(CUSTOM).check_record(Record(2, text.encode(), len(text.encode())))
    assert verdict is not None
    cells = screen(text)
    if cells is not None:
        assert verdict.values is not None
        assert cells == cleaned(CUSTOM, verdict.values)
    else:
        assert verdict.values is None


@pytest.mark.parametrize(
    "table",
    [
        _table({"title": "a", "type": "integer", "multipleOf": 2}),
        _table({"title": "a", "type": "string", "enum": ["x"]}),
        _table({"title": "a", "type": "integer"}, uniqueItems=True),
        _table({"title": "a", "type": "integer"}, minItems=2),
    ],
)
def test_screen_is_not_compiled_for_keywords_it_does_not_know(table: Table) -> None:
    assert compile_screen(table) is None
