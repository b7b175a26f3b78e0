"""A loopback TCP proxy that lets the unpatched ``redshift_connector`` talk to PostgreSQL.

Owns, per client connection: refusing SSL (the client is told not to use it), dropping the
startup parameters only Redshift knows (``client_protocol_version``, ``driver_version``, ...),
reporting ``server_version`` as Redshift does (8.0.2; the driver cannot parse Debian's suffix),
and reading the client's messages up to each Sync: statements the engine emulates (COPY from
S3, UNLOAD) are answered by the proxy after running them on the client's own backend session;
CREATE TABLE loses its layout clauses; everything else goes to PostgreSQL as written.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from devstack.redshift_local import wire
from devstack.redshift_local.backend import Backend
from devstack.redshift_local.copyload import EmulationError, run_copy
from devstack.redshift_local.statements import Command, CopyCommand, classify
from devstack.redshift_local.tokens import StatementError
from devstack.redshift_local.unload import run_unload

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
REDSHIFT_VERSION = "8.0.2"
# What PostgreSQL accepts in a startup packet; the driver's other parameters are Redshift's own.
STARTUP_KEEP = ("user", "database", "application_name", "client_encoding", "options")
_EXTENDED = (b"P", b"B", b"D", b"E", b"C", b"H")


@dataclass
class EngineContext:
    """What every proxied session needs: the backend address, S3 and emulation sessions."""

    pg_port: int
    socket_path: str
    database: str
    s3: Any
    # An optional wait before each statement matching ``delay_match`` (a regular expression,
    # searched case-insensitively; empty matches every statement): the backend sleeps, so the
    # session's statement_timeout cancels a wait that outlasts it, as it would a long statement.
    delay_s: float = 0.0
    delay_match: str = ""


@dataclass
class _Session:
    client: socket.socket
    context: EngineContext
    backend: Backend | None = None
    user: str = ""
    statements: dict[str, Command] = field(default_factory=dict)
    portals: dict[str, Command] = field(default_factory=dict)
    _side: wire.SideConnection | None = None

    def side(self) -> wire.SideConnection:
        if self._side is None:
            self._side = wire.SideConnection(self.context.socket_path, self.context.database)
        return self._side

    def run(self) -> None:
        try:
            if self._startup():
                self._loop()
        except (wire.WireError, OSError):
            pass  # either end went away; the server rolls back what the session had open
        finally:
            if self._side is not None:
                self._side.close()
            for sock in (self.client, self.backend.sock if self.backend else None):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    def _startup(self) -> bool:
        while True:
            payload = wire.read_startup(self.client)
            code, params = wire.parse_startup(payload)
            if code in (wire.SSL_REQUEST, wire.GSSENC_REQUEST):
                self.client.sendall(b"N")
                continue
            break
        upstream = socket.create_connection((HOST, self.context.pg_port))
        if code == wire.CANCEL_REQUEST:
            upstream.sendall(struct.pack("!I", len(payload) + 4) + payload)
            upstream.close()
            return False
        self.backend = Backend(upstream)
        self.user = params.get("user", "")
        kept = {k: v for k, v in params.items() if k in STARTUP_KEEP}
        upstream.sendall(wire.startup_packet(kept))
        while True:
            kind, data = wire.read_message(upstream)
            if kind == b"S":
                data = _rewrite_status(data)
            elif kind == b"K":
                self.backend.pid = struct.unpack("!I", data[:4])[0]
            self.client.sendall(wire.message(kind, data))
            if kind == b"R" and struct.unpack("!I", data[:4])[0] in (3, 5):
                answer = wire.read_message(self.client)
                upstream.sendall(wire.message(*answer))
            elif kind == b"E":
                return False
            elif kind == b"Z":
                self.backend.status = data[:1]
                return True

    def _loop(self) -> None:
        assert self.backend is not None
        batch: list[tuple[bytes, bytes]] = []
        while True:
            kind, data = wire.read_message(self.client)
            if kind == b"X":
                with contextlib.suppress(OSError):
                    self.backend.sock.sendall(wire.message(b"X"))
                return
            if kind == b"Q":
                self._simple(data.rstrip(b"\0").decode())
            elif kind == b"S":
                self._extended(batch)
                batch = []
            elif kind in _EXTENDED:
                if kind != b"H":  # the driver flushes after every message and reads after Sync
                    batch.append((kind, data))
            else:
                self._fail(wire.error_response("0A000", f"redshift_local: message {kind!r}"))

    def _fail(self, error: bytes) -> None:
        assert self.backend is not None
        self.client.sendall(error + wire.ready_for_query(self.backend.status))

    def _relay(self) -> None:
        """Pass the backend's replies to the client up to and including ReadyForQuery."""
        assert self.backend is not None
        out = bytearray()
        while True:
            kind, data = wire.read_message(self.backend.sock)
            if kind == b"S":
                data = _rewrite_status(data)
            out += wire.message(kind, data)
            if kind == b"Z":
                self.backend.status = data[:1]
                self.client.sendall(out)
                return
            if len(out) > 1 << 16:
                self.client.sendall(out)
                out.clear()

    def _simple(self, sql: str) -> None:
        assert self.backend is not None
        try:
            text, command = classify(sql)
        except StatementError as exc:
            self._fail(wire.error_response(exc.sqlstate, str(exc)))
            return
        if not self._delay([text]):
            return
        if command is None:
            self.backend.sock.sendall(wire.message(b"Q", wire.cstr(text)))
            self._relay()
            return
        reply = self._execute(command)
        self.client.sendall(reply + wire.ready_for_query(self.backend.status))

    def _execute(self, command: Command) -> bytes:
        assert self.backend is not None
        try:
            if isinstance(command, CopyCommand):
                tag = run_copy(self.backend, self.side(), self.context.s3, command, self.user)
            else:
                tag = run_unload(self.backend, self.context.s3, command)
        except EmulationError as exc:
            return wire.error_response(exc.sqlstate, exc.text, exc.detail)
        except Exception as exc:  # an emulation bug: tell the client, keep the session usable
            logger.exception("redshift_local.emulation_failed")
            return wire.error_response("XX000", f"redshift_local: {type(exc).__name__}: {exc}")
        return wire.command_complete(tag)

    def _extended(self, batch: list[tuple[bytes, bytes]]) -> None:
        assert self.backend is not None
        try:
            plan = [self._inspect(kind, data) for kind, data in batch]
        except StatementError as exc:
            self._fail(wire.error_response(exc.sqlstate, str(exc)))
            return
        texts = [
            wire.split_cstr(data, wire.split_cstr(data)[1])[0]
            for kind, data in batch
            if kind == b"P"
        ]
        if not self._delay(texts):
            return
        emulated = [item for item in plan if item[2]]
        if not emulated:
            out = b"".join(wire.message(kind, data) for kind, data, _ in plan)
            self.backend.sock.sendall(out + wire.message(b"S"))
            self._relay()
            return
        if len(emulated) != len(plan):
            self._fail(wire.error_response("0A000", "redshift_local: mixed emulated batch"))
            return
        self._answer(batch)

    def _delay(self, texts: list[str]) -> bool:
        """Wait as configured before these statements; False if the wait itself failed (a
        statement timeout, an aborted transaction), the client then having its error."""
        assert self.backend is not None
        seconds, match = self.context.delay_s, self.context.delay_match
        if seconds <= 0 or not any(re.search(match, t, re.IGNORECASE) for t in texts):
            return True
        slept = self.backend.query(f"SELECT pg_sleep({float(seconds)})")
        if slept.error is None:
            return True
        error = slept.error
        self._fail(wire.error_response(error.get("C", "XX000"), error.get("M", "")))
        return False

    def _inspect(self, kind: bytes, data: bytes) -> tuple[bytes, bytes, bool]:
        """(kind, payload to forward, whether the proxy answers it itself)."""
        if kind == b"P":
            name, pos = wire.split_cstr(data)
            query, rest = wire.split_cstr(data, pos)
            text, command = classify(query)
            self.statements.pop(name, None)
            if command is not None:
                self.statements[name] = command
                return kind, data, True
            return kind, wire.cstr(name) + wire.cstr(text) + data[rest:], False
        if kind == b"B":
            portal, pos = wire.split_cstr(data)
            statement, _ = wire.split_cstr(data, pos)
            self.portals.pop(portal, None)
            if statement in self.statements:
                self.portals[portal] = self.statements[statement]
                return kind, data, True
            return kind, data, False
        if kind in (b"D", b"C"):
            name, _ = wire.split_cstr(data, 1)
            known = self.statements if data[:1] == b"S" else self.portals
            return kind, data, name in known
        if kind == b"E":
            portal, _ = wire.split_cstr(data)
            return kind, data, portal in self.portals
        return kind, data, False

    def _answer(self, batch: list[tuple[bytes, bytes]]) -> None:
        """Reply to a batch that only concerns emulated statements, as PostgreSQL would."""
        assert self.backend is not None
        out = bytearray()
        for kind, data in batch:
            if kind == b"P":
                out += wire.message(b"1")
            elif kind == b"B":
                out += wire.message(b"2")
            elif kind == b"D":
                if data[:1] == b"S":
                    out += wire.message(b"t", b"\0\0")  # no parameters
                out += wire.message(b"n")
            elif kind == b"C":
                name, _ = wire.split_cstr(data, 1)
                (self.statements if data[:1] == b"S" else self.portals).pop(name, None)
                out += wire.message(b"3")
            elif kind == b"E":
                portal, _ = wire.split_cstr(data)
                reply = self._execute(self.portals[portal])
                out += reply
                if reply[:1] == b"E":
                    break  # PostgreSQL skips the rest of the batch after an error
        self.client.sendall(bytes(out) + wire.ready_for_query(self.backend.status))


def _rewrite_status(data: bytes) -> bytes:
    name, _ = wire.split_cstr(data)
    if name == "server_version":
        return wire.cstr(name) + wire.cstr(REDSHIFT_VERSION)
    return data


class _Handler(socketserver.BaseRequestHandler):
    server: Proxy

    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _Session(self.request, self.server.context).run()


class Proxy(socketserver.ThreadingTCPServer):
    """Listens on 127.0.0.1 (a free port unless given); one thread per client connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, context: EngineContext, port: int = 0) -> None:
        super().__init__((HOST, port), _Handler)
        self.context = context
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> Proxy:
        self._thread = threading.Thread(
            target=self.serve_forever, name="redshift-local-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
