"""Statements PostgreSQL runs but Redshift refuses: the engine refuses them too, before they run.

Owns the checks of statements otherwise passed to PostgreSQL as written: MERGE in Redshift's
one form (a table as source, no target alias, one WHEN MATCHED then one WHEN NOT MATCHED), the
query of an UNLOAD (no LIMIT in its outer SELECT), and a CREATE TABLE's DISTSTYLE / DISTKEY /
SORTKEY against its own columns. Each rule cites the AWS page it follows; docs/redshift-local.md
lists them. It reads SQL text only: the tokenizer is ``statements.py``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.redshift_local.tokens import Token

MERGE_DOC = "https://docs.aws.amazon.com/redshift/latest/dg/r_MERGE.html"
UNLOAD_DOC = "https://docs.aws.amazon.com/redshift/latest/dg/r_UNLOAD.html"
CREATE_TABLE_DOC = "https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_TABLE_NEW.html"
# SORTKEY takes at most 400 columns, INTERLEAVED at most 8 (CREATE TABLE).
MAX_SORTKEY = 400
MAX_INTERLEAVED = 8
_CONSTRAINTS = {"PRIMARY", "UNIQUE", "FOREIGN", "CONSTRAINT", "CHECK", "LIKE", "EXCLUDE"}


class RuleError(Exception):
    """A statement Redshift refuses; ``sqlstate`` as Redshift reports it."""

    def __init__(self, message: str, sqlstate: str = "42601") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _near(tok: Token | None) -> RuleError:
    return RuleError(f'syntax error at or near "{tok.text if tok else "end of input"}"')


def _name(tok: Token) -> str:
    """An identifier as Redshift resolves it: folded to lower case, quoted or not."""
    return tok.value.lower()


def check_merge(toks: list[Token]) -> None:
    """MERGE INTO target USING source [[AS] alias] ON ... WHEN MATCHED THEN {UPDATE | DELETE}
    WHEN NOT MATCHED THEN INSERT ...: "source_table can't be a view or a subquery", and only
    the source takes an alias (r_MERGE.html).

    Raises:
        RuleError: any other shape.
    """
    words = [t.upper for t in toks]
    pos = 2  # MERGE INTO
    if words[:2] != ["MERGE", "INTO"] or len(toks) < 4:
        raise _near(toks[1] if len(toks) > 1 else None)
    pos = _skip_name(toks, pos)
    if pos >= len(toks) or words[pos] != "USING":
        raise _near(toks[pos] if pos < len(toks) else None)  # a target alias, or worse
    pos += 1
    if pos >= len(toks) or toks[pos].kind not in ("word", "qident") or toks[pos].upper == "SELECT":
        raise _near(toks[pos] if pos < len(toks) else None)  # a subquery or VALUES list
    whens = [i for i, w in enumerate(words) if w == "WHEN" and _depth(toks, i) == 0]
    clauses = [" ".join(words[i + 1 : i + 3]) for i in whens]
    if clauses != ["MATCHED THEN", "NOT MATCHED"]:
        raise RuleError(
            "MERGE needs exactly one WHEN MATCHED THEN followed by one WHEN NOT MATCHED THEN "
            f"clause ({MERGE_DOC})"
        )
    if words[whens[1] + 3] != "THEN":
        raise _near(toks[whens[1] + 3])  # WHEN NOT MATCHED AND ...: no extra condition


def _skip_name(toks: list[Token], pos: int) -> int:
    """The position after a possibly qualified name starting at ``pos``."""
    pos += 1
    while pos + 1 < len(toks) and toks[pos].text == ".":
        pos += 2
    return pos


def _depth(toks: list[Token], index: int) -> int:
    depth = 0
    for tok in toks[:index]:
        depth += tok.text == "("
        depth -= tok.text == ")"
    return depth


def check_unload_query(toks: list[Token]) -> None:
    """ "You can use any select statement in the UNLOAD command that Amazon Redshift supports,
    except for a select that uses a LIMIT clause in the outer select" (r_UNLOAD.html).

    Raises:
        RuleError: LIMIT outside every parenthesis of the query.
    """
    for index, tok in enumerate(toks):
        if tok.upper == "LIMIT" and _depth(toks, index) == 0:
            raise RuleError("Limit clause is not supported in the outer select of UNLOAD", "0A000")


def check_layout(toks: list[Token]) -> None:
    """DISTSTYLE / DISTKEY / SORTKEY of a CREATE TABLE as Redshift accepts them: keys name
    columns of the table, one DISTKEY column at most and only with DISTSTYLE KEY (or none),
    SORTKEY with at most 400 columns, INTERLEAVED with at most 8 (r_CREATE_TABLE_NEW.html).

    Raises:
        RuleError: a key naming a missing column, or keys that contradict each other.
    """
    open_at = next((i for i, t in enumerate(toks) if t.text == "("), None)
    if open_at is None:
        return  # CREATE TABLE ... AS: PostgreSQL judges the rest
    columns, column_keys, close_at = _columns(toks, open_at)
    words = [t.upper for t in toks]
    style = next(
        (words[i + 1] for i in range(close_at, len(toks) - 1) if words[i] == "DISTSTYLE"), None
    )
    dist = list(column_keys["DISTKEY"])
    sort = list(column_keys["SORTKEY"])
    interleaved = False
    i = close_at
    while i < len(toks):
        if words[i] in ("DISTKEY", "SORTKEY") and i + 1 < len(toks) and toks[i + 1].text == "(":
            names, i = _name_list(toks, i + 1)
            target = dist if _keyword_before(toks, i) == "DISTKEY" else sort
            target.extend(names)
            interleaved = interleaved or (target is sort and _interleaved(words, i))
        i += 1
    for name in dist + sort:
        if name not in columns:
            raise RuleError(f'column "{name}" named in key does not exist', "42703")
    if len(dist) > 1:
        raise RuleError("a table takes one DISTKEY column at most", "42601")
    if dist and style not in (None, "KEY"):
        raise RuleError(f"DISTKEY cannot be used with DISTSTYLE {style}", "42601")
    if style == "KEY" and not dist:
        raise RuleError("DISTSTYLE KEY needs a DISTKEY column", "42601")
    limit = MAX_INTERLEAVED if interleaved else MAX_SORTKEY
    if len(sort) > limit:
        raise RuleError(f"SORTKEY takes at most {limit} columns", "42601")


def _columns(toks: list[Token], open_at: int) -> tuple[set[str], dict[str, list[str]], int]:
    """The table's column names, the columns marked DISTKEY / SORTKEY inline, and the index
    of the parenthesis that closes the column list."""
    columns: set[str] = set()
    keys: dict[str, list[str]] = {"DISTKEY": [], "SORTKEY": []}
    depth, start = 0, True
    current = ""
    for index in range(open_at, len(toks)):
        tok = toks[index]
        if tok.text == "(":
            depth += 1
            if depth == 1:
                start = True
            continue
        if tok.text == ")":
            depth -= 1
            if depth == 0:
                return columns, keys, index
            continue
        if depth != 1:
            continue
        if tok.text == ",":
            start = True
            continue
        if start:
            start = False
            current = "" if tok.upper in _CONSTRAINTS else _name(tok)
            if current:
                columns.add(current)
        elif tok.upper in keys and current:
            keys[tok.upper].append(current)
    return columns, keys, len(toks)


def _name_list(toks: list[Token], open_at: int) -> tuple[list[str], int]:
    names, index = [], open_at + 1
    while index < len(toks) and toks[index].text != ")":
        if toks[index].text != ",":
            names.append(_name(toks[index]))
        index += 1
    return names, index


def _keyword_before(toks: list[Token], close_at: int) -> str:
    index = close_at
    while index >= 0 and toks[index].text != "(":
        index -= 1
    return toks[index - 1].upper if index > 0 else ""


def _interleaved(words: list[str], close_at: int) -> bool:
    index = close_at
    while index >= 0 and words[index] != "SORTKEY":
        index -= 1
    return index > 0 and words[index - 1] == "INTERLEAVED"
