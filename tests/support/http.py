"""A local HTTP(S) server for the tests' stand-ins (Slack, GitHub, a public URL, a fake
app): on 127.0.0.1 and a free port, serving from a thread until closed."""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

POLL_SECONDS = 0.05  # how soon close() returns (the default poll is half a second)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None) -> None:
        self.tls = tls
        super().__init__(("127.0.0.1", 0), handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.tls is None:
            return connection, address
        # The handshake happens in the request's thread: one client refusing the
        # certificate must not stall the server for the next.
        wrapped = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that refused the certificate or hung up: nothing to report


class Closing:
    """A test server used as a context manager: ``with X() as x:`` closes it on the way out."""

    def close(self) -> None:
        """Stop it (each server says how)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class LocalServer(Closing):
    """``handler`` served on 127.0.0.1 (HTTPS with a server ``tls`` context); :attr:`url` is
    its address with ``path`` appended."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        tls: ssl.SSLContext | None = None,
        path: str = "",
    ) -> None:
        self.server = _Server(handler, tls)
        self.port: int = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}{path}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
