"""Showing text that came from a file on a terminal, as text.

A department name, a rejected row or an error message quoting a file can hold control
characters: an escape sequence would recolour, move or retitle the terminal, a bidi override
would reorder what is read. Everything such is shown as a visible escape (``\\x1b``,
``\\u202e``), and rich never reads it as markup.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 and C1 controls, DEL, and the Unicode controls that reorder text (bidi embeddings,
# overrides and isolates, the marks).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# The same, minus what JSON already escapes (C0): what json.dumps(ensure_ascii=False) leaves.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(value: object) -> str:
    """``value`` as a string whose control characters are visible escapes."""
    return _UNSAFE.sub(_escape, str(value))


def cell(value: object, style: str = "") -> Text:
    """``value`` for a rich table or line: escaped, and never read as markup."""
    return Text(shown(value), style=style)


def json_text(text: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) with the controls JSON leaves raw
    written as ``\\u`` escapes: the same JSON value, safe on a terminal."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
