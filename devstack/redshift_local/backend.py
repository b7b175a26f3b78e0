"""The proxy's handle on one PostgreSQL backend session, for statements it runs itself.

Owns running a simple query (or a ``COPY ... FROM STDIN`` fed by the proxy) on the client's own
backend session, inside whatever transaction the client has open, and reading the result without
passing it to the client. It tracks the transaction status every ReadyForQuery reports.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devstack.redshift_local import wire

if TYPE_CHECKING:
    import socket
    from collections.abc import Iterable


@dataclass
class Result:
    """What a statement the proxy ran returned."""

    columns: list[tuple[str, int]] = field(default_factory=list)  # (name, type oid)
    rows: list[tuple[str | None, ...]] = field(default_factory=list)
    tag: str = ""
    error: dict[str, str] | None = None


@dataclass
class Backend:
    """A backend session the proxy shares with its client."""

    sock: socket.socket
    status: bytes = b"I"  # I idle, T in a transaction, E in a failed transaction
    pid: int = 0

    def query(self, sql: str) -> Result:
        """Run one simple query; rows come back as text."""
        self.sock.sendall(wire.message(b"Q", wire.cstr(sql)))
        return self._collect()

    def copy_in(self, sql: str, chunks: Iterable[bytes]) -> Result:
        """Run ``COPY ... FROM STDIN`` and feed it ``chunks``. If reading the chunks raises
        ``CopyAborted`` the COPY fails with that message (so the transaction is aborted)."""
        self.sock.sendall(wire.message(b"Q", wire.cstr(sql)))
        kind, payload = self._next()
        if kind != b"G":
            return self._collect(first=(kind, payload))
        try:
            for chunk in chunks:
                self.sock.sendall(wire.message(b"d", chunk))
        except CopyAborted as exc:
            self.sock.sendall(wire.message(b"f", wire.cstr(str(exc))))
        else:
            self.sock.sendall(wire.message(b"c"))
        return self._collect()

    def _next(self) -> tuple[bytes, bytes]:
        while True:
            kind, payload = wire.read_message(self.sock)
            if kind not in (b"N", b"S", b"A"):  # notices, settings, notifications: not ours
                return kind, payload

    def _collect(self, first: tuple[bytes, bytes] | None = None) -> Result:
        result = Result()
        pending = first
        while True:
            kind, payload = pending or self._next()
            pending = None
            if kind == b"T":
                result.columns = _row_description(payload)
            elif kind == b"D":
                result.rows.append(wire.data_row_values(payload))
            elif kind == b"C":
                result.tag = payload.rstrip(b"\0").decode()
            elif kind == b"E":
                result.error = wire.error_fields(payload)
            elif kind == b"Z":
                self.status = payload[:1]
                return result


class CopyAborted(Exception):
    """Raised while producing COPY data: the proxy gives up on the COPY with this reason."""


def _row_description(payload: bytes) -> list[tuple[str, int]]:
    count = struct.unpack("!h", payload[:2])[0]
    pos, columns = 2, []
    for _ in range(count):
        name, pos = wire.split_cstr(payload, pos)
        oid = struct.unpack("!I", payload[pos + 6 : pos + 10])[0]
        columns.append((name, oid))
        pos += 18
    return columns


def literal(text: str) -> str:
    """``text`` as a PostgreSQL standard string literal (only for names and numbers we made)."""
    return "'" + text.replace("'", "''") + "'"
