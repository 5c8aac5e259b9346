"""The one HTTP request every HTTP-based family makes (health endpoints, status pages,
Prometheus), through the probe session, bounded in time and size, never raising.

Requests go through aiohttp on the session's event loop: one client per trust setting
(verify, CA bundle), whose connection pool keeps connections per origin. (httpx's async pool
was measured at about four times aiohttp's CPU per request with hundreds of requests in
flight to one origin: `bench/fleet.py`.) `fetch` bounds what it reads: the whole exchange
by `timeout_s`; at most `MAX_BODY_BYTES` off the wire and, once decompressed, at most
`MAX_BODY_BYTES` again (a gzip bomb stops there); header lines, header count and status line
by the parser's limits; JSON by its nesting depth. Every transport failure (refused,
timeout, TLS, DNS, protocol garbage) becomes `error`, a sentence a person can act on.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import re
import socket
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from yarl import URL

from vigil.redact import redact_text, redact_url

if TYPE_CHECKING:
    import aiohttp

    from vigil.session import ProbeSession

MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 64
MAX_HEADER_LINE = 8190  # bytes of the status line or of one header
MAX_HEADERS = 128
EXCERPT_CHARS = 300
TEXT_CHARS = 64 * 1024  # of a body kept as text, for text reports and expect_text
MASK_MARGIN = 1024  # characters past a cut that are masked before it is made
USER_AGENT = "vigil-smoke/0.2"


@dataclass(frozen=True)
class HttpResponse:
    """What one request saw. `error` is set when no complete response arrived."""

    method: str
    url: str  # credentials masked
    status: int | None = None
    elapsed_ms: float | None = None
    content_type: str = ""
    body_excerpt: str = ""
    json_body: Any = None
    json_error: str | None = None
    error: str | None = None
    truncated: bool = False  # the body was longer than MAX_BODY_BYTES
    text: str = field(default="", repr=False)  # the body's first TEXT_CHARS, secrets masked


def where(url: str) -> str:
    """`host:port` of a URL, for messages (never its credentials)."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return redact_url(url)
    return f"{parsed.host}:{parsed.port}"


PER_ORIGIN = 256  # requests at once to one host:port: enough for a fleet, no SYN flood


def origin_queue(url: str) -> tuple[tuple[str, str], int]:
    """The session queue of an origin: at most PER_ORIGIN requests to it at once (a gateway
    checked for 5,000 services is not sent 5,000 connections in one burst)."""
    return ("http", where(url)), PER_ORIGIN


def prepare() -> None:
    """Import the HTTP client once per run, outside any target's time."""
    import aiohttp  # noqa: F401


def no_answer(method: str, url: str, timeout_s: float) -> HttpResponse:
    """The response when nothing complete arrived within the total time."""
    return HttpResponse(
        method,
        redact_url(url),
        error=f"no complete response within {timeout_s:g} s from {where(url)}"
        " (connecting, the headers or the body took longer)",
    )


def _client(session: ProbeSession, verify: bool, ca_bundle: str | None) -> aiohttp.ClientSession:
    """The session's client for one trust setting; its pool keeps connections per origin."""
    import aiohttp  # here: a run without HTTP targets never pays for importing it

    def make_context() -> ssl.SSLContext | bool:
        if not verify:
            return False
        return ssl.create_default_context(cafile=ca_bundle)

    # Loading a trust store costs tens of milliseconds: once per setting and run.
    context = session.shared(("tls-context", verify, ca_bundle), make_context)

    def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=context, use_dns_cache=True),
            auto_decompress=False,  # decompressed here, with a bound
            trust_env=False,  # no proxies or .netrc from the environment: only the target
            cookie_jar=aiohttp.DummyCookieJar(),  # one target's cookies never reach another
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
            max_line_size=MAX_HEADER_LINE,
            max_field_size=MAX_HEADER_LINE,
            max_headers=MAX_HEADERS,
        )

    return session.shared(("http", verify, ca_bundle), make)


async def fetch(
    session: ProbeSession,
    url: str,
    *,
    method: str = "GET",
    timeout_s: float = 5.0,
    verify: bool = True,
    ca_bundle: str | None = None,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> HttpResponse:
    """Send one request (with `content` as its body, if given) and read at most 1 MiB of the
    answer's body, decompressed too, within `timeout_s` in all; never raises."""
    import aiohttp

    shown = redact_url(url)
    try:
        request_url, authorization = _split_credentials(url)
        client = _client(session, verify, ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        return HttpResponse(method, shown, error=f"cannot load CA bundle {ca_bundle}: {exc}")
    except (ValueError, TypeError) as exc:
        return HttpResponse(method, shown, error=f"invalid URL {shown!r}: {redact_text(str(exc))}")
    sent = dict(headers or {})
    if authorization is not None:  # specific to this URL: wins over a configured header
        sent["Authorization"] = authorization
    try:
        async with asyncio.timeout(timeout_s):
            started = time.monotonic()
            async with client.request(
                method,
                request_url,
                headers=sent,
                data=content,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=None),  # the total is ours, above
            ) as response:
                raw, truncated = await _read_capped(response.content)
                elapsed_ms = round((time.monotonic() - started) * 1000, 1)
                status = response.status
                encoding = response.headers.get("Content-Encoding", "")
                content_type = response.headers.get("Content-Type", "")[:200]
    except TimeoutError:
        return no_answer(method, url, timeout_s)
    except (aiohttp.ClientError, ValueError, OSError) as exc:
        return HttpResponse(method, shown, error=reason(exc, url))
    body, decode_error = decompress(raw, encoding)
    truncated = truncated or len(body) >= MAX_BODY_BYTES
    text = body[:MAX_BODY_BYTES].decode("utf-8", errors="replace")
    json_body, json_error = (None, decode_error) if decode_error else parse_json(text, truncated)
    # Masked, then cut: a secret astride a cut would no longer be found whole.
    masked = redact_text(text[: TEXT_CHARS + MASK_MARGIN])
    return HttpResponse(
        method=method,
        url=shown,
        status=status,
        elapsed_ms=elapsed_ms,
        content_type=content_type,
        body_excerpt=" ".join(masked[:EXCERPT_CHARS].split()),
        json_body=json_body,
        json_error=json_error,
        truncated=truncated,
        text=masked[:TEXT_CHARS],
    )


async def _read_capped(stream: aiohttp.StreamReader) -> tuple[bytes, bool]:
    """The body as sent (still compressed), at most MAX_BODY_BYTES; and whether it was cut."""
    body = bytearray()
    while len(body) <= MAX_BODY_BYTES:
        chunk = await stream.read(MAX_BODY_BYTES + 1 - len(body))
        if not chunk:
            return bytes(body), False
        body += chunk
    return bytes(body[:MAX_BODY_BYTES]), True


def decompress(raw: bytes, encoding: str) -> tuple[bytes, str | None]:
    """Undo gzip or deflate, producing at most MAX_BODY_BYTES (a bomb stops there)."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    body = raw
    for coding in reversed(codings):
        if coding in ("identity", ""):
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            return b"", f"the body is encoded as {coding[:40]!r}, which Vigil does not decode"
        wbits = 16 + zlib.MAX_WBITS if coding != "deflate" else zlib.MAX_WBITS
        try:
            out = zlib.decompressobj(wbits).decompress(body, MAX_BODY_BYTES)
        except zlib.error:
            if coding != "deflate":
                return b"", "the body is not valid gzip"
            try:  # raw deflate without the zlib header, as some servers send it
                out = zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, MAX_BODY_BYTES)
            except zlib.error:
                return b"", "the body is not valid deflate"
        body = out
    return body, None


def parse_json(text: str, truncated: bool = False) -> tuple[Any, str | None]:
    """The body as JSON, or why it is not (empty, invalid, cut at 1 MiB, nested too deep)."""
    if not text.strip():
        return None, "the body is empty"
    if truncated:
        return None, f"the body is longer than {MAX_BODY_BYTES // 1024} KiB; not read as JSON"
    try:
        value = json.loads(text)
    except RecursionError:
        return None, f"the body is not JSON Vigil reads (nested deeper than {MAX_JSON_DEPTH})"
    except ValueError as exc:
        start = " ".join(text[:60].split())
        return None, f"the body is not JSON ({exc.__class__.__name__}: {exc}); it starts {start!r}"
    if _depth(value) > MAX_JSON_DEPTH:
        return None, f"the body is not JSON Vigil reads (nested deeper than {MAX_JSON_DEPTH})"
    return value, None


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                return depth
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest


_VALID_URL = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _split_credentials(url: str) -> tuple[URL, str | None]:
    """Credentials in a URL go as Basic auth, not in the URL: the URL is what clients log."""
    # As written, when it is already a valid URL: a server that signs its query (`%2F` vs `/`)
    # must see the bytes the file gives; else quoted as a browser would.
    parsed = URL(url, encoded=_VALID_URL.fullmatch(url) is not None)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("an http:// or https:// URL with a host is needed")
    if parsed.user is None and parsed.password is None:
        return parsed, None
    pair = f"{parsed.user or ''}:{parsed.password or ''}".encode()
    return parsed.with_user(None), "Basic " + base64.b64encode(pair).decode()


def _os_error(exc: BaseException) -> OSError | None:
    """The operating system's own error behind a transport failure, if there is one."""
    import aiohttp

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientConnectorError):
            return seen.os_error
        if isinstance(seen, OSError) and (seen.errno or isinstance(seen, socket.gaierror)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


_CONNECT_ERRNO = {
    errno.ECONNREFUSED: "connection refused by {where} (nothing is listening on that port)",
    errno.ECONNRESET: "{where} reset the connection",
    errno.EHOSTUNREACH: "no route to {where} (host unreachable)",
    errno.ENETUNREACH: "no route to {where} (network unreachable)",
    errno.ETIMEDOUT: "connection to {where} timed out",
}


def reason(exc: BaseException, url: str) -> str:
    """Translate a transport failure into what happened, in words an operator can act on:
    the most specific exception type first."""
    import aiohttp

    place = where(url)
    text = redact_text(" ".join(str(exc).split()))[:300]
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return f"TLS handshake with {place} failed: {text}"
    cause = _os_error(exc)
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake with {place} failed: {redact_text(str(cause))[:300]}"
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve host {URL(url).host!r}: {cause.strerror or cause}"
    if cause is not None and cause.errno in _CONNECT_ERRNO:
        return _CONNECT_ERRNO[cause.errno].format(where=place)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {place}: {text}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{place} closed the connection without a complete answer"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"{place} sent a body that could not be read: {text}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{place} did not speak valid HTTP: {text}"
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return f"invalid URL {redact_url(url)!r}: {text}"
    return f"{type(exc).__name__} talking to {place}: {text}"
