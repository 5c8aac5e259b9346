"""Real servers on 127.0.0.1 for the tests: HTTP(S) endpoints with real faults.

`Endpoint` describes what a path answers (status, JSON or raw body, delay); `HttpServer`
serves a dict of them over HTTP or HTTPS on a free port in a background thread.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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

            def _answer(self) -> None:
                outer.requests.append((self.command, self.path))
                endpoint = outer.routes.get(self.path, Endpoint(404, {"error": "not found"}))
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
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
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
