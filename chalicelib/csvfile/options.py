"""How to read one uploaded file: header line, text encoding and field delimiter.

Owns the three per-upload options, their allowed values and how they are given: as fields of a
JSON body or a form, or as S3 object metadata (``aws s3 cp --metadata encoding=cp1252``). It
does not read files (``decoding.py`` does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from chalicelib.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Mapping

Header = Literal["auto", "yes", "no"]
Encoding = Literal["utf-8", "utf-16", "cp1252", "latin-1"]
Delimiter = Literal[",", ";", "\t", "|"]
HEADERS: tuple[Header, ...] = ("auto", "yes", "no")
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "utf-16", "cp1252", "latin-1")
DELIMITERS: tuple[Delimiter, ...] = (",", ";", "\t", "|")
OPTION_NAMES = ("header", "encoding", "delimiter")
# Other spellings people use for the same thing. A tab is also taken as the two characters
# "\t" or the word "tab": an HTTP header (S3 metadata) cannot hold a bare tab, it is trimmed.
_ENCODING_ALIASES: dict[str, Encoding] = {
    "utf8": "utf-8",
    "utf-16": "utf-16",
    "utf16": "utf-16",
    "windows-1252": "cp1252",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
}
_DELIMITER_ALIASES: dict[str, Delimiter] = {"\\t": "\t", "tab": "\t"}


@dataclass(frozen=True)
class FileOptions:
    """How a file is read; the defaults are a plain headerless UTF-8 CSV."""

    header: Header = "auto"
    encoding: Encoding = "utf-8"
    delimiter: Delimiter = ","

    @property
    def plain(self) -> bool:
        """True if the bytes need no transcoding and no delimiter rewriting."""
        return self.encoding == "utf-8" and self.delimiter == ","

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def _allowed(name: str, values: tuple[str, ...]) -> str:
    shown = ", ".join(repr(v) if v != "\t" else "'\\t' (tab)" for v in values)
    return f"{name} must be one of {shown}"


def parse_options(given: Mapping[str, object], where: str = "") -> FileOptions:
    """The options among ``given`` (other keys are ignored); missing ones take their default.

    Raises:
        InvalidRequestError: a value is not one of the allowed ones.
    """
    header, encoding, delimiter = given.get("header"), given.get("encoding"), given.get("delimiter")
    options = FileOptions()
    if header is not None:
        value = header.strip().lower() if isinstance(header, str) else header
        if value not in HEADERS:
            raise InvalidRequestError(
                f"{where}{_allowed('header', HEADERS)}, got {header!r}", parameter="header"
            )
        options = FileOptions(value, options.encoding, options.delimiter)
    if encoding is not None:
        value = encoding.strip().lower() if isinstance(encoding, str) else encoding
        value = _ENCODING_ALIASES.get(value, value) if isinstance(value, str) else value
        if value not in ENCODINGS:
            raise InvalidRequestError(
                f"{where}{_allowed('encoding', ENCODINGS)}, got {encoding!r}",
                parameter="encoding",
            )
        options = FileOptions(options.header, value, options.delimiter)
    if delimiter is not None:
        value = delimiter if delimiter in DELIMITERS else None
        if isinstance(delimiter, str) and value is None:
            value = _DELIMITER_ALIASES.get(delimiter.strip().lower())
        if value is None:
            raise InvalidRequestError(
                f"{where}{_allowed('delimiter', DELIMITERS)}, got {delimiter!r}",
                parameter="delimiter",
            )
        options = FileOptions(options.header, options.encoding, value)
    return options


def from_json(data: Mapping[str, object] | None) -> FileOptions:
    """Options as an upload's state stores them (always valid: they were checked when given)."""
    return parse_options(data or {})


def from_metadata(metadata: Mapping[str, str]) -> FileOptions:
    """Options given as S3 object metadata (``x-amz-meta-encoding`` and so on).

    Raises:
        InvalidRequestError: a value is not one of the allowed ones.
    """
    given = {k.lower(): v for k, v in metadata.items() if k.lower() in OPTION_NAMES}
    return parse_options(given, "object metadata: ")
