"""The deployed API's own address in the emulator, as API Gateway gives each API a host of its
own (``https://<api id>.execute-api.<region>.amazonaws.com``).

The emulator serves an API either under a host name of that shape, which nothing resolves here,
or under a path prefix (``/_aws/execute-api/<api id>``) the API never sees: the URLs the app
builds from its requests (a form upload's status URL, the console's base) would lose it. This
front listens on 127.0.0.1 with the emulator's certificate and hands every request to the
emulator under that prefix, unchanged otherwise (the client's Host header included), so the app
sees what it sees behind API Gateway. Owns nothing else: no request is answered here.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pathlib import Path

HOST = "127.0.0.1"
# Hop-by-hop headers (RFC 9110, 7.6.1) are the connection's own, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
TIMEOUT_S = 60.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    target: tuple[str, int]
    prefix: str
    context: ssl.SSLContext


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        host, port = self.server.target
        upstream = http.client.HTTPSConnection(
            host, port, timeout=TIMEOUT_S, context=self.server.context
        )
        try:
            upstream.request(self.command, self.server.prefix + self.path, body, headers)
            reply = upstream.getresponse()
            data = reply.read()
        except OSError as exc:
            self.send_error(502, f"the emulator did not answer: {type(exc).__name__}")
            return
        finally:
            upstream.close()
        self.send_response(reply.status, reply.reason)
        for name, value in reply.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _forward

    def log_message(self, fmt: str, *args: object) -> None:
        return  # the API's access log is API Gateway's (CloudWatch Logs), not this front's


@dataclass
class ApiFront:
    """``start()`` then ``stop()``; ``url`` is the API's address."""

    emulator_url: str
    api_id: str
    certificate: Path
    port: int = 0
    _server: _Server | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://{HOST}:{self._server.server_address[1]}"

    def start(self) -> ApiFront:
        server = _Server((HOST, self.port), _Handler)
        target = urlsplit(self.emulator_url)
        server.target = (target.hostname or HOST, int(target.port or 443))
        server.prefix = f"/_aws/execute-api/{self.api_id}"
        server.context = ssl.create_default_context(cafile=str(self.certificate))
        listening = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        listening.load_cert_chain(self.certificate, self.certificate.with_name("server.key"))
        server.socket = listening.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, name="api-front", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
