"""Sentinel secrets for leak audits: unique values, every encoded form, and a searcher.

A `Sentinel` is one secret planted in one secret-bearing field. Its `core` is random per run
and distinctive (`VGL` + 16 hex digits), so finding it anywhere is proof of a leak. `forms()`
lists what to search for: the core itself (a substring of the raw value and of most
encodings), the whole value raw, percent-encoded and in base64, and alignment-independent
base64 fragments of the core, which show up whatever the value was embedded in before being
encoded (a Basic `user:password` header, a Secret's `DATABASE_URL`, a PEM file...).

`AuthServer` is an HTTP server on 127.0.0.1 that answers a path only to a request carrying
the credentials that path requires, so an audit can prove the probes really sent them; on the
paths it is told to echo, its answer shows the request's own headers back, as a server that
dumps its request into an error page does (raw, percent-encoded and base64-encoded).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import quote, quote_plus

from tests.servers import Endpoint, LocalHttpServer

CONTEXT_CHARS = 70


@dataclass(frozen=True)
class Sentinel:
    """A secret planted in `field`: `value` contains the random `core`."""

    field: str
    core: str
    value: str

    @classmethod
    def make(cls, field: str, suffix: str = "") -> Sentinel:
        core = f"VGL{secrets.token_hex(8)}"
        return cls(field, core, core + suffix)

    def forms(self) -> dict[str, str]:
        """Name -> text to search for; any of them in an output is a leak."""
        found = {"raw core": self.core, "raw value": self.value}
        found["percent-encoded value"] = quote(self.value, safe="")
        found["form-encoded value"] = quote_plus(self.value)
        whole = base64.b64encode(self.value.encode()).decode()
        found["base64 value"] = whole.rstrip("=")
        found["base64url value"] = whole.translate(str.maketrans("+/", "-_")).rstrip("=")
        for offset, fragment in enumerate(base64_fragments(self.core.encode())):
            found[f"base64 core (offset {offset})"] = fragment
            found[f"base64url core (offset {offset})"] = fragment.translate(
                str.maketrans("+/", "-_")
            )
        return found


def base64_fragments(data: bytes) -> list[str]:
    """For each of the 3 byte alignments, the base64 characters that depend only on `data`:
    whatever precedes or follows `data` in an encoded value, one of these appears."""
    fragments = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        start = 4 if offset else 0  # the first group mixes in the unknown preceding bytes
        end = 4 * ((offset + len(data)) // 3)  # a last partial group mixes in what follows
        fragments.append(encoded[start:end])
    return fragments


@dataclass(frozen=True)
class Leak:
    output: str
    form: str
    context: str

    def describe(self) -> str:
        return f"{self.output}: {self.form}: ...{self.context}..."


def find_leaks(sentinel: Sentinel, outputs: dict[str, str]) -> list[Leak]:
    """Every place (output name, form, surrounding text) where the sentinel appears."""
    leaks = []
    for output, text in outputs.items():
        for form, needle in sentinel.forms().items():
            index = text.find(needle)
            if index >= 0:
                context = text[max(0, index - CONTEXT_CHARS) : index + len(needle) + CONTEXT_CHARS]
                leaks.append(Leak(output, form, " ".join(context.split())))
    return leaks


@dataclass
class AuthServer:
    """Serves `routes` (path -> (Endpoint, the exact Authorization header it requires)) on a
    free port of 127.0.0.1; anything else gets 401. `authorized` lists the paths answered to
    requests that carried the required credentials."""

    routes: dict[str, tuple[Endpoint, str]]
    echo: set[str] = field(default_factory=set)  # paths whose body shows the request headers
    authorized: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once, no ACK wait

            def do_GET(self) -> None:
                endpoint, required = outer.routes.get(
                    self.path, (Endpoint(404, {"error": "not found"}), "")
                )
                if self.headers.get("Authorization", "") != required:
                    endpoint = Endpoint(401, {"error": "unauthorized"})
                elif self.path in outer.routes:
                    outer.authorized.append(self.path)
                    if self.path in outer.echo:
                        endpoint = Endpoint(endpoint.status, echo_body(dict(self.headers)))
                body = json.dumps(endpoint.body).encode()
                self.send_response(endpoint.status)
                self.send_header("Content-Type", endpoint.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LocalHttpServer(Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# What every client sends; left out of an echo so the headers that matter fit in an excerpt.
_STANDARD_HEADERS = {"host", "accept", "accept-encoding", "connection", "user-agent"}


def echo_body(headers: dict[str, str]) -> dict[str, Any]:
    """A 503 body showing the request's own headers (the standard ones left out): base64- and
    percent-encoded first, then raw, so all three fit in the first 300 characters."""
    sent = {k: v for k, v in headers.items() if k.lower() not in _STANDARD_HEADERS}
    text = "; ".join(f"{name}: {value}" for name, value in sent.items())
    return {
        "b64": base64.b64encode(text.encode()).decode(),
        "quoted": quote(text, safe=""),
        "headers": sent,
    }


def basic(user: str, password: str) -> str:
    """The Authorization header an HTTP client sends for `user:password@` in a URL."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
