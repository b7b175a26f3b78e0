"""PostgreSQL wire protocol (v3) framing, and a minimal client for the engine's own work.

Owns reading and writing protocol messages on a socket, building the few messages the proxy
sends itself (ErrorResponse, CommandComplete, ReadyForQuery, ...), and ``SideConnection``: a
superuser session over the cluster's Unix socket that records load errors and hands out query
ids outside the client's transaction. It knows nothing about Redshift statements.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

PROTOCOL_3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


class WireError(Exception):
    """The peer closed the connection or sent something that is not protocol v3."""


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes from ``sock``.

    Raises:
        WireError: the peer closed the connection first.
    """
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise WireError("connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    """One typed message: (type byte, payload)."""
    head = recv_exact(sock, 5)
    kind, length = head[:1], struct.unpack("!I", head[1:])[0]
    if length < 4:
        raise WireError(f"bad message length {length}")
    return kind, recv_exact(sock, length - 4)


def read_startup(sock: socket.socket) -> bytes:
    """One untyped startup-phase packet (length included in the first four bytes)."""
    length = struct.unpack("!I", recv_exact(sock, 4))[0]
    if not 8 <= length <= 10_000:
        raise WireError(f"bad startup packet length {length}")
    return recv_exact(sock, length - 4)


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def split_cstr(data: bytes, start: int = 0) -> tuple[str, int]:
    """The NUL-terminated string at ``start`` and the offset after it."""
    end = data.index(b"\0", start)
    return data[start:end].decode(), end + 1


def error_fields(payload: bytes) -> dict[str, str]:
    """The fields (S, C, M, D, W, ...) of an ErrorResponse or NoticeResponse payload."""
    fields, pos = {}, 0
    while pos < len(payload) and payload[pos] != 0:
        code = chr(payload[pos])
        value, pos = split_cstr(payload, pos + 1)
        fields[code] = value
    return fields


def error_response(sqlstate: str, text: str, detail: str = "") -> bytes:
    body = b"SERROR\0VERROR\0" + b"C" + cstr(sqlstate) + b"M" + cstr(text)
    if detail:
        body += b"D" + cstr(detail)
    return message(b"E", body + b"\0")


def command_complete(tag: str) -> bytes:
    return message(b"C", cstr(tag))


def ready_for_query(status: bytes) -> bytes:
    return message(b"Z", status)


def startup_packet(params: dict[str, str]) -> bytes:
    body = struct.pack("!I", PROTOCOL_3)
    for key, value in params.items():
        body += cstr(key) + cstr(value)
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def parse_startup(payload: bytes) -> tuple[int, dict[str, str]]:
    """(protocol or request code, parameters) of a startup packet payload."""
    code = struct.unpack("!I", payload[:4])[0]
    params: dict[str, str] = {}
    pos = 4
    while pos < len(payload) and payload[pos] != 0:
        key, pos = split_cstr(payload, pos)
        value, pos = split_cstr(payload, pos)
        params[key] = value
    return code, params


class ServerError(Exception):
    """An ErrorResponse the side connection received."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(f"{fields.get('M', '?')} [{fields.get('C', '')}]")
        self.fields = fields


@dataclass
class SideConnection:
    """A superuser session over the cluster's Unix socket (trust auth; the socket's folder is
    readable by the cluster's owner only). Statements take ``$n`` text parameters."""

    socket_path: str
    database: str
    user: str = "postgres"
    _sock: socket.socket | None = field(default=None, repr=False)

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self.socket_path)
        sock.sendall(startup_packet({"user": self.user, "database": self.database}))
        while True:
            kind, payload = read_message(sock)
            if kind == b"R" and struct.unpack("!I", payload[:4])[0] != 0:
                sock.close()
                raise WireError("the side connection expects trust authentication")
            if kind == b"E":
                sock.close()
                raise ServerError(error_fields(payload))
            if kind == b"Z":
                return sock

    def query(self, sql: str, params: Sequence[str | None] = ()) -> list[tuple[str | None, ...]]:
        """Run one statement (extended protocol, text values); return its rows as text.

        Raises:
            ServerError: the server refused the statement.
        """
        if self._sock is None:
            self._sock = self._connect()
        bind = b"\0\0" + struct.pack("!hh", 0, len(params))
        for value in params:
            if value is None:
                bind += struct.pack("!i", -1)
            else:
                raw = value.encode()
                bind += struct.pack("!i", len(raw)) + raw
        bind += struct.pack("!h", 0)
        self._sock.sendall(
            message(b"P", b"\0" + cstr(sql) + struct.pack("!h", 0))
            + message(b"B", bind)
            + message(b"E", b"\0" + struct.pack("!I", 0))
            + message(b"S")
        )
        rows: list[tuple[str | None, ...]] = []
        error: dict[str, str] | None = None
        while True:
            kind, payload = read_message(self._sock)
            if kind == b"D":
                rows.append(_data_row(payload))
            elif kind == b"E":
                error = error_fields(payload)
            elif kind == b"Z":
                break
        if error is not None:
            raise ServerError(error)
        return rows

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.sendall(message(b"X"))
            self._sock.close()
            self._sock = None


def _data_row(payload: bytes) -> tuple[str | None, ...]:
    count = struct.unpack("!h", payload[:2])[0]
    pos = 2
    values: list[str | None] = []
    for _ in range(count):
        size = struct.unpack("!i", payload[pos : pos + 4])[0]
        pos += 4
        if size < 0:
            values.append(None)
        else:
            values.append(payload[pos : pos + size].decode())
            pos += size
    return tuple(values)


def data_row_values(payload: bytes) -> tuple[str | None, ...]:
    """The text values of a DataRow payload."""
    return _data_row(payload)
