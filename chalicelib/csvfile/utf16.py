"""UTF-16 read one code unit at a time: how records are found in it without decoding it.

A UTF-16 file's line breaks, quotes and delimiters are code units below 0x80, and every other
character is made of units that are none of them (a surrogate included). ``CodeUnits`` turns the
file into one byte per code unit, the unit itself when it is below 0x100 and 0xFF otherwise, so
``ranges.Planner`` finds the records of a UTF-16 file as it finds those of a one-byte encoding,
and a byte offset in that stream is a code unit: ``raw_offset`` turns it back into the file's.
The records themselves are read from the file (``decoding.Transcoded`` with the byte order's
codec), never from this stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.csvfile.decoding import IN_BYTES, Filter

if TYPE_CHECKING:
    from chalicelib.csvfile.boundaries import Source

BOM_BYTES = 2
# A unit's high byte, read as a mask: 0 keeps the low byte, anything else makes it 0xFF.
_HIGH_TO_MASK = bytes([0] + [0xFF] * 255)


def codec(big_endian: bool) -> str:
    """The codec that reads the units of a file of that byte order, without a BOM."""
    return "utf-16-be" if big_endian else "utf-16-le"


def raw_offset(unit: int, size: int) -> int:
    """The file offset of code unit ``unit`` (counted after the BOM); a file of odd ``size``
    ends in half a unit, which the last unit stands for."""
    return min(BOM_BYTES + 2 * unit, size)


def unit_at_or_after(offset: int) -> int:
    """The first code unit that starts at or after file offset ``offset``."""
    return max(0, -(-(offset - BOM_BYTES) // 2))


class CodeUnits(Filter):
    """One byte per code unit of the UTF-16 ``source`` (which starts on a unit's first byte):
    the unit when it is below 0x100, else 0xFF. A last odd byte counts as one unit (0xFF)."""

    def __init__(self, source: Source, *, big_endian: bool) -> None:
        super().__init__(source)
        self._big_endian = big_endian
        self._carry = b""
        self.head = b""  # the first bytes read, as they are: a first line's text is read there

    def _more(self) -> bytes | None:
        data = self._source.read(IN_BYTES)
        if not self.head:
            self.head = data
        if not data:
            if self._carry:
                self._carry = b""
                return b"\xff"
            return None
        data = self._carry + data
        whole = len(data) - len(data) % 2
        data, self._carry = data[:whole], data[whole:]
        if not data:
            return b""
        high, low = (data[0::2], data[1::2]) if self._big_endian else (data[1::2], data[0::2])
        mask = high.translate(_HIGH_TO_MASK)
        merged = int.from_bytes(low, "big") | int.from_bytes(mask, "big")
        return merged.to_bytes(len(low), "big")
