"""A real Alertmanager (Debian's `prometheus-alertmanager`) on a free 127.0.0.1 port, and a
capture server standing where Slack, PagerDuty and a webhook receive: it records every
request (path, headers, JSON body) and answers as told."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.servers import LocalHttpServer, free_port, wait_until_ready

BINARY = "/usr/bin/prometheus-alertmanager"
# One receiver with no integrations: Alertmanager keeps the alerts and sends them nowhere.
CONFIG = "route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n"


@dataclass
class Alertmanager:
    url: str

    def alerts(self, active_only: bool = True) -> list[dict[str, Any]]:
        """The alerts it holds (`GET /api/v2/alerts`); resolved ones are no longer listed."""
        query = "" if not active_only else "?active=true&silenced=true&inhibited=true"
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts{query}", timeout=5) as answer:
            found: list[dict[str, Any]] = json.loads(answer.read())
        return found


@contextmanager
def alertmanager() -> Iterator[Alertmanager]:
    """Start an Alertmanager (no cluster port) and yield it; stop it afterwards."""
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch, "alertmanager.yml")
        config.write_text(CONFIG)
        command = [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={scratch}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(process, f"{url}/-/ready", "Alertmanager")
            yield Alertmanager(url)
        finally:
            process.terminate()
            process.wait(timeout=10)


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class CaptureServer:
    """Records every POST; answers `status` (202, as PagerDuty does, by default)."""

    status: int = 202
    delay_s: float = 0.0
    requests: list[Captured] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                outer.requests.append(Captured(self.path, dict(self.headers), body))
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                answer = b'{"status": "success"}'
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LocalHttpServer(Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str | None = None) -> list[Any]:
        return [r.body for r in self.requests if path is None or r.path == path]

    def clear(self) -> None:
        self.requests.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
