"""Quoting for SQL text: identifiers, and the literals COPY and UNLOAD cannot take as parameters.

Identifiers go through ``ident()``, which refuses anything outside ``[A-Za-z0-9_]``. Values are
always passed as ``?`` parameters, except in Redshift COPY/UNLOAD, which take none: their S3
locations and role ARNs are checked against a strict pattern before they are quoted.
"""

from __future__ import annotations

import re
from typing import Literal

from chalicelib.errors import UnsafeIdentifierError

Dialect = Literal["duckdb", "redshift"]


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,126}\Z")


# Characters that can neither end nor escape a string literal: bucket names, our key layout, and
# the characters IAM allows in role names.
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9!_.*()/=+-]*$")


_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")


def ident(name: str) -> str:
    """Return ``name`` quoted as an identifier.

    Raises:
        UnsafeIdentifierError: ``name`` has characters outside ``[A-Za-z0-9_]``.
    """
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise UnsafeIdentifierError(f"unsafe SQL identifier {name!r}")
    return f'"{name}"'


def string_literal(text: str) -> str:
    """``text`` as a Redshift string literal.

    Redshift treats a backslash inside a literal as an escape, so backslashes are doubled as
    well as quotes (what its QUOTE_LITERAL function does).

    >>> string_literal("it's")
    "'it''s'"
    """
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def s3_literal(uri: str) -> str:
    """``uri`` as a string literal for COPY/UNLOAD.

    Raises:
        UnsafeIdentifierError: not a plain ``s3://bucket/key`` location.
    """
    if not isinstance(uri, str) or not _S3_URI.fullmatch(uri):
        raise UnsafeIdentifierError(f"unsafe S3 location {uri!r}")
    return f"'{uri}'"


def role_literal(arn: str) -> str:
    """An IAM role ARN as a string literal for ``IAM_ROLE``.

    Raises:
        UnsafeIdentifierError: not an IAM role ARN.
    """
    if not isinstance(arn, str) or not _ROLE_ARN.fullmatch(arn):
        raise UnsafeIdentifierError(f"not an IAM role ARN: {arn!r}")
    return f"'{arn}'"
