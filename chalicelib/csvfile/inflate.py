"""gzip that can be read from the middle: deflate restart points, and a reader that resumes at one.

A deflate stream can be resumed at the start of any of its blocks, given the bit the block
starts at and the 32 KiB of output before it (its window): the zran technique of zlib's own
examples. Python's ``zlib`` module offers neither the block boundaries (``inflate`` with
``Z_BLOCK``) nor a way to start at a bit (``inflatePrime``), so this module calls the zlib that
Python itself links (``libz.so.1``) through ctypes; nothing goes into the bundle. ``GzipReader``
reads every member of a gzip file (``cat a.gz b.gz`` is one gzip file), checks each member's CRC
and length, and notes restart points as it goes. Which file to read and where to resume is
``pipeline/split_ranges.py``'s business.
"""

from __future__ import annotations

import base64
import collections
import ctypes
import ctypes.util
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.errors import UnreadableFileError

if TYPE_CHECKING:
    from chalicelib.csvfile.boundaries import Source

WINDOW = 32 * 1024
# Restart points are kept at least this far apart in the output: a reader that resumes at one
# decompresses at most about this much (and a block) that it does not need.
SPACING = 256 * 1024
# Points kept behind the reader's output: enough to cover what a buffered consumer (a planner
# reading 8 MiB blocks) still has to take.
KEPT = 128
IN_BYTES = 256 * 1024
OUT_BYTES = 256 * 1024
_Z_OK, _Z_STREAM_END, _Z_BUF_ERROR, _Z_BLOCK = 0, 1, -5, 5
_GZIP_WBITS, _RAW_WBITS = 31, -15


class _ZStream(ctypes.Structure):
    _fields_ = (
        ("next_in", ctypes.c_void_p),
        ("avail_in", ctypes.c_uint),
        ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint),
        ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong),
        ("reserved", ctypes.c_ulong),
    )


def _load() -> Any:
    name = ctypes.util.find_library("z") or "libz.so.1"
    lib = ctypes.CDLL(name)
    stream = ctypes.POINTER(_ZStream)
    lib.zlibVersion.restype = ctypes.c_char_p
    lib.inflateInit2_.argtypes = (stream, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
    lib.inflate.argtypes = (stream, ctypes.c_int)
    lib.inflateEnd.argtypes = (stream,)
    lib.inflatePrime.argtypes = (stream, ctypes.c_int, ctypes.c_int)
    lib.inflateSetDictionary.argtypes = (stream, ctypes.c_char_p, ctypes.c_uint)
    return lib


_LIB = _load()


@dataclass(frozen=True)
class RestartPoint:
    """Where decompression can start again: at byte ``at`` of the compressed file (``bits`` of
    the byte before it still unread, that byte being ``byte``), ``out`` bytes into the output,
    after ``window``; ``crc`` and ``member_out`` are the current member's CRC-32 and length so
    far. ``in_member`` False: a member starts at ``at`` (its header is next)."""

    at: int
    bits: int
    byte: int
    out: int
    window: bytes
    crc: int
    member_out: int
    in_member: bool

    @property
    def read_from(self) -> int:
        """The first compressed byte a reader resuming here needs."""
        return self.at - 1 if self.bits else self.at

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "bits": self.bits,
            "byte": self.byte,
            "out": self.out,
            "window": base64.b64encode(self.window).decode(),
            "crc": self.crc,
            "member_out": self.member_out,
            "in_member": self.in_member,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RestartPoint:
        return cls(**{**data, "window": base64.b64decode(data["window"])})


START = RestartPoint(0, 0, 0, 0, b"", 0, 0, in_member=False)


class GzipReader:
    """The decompressed bytes of a gzip file, read from ``point`` on; ``source`` holds the
    compressed bytes from ``point.read_from`` on.

    Raises (on read) UnreadableFileError when the data is corrupt or ends early.
    """

    def __init__(self, source: Source, point: RestartPoint = START) -> None:
        self._source = source
        self._stream = _ZStream()
        self._in = b""  # kept alive while zlib reads it
        self._in_at = point.read_from  # the compressed offset of self._in's first byte
        self._out_buffer = ctypes.create_string_buffer(OUT_BYTES)
        self._out = point.out
        self._tail = point.window[-WINDOW:]
        self._crc, self._member_out = point.crc, point.member_out
        self._in_member = point.in_member
        self._raw = point.in_member  # inside a member, without its header: raw deflate
        self._points: collections.deque[RestartPoint] = collections.deque(maxlen=KEPT)
        self._pending = b""
        self._eof = False
        self._open = False
        if point.in_member:
            self._init(_RAW_WBITS)
            self._fill()
            if point.bits:
                if not self._in:
                    raise UnreadableFileError("the gzip data ends early: the file is truncated")
                self._point_at_input(1, len(self._in) - 1)
                prime = self._in[0] >> (8 - point.bits)
                self._check(_LIB.inflatePrime(ctypes.byref(self._stream), point.bits, prime))
            if point.window:
                window = point.window[-WINDOW:]
                dictionary = _LIB.inflateSetDictionary(
                    ctypes.byref(self._stream), window, len(window)
                )
                self._check(dictionary)
        self._points.append(point)

    @property
    def out(self) -> int:
        """How many bytes of output there are before the next one ``read`` returns."""
        return self._out - len(self._pending)

    def restart_point(self, out: int) -> RestartPoint:
        """The latest restart point noted at or before output offset ``out``.

        Raises:
            ValueError: none is kept that far back.
        """
        for point in reversed(self._points):
            if point.out <= out:
                return point
        raise ValueError(f"no restart point kept at or before output byte {out}")

    def read(self, size: int | None = -1, /) -> bytes:
        while not self._pending and not self._eof:
            self._pending = self._inflate()
        if size is None or size < 0:
            parts = [self._pending]
            while not self._eof:
                parts.append(self._inflate())
            self._pending = b""
            return b"".join(parts)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def _init(self, wbits: int) -> None:
        used = self._consumed_in
        if self._open:
            _LIB.inflateEnd(ctypes.byref(self._stream))
        self._stream = _ZStream()
        version = _LIB.zlibVersion()
        self._check(
            _LIB.inflateInit2_(ctypes.byref(self._stream), wbits, version, ctypes.sizeof(_ZStream))
        )
        self._open = True
        if self._in:  # input already read carries on in the new stream
            self._point_at_input(used, len(self._in) - used)

    @property
    def _consumed_in(self) -> int:
        if not self._in:
            return 0
        base = ctypes.cast(ctypes.c_char_p(self._in), ctypes.c_void_p).value or 0
        return int((self._stream.next_in or base) - base) if self._open else 0

    def _point_at_input(self, start: int, length: int) -> None:
        base = ctypes.cast(ctypes.c_char_p(self._in), ctypes.c_void_p).value or 0
        self._stream.next_in = base + start
        self._stream.avail_in = length

    def _fill(self) -> bytes:
        """Give zlib the next piece of input after what it has not used; the piece (b"" at the
        end of the file)."""
        left = self._in[self._consumed_in :] if self._in else b""
        self._in_at += len(self._in) - len(left)
        more = self._source.read(IN_BYTES)
        self._in = left + more
        self._point_at_input(0, len(self._in))
        return more

    def _check(self, code: int) -> None:
        if code not in (_Z_OK, _Z_STREAM_END):
            message = self._stream.msg.decode(errors="replace") if self._stream.msg else code
            raise UnreadableFileError(f"the gzip data is corrupt ({message})")

    def _inflate(self) -> bytes:
        """The next output (maybe empty); sets ``_eof`` at the end of the file."""
        if not self._in_member:
            return self._next_member()
        if self._stream.avail_in == 0 and not self._fill():
            raise UnreadableFileError("the gzip data ends early: the file is truncated")
        address = ctypes.addressof(self._out_buffer)
        self._stream.next_out, self._stream.avail_out = address, OUT_BYTES
        code = _LIB.inflate(ctypes.byref(self._stream), _Z_BLOCK)
        if code == _Z_BUF_ERROR:
            code = _Z_OK  # no progress possible until more input comes
        self._check(code)
        made = OUT_BYTES - self._stream.avail_out
        out = ctypes.string_at(address, made)
        self._out += made
        self._crc = zlib.crc32(out, self._crc)
        self._member_out += made
        self._tail = (self._tail + out)[-WINDOW:] if made < WINDOW else out[-WINDOW:]
        if code == _Z_STREAM_END:
            self._end_member()
        elif self._stream.data_type & 128 and not self._stream.data_type & 64:
            self._note_point()
        return out

    def _note_point(self) -> None:
        if self._out - self._points[-1].out < SPACING:
            return
        used = self._consumed_in
        bits = self._stream.data_type & 7
        byte = self._in[used - 1] if bits else 0
        point = RestartPoint(
            self._in_at + used,
            bits,
            byte,
            self._out,
            self._tail,
            self._crc,
            self._member_out,
            in_member=True,
        )
        self._points.append(point)

    def _end_member(self) -> None:
        """A member's deflate data ended: check its trailer (zlib did, unless resumed raw)."""
        if self._raw:
            while self._stream.avail_in < 8 and self._fill():
                pass
            used = self._consumed_in
            trailer = self._in[used : used + 8]
            if len(trailer) < 8:
                raise UnreadableFileError("the gzip data ends early: the file is truncated")
            crc, size = int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:], "little")
            if crc != self._crc or size != self._member_out % 2**32:
                raise UnreadableFileError("the gzip data is corrupt (incorrect data check)")
            self._point_at_input(used + 8, len(self._in) - used - 8)
            self._raw = False
        self._in_member = False
        self._crc, self._member_out = 0, 0
        self._points.append(
            RestartPoint(
                self._in_at + self._consumed_in, 0, 0, self._out, b"", 0, 0, in_member=False
            )
        )

    def _next_member(self) -> bytes:
        """Start the next member, or end the file if nothing follows the last one."""
        if self._stream.avail_in == 0 and not self._fill():
            self._eof = True
            return b""
        self._init(_GZIP_WBITS)
        self._in_member = True
        return b""

    def close(self) -> None:
        """Free zlib's state (a reader of one chunk stops before the file's end)."""
        if getattr(self, "_open", False):
            _LIB.inflateEnd(ctypes.byref(self._stream))
            self._open = False

    def __del__(self) -> None:
        self.close()
