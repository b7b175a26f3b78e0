"""Byte streams that undo what was done to a CSV file: compression and a text encoding.

Each filter wraps a byte source (anything with ``read(n)``) and is one itself, so they stack:
a gzip file in Windows-1252 becomes ``Transcoded(Decompressed(body), "cp1252")``. Each holds at
most about one block of input and one of output, whatever the file's size. Which filters a file
needs is decided elsewhere (``pipeline/rawfile.py``); rewriting delimiters is ``delimiters.py``.
"""

from __future__ import annotations

import bz2
import codecs
import zlib
from typing import TYPE_CHECKING, Any

from chalicelib.errors import UnreadableFileError

if TYPE_CHECKING:
    from chalicelib.csvfile.boundaries import Source
    from chalicelib.csvfile.sniff import Compression

# Input read from the wrapped source per step, and output made per step at most.
IN_BYTES = 256 * 1024
OUT_BYTES = 1024 * 1024
_ZSTD_PIECE = 512
# Python's codec names for the encodings an upload may name.
CODECS = {"utf-8": "utf-8", "utf-16": "utf-16", "cp1252": "cp1252", "latin-1": "latin-1"}
# A range of a UTF-16 file has no BOM of its own: its chunk names the byte order's codec.
CODECS.update({"utf-16-le": "utf-16-le", "utf-16-be": "utf-16-be"})
_ESCAPE = "ingest-undecodable"


def _undecodable(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: each byte the encoding does not define becomes a byte that is never
    valid UTF-8 where it lands (itself if it is a continuation byte, else 0xff), so that its
    row, and only its row, is rejected as not valid text instead of the whole file failing or the
    byte being guessed. ``surrogateescape`` turns the stand-ins back into bytes."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(0xDC00 | (b if 0x80 <= b <= 0xBF else 0xFF)) for b in bad), exc.end


codecs.register_error(_ESCAPE, _undecodable)


class Filter:
    """A byte source made from another; subclasses say how in ``_more``."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._out = b""
        self._done = False

    def _more(self) -> bytes | None:
        """The next output bytes (maybe none yet), or None once there will be no more."""
        raise NotImplementedError

    def read(self, size: int | None = -1, /) -> bytes:
        while not self._out and not self._done:
            more = self._more()
            if more is None:
                self._done = True
            else:
                self._out = more
        if size is None or size < 0:
            parts = [self._out]
            while not self._done:
                more = self._more()
                if more is None:
                    self._done = True
                else:
                    parts.append(more)
            self._out = b""
            return b"".join(parts)
        data, self._out = self._out[:size], self._out[size:]
        return data


class _Gzip(Filter):
    """gzip, every member of a multi-member file (``cat a.gz b.gz`` is one valid gzip file)."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self._decompressor = zlib.decompressobj(wbits=47)
        self._pending = b""
        self._in_member = False

    def _more(self) -> bytes | None:
        if not self._pending:
            self._pending = self._source.read(IN_BYTES)
            if not self._pending:
                if self._in_member:
                    raise UnreadableFileError("the gzip data ends early: the file is truncated")
                return None
        try:
            out = self._decompressor.decompress(self._pending, OUT_BYTES)
        except zlib.error as exc:
            raise UnreadableFileError(f"the gzip data is corrupt ({exc})") from None
        self._in_member = True
        if self._decompressor.eof:
            # Everything after the member's end is in unused_data. After a call that hit the
            # output limit, Python 3.11's zlib leaves the same bytes in unconsumed_tail as well:
            # taking both would read the next member twice.
            self._pending = self._decompressor.unused_data
            self._decompressor = zlib.decompressobj(wbits=47)
            self._in_member = False
        else:
            self._pending = self._decompressor.unconsumed_tail
        return out


class _Bzip2(Filter):
    """bzip2, every stream of a multi-stream file (as ``pbzip2`` writes)."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self._decompressor = bz2.BZ2Decompressor()
        self._pending = b""
        self._in_stream = False

    def _more(self) -> bytes | None:
        data = b""
        if self._decompressor.needs_input:
            data, self._pending = self._pending or self._source.read(IN_BYTES), b""
            if not data:
                if self._in_stream:
                    raise UnreadableFileError("the bzip2 data ends early: the file is truncated")
                return None
        try:
            out = self._decompressor.decompress(data, OUT_BYTES)
        except OSError as exc:
            raise UnreadableFileError(f"the bzip2 data is corrupt ({exc})") from None
        self._in_stream = True
        if self._decompressor.eof:
            self._pending = self._decompressor.unused_data
            self._decompressor = bz2.BZ2Decompressor()
            self._in_stream = False
        return out


class _Zstd(Filter):
    """Zstandard, every frame of the file.

    zstandard's decompressor takes no output limit, and one zstd block of a few bytes can stand
    for 128 KiB, so input goes in small pieces: a piece makes at most ``_ZSTD_PIECE`` / 4 such
    blocks (16 MiB), and a truncated last frame is noticed (its ``eof`` never comes).
    """

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        import zstandard  # only a zstd file needs it

        self._zstd: Any = zstandard
        self._decompressor: Any = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._in_frame = False

    def _more(self) -> bytes | None:
        parts: list[bytes] = []
        made = 0
        while made < OUT_BYTES // 4:  # a few hundred pieces per call, not one
            if not self._pending:
                self._pending = self._source.read(IN_BYTES)
                if not self._pending:
                    if self._in_frame:
                        raise UnreadableFileError("the zstd data ends early: the file is truncated")
                    return b"".join(parts) if parts else None
            piece, self._pending = self._pending[:_ZSTD_PIECE], self._pending[_ZSTD_PIECE:]
            try:
                out: bytes = self._decompressor.decompress(piece)
            except self._zstd.ZstdError as exc:
                raise UnreadableFileError(f"the zstd data is corrupt ({exc})") from None
            self._in_frame = True
            if self._decompressor.eof:
                self._pending = self._decompressor.unused_data + self._pending
                self._decompressor = self._zstd.ZstdDecompressor().decompressobj()
                self._in_frame = False
            parts.append(out)
            made += len(out)
        return b"".join(parts)


_DECOMPRESSORS: dict[Compression, type[Filter]] = {
    "gzip": _Gzip,
    "bzip2": _Bzip2,
    "zstd": _Zstd,
}


def decompressed(source: Source, compression: Compression) -> Filter:
    """``source``'s bytes decompressed as they are read.

    The filter raises UnreadableFileError when the data turns out corrupt or truncated.
    """
    return _DECOMPRESSORS[compression](source)


UTF8_BOM = b"\xef\xbb\xbf"


class WithoutBom(Filter):
    """UTF-8 text without the byte order mark it may start with.

    The mark says how the file is written, it is not text: it is taken off before records are
    looked for, so it can hide neither a quote that opens the first field nor a blank file.
    """

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self._first = True

    def _more(self) -> bytes | None:
        data = self._source.read(IN_BYTES)
        if self._first:
            self._first = False
            while data and len(data) < len(UTF8_BOM) and UTF8_BOM.startswith(data):
                more = self._source.read(IN_BYTES)  # a source may hand out a byte at a time
                if not more:
                    break
                data += more
            return data.removeprefix(UTF8_BOM)
        return data or None


class Transcoded(Filter):
    """Text in ``encoding`` re-encoded as UTF-8, as it is read.

    Line breaks stay where they were, so line numbers do not change. A byte the encoding does
    not define becomes a byte that is not UTF-8, so its row is rejected as not valid text. A
    UTF-16 byte order mark is consumed (the codec reads the byte order from it).
    """

    def __init__(self, source: Source, encoding: str) -> None:
        super().__init__(source)
        self._decoder = codecs.getincrementaldecoder(CODECS[encoding])(errors=_ESCAPE)

    def _more(self) -> bytes | None:
        data = self._source.read(IN_BYTES)
        text = self._decoder.decode(data, final=not data)
        if not data and not text:
            return None
        return text.encode("utf-8", "surrogateescape")
