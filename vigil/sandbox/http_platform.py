"""The sandbox's HTTP services: ten small health endpoints and one detailed health report.

In the `incident` scenario some of them are in trouble for real: `payments` answers 503,
`search` is down (its port refuses connections), `media` accepts connections and never
answers, `analytics` is slow, and the gateway's detailed report shows degraded components.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICES = (
    "gateway",
    "auth",
    "users",
    "payments",
    "payouts",
    "notifications",
    "search",
    "media",
    "analytics",
    "webhooks",
)

INCIDENT: dict[str, str] = {
    "payments": "503",
    "search": "down",
    "media": "hang",
    "analytics": "slow",
    "gateway": "degraded",
}
SLOW_S = 1.2


def _detailed(scenario: str) -> dict[str, Any]:
    bad = scenario == "incident"
    return {
        "overallStatus": "degraded" if bad else "healthy",
        "checks": [
            {"name": "database", "status": "healthy", "responseTime": "4ms"},
            {
                "name": "redis",
                "status": "degraded" if bad else "healthy",
                "responseTime": "480ms" if bad else "1ms",
            },
            {
                "name": "payments-provider",
                "status": "unhealthy" if bad else "healthy",
                "responseTime": "timeout" if bad else "120ms",
            },
            {"name": "email-provider", "status": "healthy", "responseTime": "85ms"},
        ],
    }


class SandboxServer(ThreadingHTTPServer):
    """A threaded server on 127.0.0.1 that behaves like a production one under a burst of
    probes: a deep accept queue (with the default of 5, SYNs are lost and retried only a
    second later), and silence when a client hangs up first."""

    request_queue_size = 128
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler whose answers are JSON (the sandbox's fake services)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits ~40 ms for the client's ACK

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _handler(service: str, fault: str | None, scenario: str) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path == "/health/detailed":
                self._send(200, _detailed(scenario))
            elif self.path == "/health":
                if fault == "slow":
                    time.sleep(SLOW_S)
                if fault == "503":
                    self._send(503, {"status": "error", "reason": "upstream database unavailable"})
                else:
                    self._send(200, {"status": "ok", "service": service})
            else:
                self._send(404, {"error": "not found"})

    return Handler


class HttpPlatform:
    """Starts the services on free ports and returns their base URLs as sandbox variables."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.servers: list[SandboxServer] = []
        self.sockets: list[socket.socket] = []

    def start(self) -> dict[str, str]:
        variables = {}
        for service in SERVICES:
            fault = INCIDENT.get(service) if self.scenario == "incident" else None
            if fault == "down":
                port = _free_port()  # nothing listens there: connections are refused
            elif fault == "hang":
                listener = socket.socket()
                listener.bind(("127.0.0.1", 0))
                listener.listen(128)  # accepted by the kernel, never answered
                self.sockets.append(listener)
                port = listener.getsockname()[1]
            else:
                server = SandboxServer(_handler(service, fault, self.scenario))
                threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
                self.servers.append(server)
                port = server.server_address[1]
            variables[f"SANDBOX_{service.upper()}_URL"] = f"http://127.0.0.1:{port}"
        return variables

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for listener in self.sockets:
            listener.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
