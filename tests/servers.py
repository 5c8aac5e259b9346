"""Real servers on 127.0.0.1 for the tests: HTTP(S) endpoints with real faults.

`Endpoint` describes what a path answers (status, JSON or raw body, delay); `HttpServer`
serves a dict of them over HTTP or HTTPS on a free port in a background thread.
`LocalHttpServer` is the threaded server both it and the secret audit's `AuthServer` use.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalHttpServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 that behaves like a production one under many
    concurrent clients: a deep accept queue (with the default of 5, a probe opening a dozen
    connections at once loses SYNs, and the kernel retries them only after a second), and
    silence when a client hangs up first (a probe that gave up is not a server error)."""

    request_queue_size = 128
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # reset, broken pipe, aborted
            return
        super().handle_error(request, client_address)


@dataclass
class Endpoint:
    status: int = 200
    body: Any = None  # JSON-serialised unless it is bytes
    delay_s: float = 0.0
    content_type: str = "application/json"


class HttpServer:
    """A threaded HTTP(S) server on 127.0.0.1 serving `routes` (path -> Endpoint)."""

    def __init__(self, routes: dict[str, Endpoint], ssl_context: ssl.SSLContext | None = None):
        self.routes = routes
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once, no ACK wait

            def _answer(self) -> None:
                outer.requests.append((self.command, self.path))
                bare = self.path.split("?", 1)[0]  # a route without a query matches any query
                missing = Endpoint(404, {"error": "not found"})
                endpoint = outer.routes.get(self.path) or outer.routes.get(bare, missing)
                if endpoint.delay_s:
                    time.sleep(endpoint.delay_s)
                body = (
                    endpoint.body
                    if isinstance(endpoint.body, bytes)
                    else json.dumps(endpoint.body).encode()
                )
                self.send_response(endpoint.status)
                self.send_header("Content-Type", endpoint.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":  # a HEAD answer has headers only
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LocalHttpServer(Handler)
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if ssl_context else "http"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_until_ready(
    process: subprocess.Popen[bytes], request: str | urllib.request.Request, name: str
) -> None:
    """Poll a server process we started (its `/-/ready`, say) until it answers 200; raise if
    it exits or is not ready within 15 s."""
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(request, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{name} did not start") from None
            time.sleep(0.05)


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SilentPort:
    """A port that accepts TCP connections and never sends a byte."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(256)
        self.port = self.socket.getsockname()[1]

    def close(self) -> None:
        self.socket.close()
