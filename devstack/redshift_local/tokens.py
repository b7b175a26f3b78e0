"""A small SQL tokenizer for the local engine: strings with Redshift's backslash escapes,
quoted identifiers, comments; and the error of a statement it cannot take.

Kept apart from the statement grammar (``statements.py``) and the refusal rules (``rules.py``),
which both read tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^'\\]|\\.|'')*')
  | (?P<qident>"(?:[^"]|"")*")
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<number>[0-9]+(?:\.[0-9]+)?)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


class StatementError(Exception):
    """A Redshift statement the engine recognises but cannot emulate as written."""

    def __init__(self, message: str, sqlstate: str = "0A000") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass(frozen=True)
class Token:
    kind: str
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""

    @property
    def raw(self) -> str:
        """A string literal's text between its quotes, backslashes kept (COPY reads its own
        escapes in parameters such as NULL AS '\\N' and DELIMITER '\\t')."""
        return self.text[1:-1].replace("''", "'") if self.kind == "string" else self.text

    @property
    def value(self) -> str:
        """A string literal's value, or an identifier's name."""
        if self.kind == "string":
            body = self.text[1:-1]
            return re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", body, flags=re.DOTALL)
        if self.kind == "qident":
            return self.text[1:-1].replace('""', '"')
        return self.text.lower()


def tokens(sql: str) -> list[Token]:
    """Every token of ``sql``, whitespace and comments included (so text can be rebuilt)."""
    found = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "punct"
        found.append(Token(kind, match.group()))
    if "".join(t.text for t in found) != sql:
        raise StatementError("unterminated literal or identifier", "42601")
    return found
