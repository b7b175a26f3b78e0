"""Recognises the Redshift-only statements the local engine emulates, and strips table layout.

Owns the grammar of the parts of ``COPY ... FROM 's3://...'`` and ``UNLOAD`` that the
engine emulates; an option it does not emulate is refused, never ignored. ``CREATE TABLE`` loses
its DISTSTYLE / DISTKEY / SORTKEY / ENCODE clauses. Any other statement is left as it was written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from devstack.redshift_local import rules
from devstack.redshift_local.tokens import StatementError, Token, tokens

_LAYOUT = {"DISTSTYLE", "DISTKEY", "SORTKEY", "COMPOUND", "INTERLEAVED", "ENCODE", "BACKUP"}


def _meaningful(sql: str) -> list[Token]:
    return [t for t in tokens(sql) if t.kind not in ("ws", "comment")]


@dataclass(frozen=True)
class CopyCommand:
    """``COPY table [(columns)] FROM 's3://...' ...`` as far as the engine emulates it."""

    table: str  # as written (quoted or not), ready to put back in SQL
    columns: tuple[str, ...]  # as written
    source: str
    manifest: bool = False
    file_format: str = "CSV"
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UnloadCommand:
    """``UNLOAD ('query') TO 's3://prefix' ...`` as far as the engine emulates it."""

    query: str
    prefix: str
    manifest: bool = False
    verbose: bool = False
    allow_overwrite: bool = False
    max_file_bytes: int = 6200 * 1024 * 1024


Command = CopyCommand | UnloadCommand


class _Reader:
    def __init__(self, toks: list[Token]) -> None:
        self.toks, self.pos = toks, 0

    def peek(self) -> Token | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def next(self, what: str) -> Token:
        tok = self.peek()
        if tok is None:
            raise StatementError(f"syntax error: expected {what} at end of statement", "42601")
        self.pos += 1
        return tok

    def word(self, *allowed: str) -> str:
        tok = self.next(" or ".join(allowed))
        if tok.upper not in allowed:
            raise StatementError(f"syntax error at or near {tok.text!r}", "42601")
        return tok.upper

    def accept(self, *words: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok.upper in words:
            self.pos += 1
            return tok.upper
        return None

    def string(self, what: str) -> str:
        tok = self.next(what)
        if tok.kind != "string":
            raise StatementError(f"syntax error: {what} must be a string literal", "42601")
        return tok.value

    def raw_string(self, what: str) -> str:
        tok = self.next(what)
        if tok.kind != "string":
            raise StatementError(f"syntax error: {what} must be a string literal", "42601")
        return tok.raw

    def punct(self, char: str) -> None:
        tok = self.next(repr(char))
        if tok.text != char:
            raise StatementError(f"syntax error at or near {tok.text!r}", "42601")

    def done(self) -> bool:
        tok = self.peek()
        return tok is None or (tok.text == ";" and self.pos == len(self.toks) - 1)


def classify(sql: str) -> tuple[str, Command | None]:
    """(statement text to send to PostgreSQL, or the command the proxy must emulate).

    Raises:
        StatementError: a COPY/UNLOAD the engine cannot emulate.
    """
    head = re.match(r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*([A-Za-z]+)", sql, re.DOTALL)
    first = head.group(1).upper() if head else ""
    try:
        if first == "COPY" and re.search(r"FROM\s+'s3://", sql, re.IGNORECASE):
            return sql, parse_copy(_meaningful(sql))
        if first == "UNLOAD":
            return sql, parse_unload(_meaningful(sql))
        if first == "MERGE":
            rules.check_merge(_meaningful(sql))
        if first == "CREATE" and re.search(r"\b(DISTSTYLE|DISTKEY|SORTKEY|ENCODE)\b", sql, re.I):
            rules.check_layout(_meaningful(sql))
            return strip_layout(sql), None
    except rules.RuleError as exc:
        raise StatementError(str(exc), exc.sqlstate) from None
    return sql, None


def strip_layout(sql: str) -> str:
    """``sql`` without Redshift's table layout clauses (PostgreSQL has no such thing)."""
    toks = tokens(sql)
    out: list[Token] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.upper in _LAYOUT:
            i += 1
            # The clause's argument: a word (DISTSTYLE ALL, ENCODE az64), or a parenthesised list.
            while i < len(toks) and toks[i].kind in ("ws", "comment"):
                i += 1
            if i < len(toks) and toks[i].text == "(":
                while i < len(toks) and toks[i].text != ")":
                    i += 1
                i += 1
            elif i < len(toks) and tok.upper in ("DISTSTYLE", "ENCODE", "BACKUP"):
                i += 1
            continue
        out.append(tok)
        i += 1
    return re.sub(r"[ \t]+$", "", "".join(t.text for t in out), flags=re.M).rstrip()


def _identifier(reader: _Reader) -> str:
    tok = reader.next("a table name")
    if tok.kind not in ("word", "qident"):
        raise StatementError(f"syntax error at or near {tok.text!r}", "42601")
    text = tok.text
    while (nxt := reader.peek()) is not None and nxt.text == ".":
        reader.pos += 1
        text += "." + reader.next("a name").text
    return text


def parse_copy(toks: list[Token]) -> CopyCommand:
    reader = _Reader(toks)
    reader.word("COPY")
    table = _identifier(reader)
    columns: list[str] = []
    if (tok := reader.peek()) is not None and tok.text == "(":
        reader.pos += 1
        while True:
            columns.append(_identifier(reader))
            sep = reader.next("',' or ')'")
            if sep.text == ")":
                break
            if sep.text != ",":
                raise StatementError(f"syntax error at or near {sep.text!r}", "42601")
    reader.word("FROM")
    source = reader.string("the S3 location")
    state: dict[str, str] = {"FORMAT": "CSV"}
    while not reader.done():
        _copy_option(reader, state)
    manifest = state.pop("MANIFEST", "") == "1"
    file_format = state.pop("FORMAT")
    options = state
    if "IAM_ROLE" not in options:
        raise StatementError("COPY from S3 needs IAM_ROLE (or credentials)", "42601")
    if file_format == "PARQUET":
        _columnar_options(columns, options)
    return CopyCommand(table, tuple(columns), source, manifest, file_format, options)


# COPY from Parquet takes only these parameters (FROM and MANIFEST aside); REGION is refused
# with this very message (AWS: "COPY from columnar data formats", copy-usage_notes-copy-from-
# columnar.html). ACCEPTINVCHARS, FILLRECORD, EXPLICIT_IDS and CREDENTIALS are not emulated.
_COLUMNAR_OPTIONS = {"IAM_ROLE", "STATUPDATE"}


def _columnar_options(columns: list[str], options: dict[str, str]) -> None:
    if "REGION" in options:
        raise StatementError("REGION argument is not supported for PARQUET based COPY", "XX000")
    refused = sorted(options.keys() - _COLUMNAR_OPTIONS)
    if refused:
        raise StatementError(
            f"{refused[0]} argument is not supported for PARQUET based COPY", "XX000"
        )
    if columns:
        raise StatementError("Column list is not supported for PARQUET based COPY", "XX000")


def _copy_option(reader: _Reader, state: dict[str, str]) -> None:
    """Read one COPY option into ``state`` (its value, or "1" for a flag)."""
    option = reader.next("a COPY option")
    name = option.upper
    if name in ("IAM_ROLE", "REGION", "TIMEFORMAT", "DATEFORMAT", "QUOTE", "DELIMITER"):
        reader.accept("AS")
        state[name] = reader.string(name)
    elif name == "NULL":
        reader.accept("AS")
        state[name] = reader.raw_string("NULL AS")
    elif name == "MANIFEST":
        state[name] = "1"
    elif name == "FORMAT":
        reader.accept("AS")
        state[name] = reader.word("CSV", "PARQUET")
    elif name in ("CSV", "PARQUET"):
        state["FORMAT"] = name
    elif name in ("COMPUPDATE", "STATUPDATE"):
        state[name] = reader.accept("ON", "OFF", "TRUE", "FALSE", "PRESET") or "ON"
    elif name == "IGNOREHEADER":
        reader.accept("AS")
        state[name] = reader.next("a number").text
    else:
        raise StatementError(f"redshift_local does not emulate the COPY option {option.text}")


def parse_unload(toks: list[Token]) -> UnloadCommand:
    reader = _Reader(toks)
    reader.word("UNLOAD")
    reader.punct("(")
    query = reader.string("the query")
    rules.check_unload_query(_meaningful(query))
    reader.punct(")")
    reader.word("TO")
    prefix = reader.string("the S3 prefix")
    manifest = verbose = overwrite = parquet = role = False
    max_bytes = 6200 * 1024 * 1024
    while not reader.done():
        option = reader.next("an UNLOAD option")
        name = option.upper
        if name == "IAM_ROLE":
            reader.string("IAM_ROLE")
            role = True
        elif name == "FORMAT":
            reader.accept("AS")
            parquet = reader.word("PARQUET") == "PARQUET"
        elif name == "PARQUET":
            parquet = True
        elif name == "MANIFEST":
            manifest = True
            verbose = reader.accept("VERBOSE") is not None
        elif name == "ALLOWOVERWRITE":
            overwrite = True
        elif name == "MAXFILESIZE":
            reader.accept("AS")
            size = float(reader.next("a size").text)
            unit = reader.accept("MB", "GB") or "MB"
            max_bytes = int(size * 1024 * 1024 * (1024 if unit == "GB" else 1))
            if not 5 * 1024 * 1024 <= max_bytes <= 6.2 * 1024**3:
                raise StatementError("MAXFILESIZE must be between 5 MB and 6.2 GB", "22023")
        else:
            raise StatementError(f"redshift_local does not emulate the UNLOAD option {option.text}")
    if not role:
        raise StatementError("UNLOAD needs IAM_ROLE (or credentials)", "42601")
    if not parquet:
        raise StatementError("redshift_local emulates UNLOAD ... FORMAT AS PARQUET only")
    return UnloadCommand(query, prefix, manifest, verbose, overwrite, max_bytes)
