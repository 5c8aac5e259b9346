"""HTTP probe: one request per endpoint, bounded in time and size, never raising.

`observe_health` and `observe_components` turn an HTTP service target into an `HttpResponse`
/ `ComponentReport` (read by `formats.py`); `observe_route` hands a status route the same
answer; `fetch` is the one request every HTTP-based family (status pages, Prometheus) makes
through the probe session. The session bounds the total time; `fetch`
also bounds what it reads: at most `MAX_BODY_BYTES` off the wire and, once decompressed,
at most `MAX_BODY_BYTES` again (a gzip bomb stops there), headers by the HTTP parser's own
limit, JSON by its nesting depth. Every transport failure (refused, timeout, TLS, DNS,
protocol garbage) becomes `error` with a sentence a person can act on.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import socket
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from vigil.families.http.formats import parse_components
from vigil.families.http.report import ComponentReport
from vigil.families.http.spec import HttpService, StatusRoute
from vigil.family import Observation
from vigil.redact import redact_text, redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 64
EXCERPT_CHARS = 300
TEXT_CHARS = 64 * 1024  # of a body kept as text, for text reports and expect_text
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
    text: str = field(default="", repr=False)  # the body's first TEXT_CHARS, as sent


def _where(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return redact_url(url)
    return f"{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


def no_answer(method: str, url: str, timeout_s: float) -> HttpResponse:
    """The response when nothing complete arrived within the total time."""
    return HttpResponse(
        method,
        redact_url(url),
        error=f"no complete response within {timeout_s:g} s from {_where(url)}"
        " (connecting, the headers or the body took longer)",
    )


def _client(session: ProbeSession, url: httpx.URL, verify: bool, ca_bundle: str | None) -> Any:
    """The session's client for one origin: one pool per origin keeps every pool small. The
    TLS context (loading a trust store costs tens of milliseconds) is shared by them all."""

    def make_context() -> ssl.SSLContext | bool:
        if not verify:
            return False
        return ssl.create_default_context(cafile=ca_bundle)

    context = session.shared(("tls-context", verify, ca_bundle), make_context)

    def make() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=context,
            follow_redirects=False,
            trust_env=False,  # no proxies or .netrc from the environment: only the target
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        )

    key = ("http", url.scheme, url.host, url.port, verify, ca_bundle)
    return session.shared(key, make)


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
    answer's body, decompressed too; never raises."""
    shown = redact_url(url)
    try:
        request_url, auth = _split_credentials(url)
        client = _client(session, request_url, verify, ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        return HttpResponse(method, shown, error=f"cannot load CA bundle {ca_bundle}: {exc}")
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return HttpResponse(method, shown, error=f"invalid URL {shown!r}: {redact_text(str(exc))}")
    try:
        async with asyncio.timeout(timeout_s):
            request = client.build_request(
                method,
                request_url,
                headers=dict(headers or {}),
                content=content,
                timeout=httpx.Timeout(timeout_s),
            )
            if auth is not None:
                request.headers["Authorization"] = auth
            started = time.monotonic()
            response = await client.send(request, stream=True)
            try:
                raw, truncated = await _read_capped(response)
            finally:
                await response.aclose()
    except TimeoutError:
        return no_answer(method, url, timeout_s)
    except httpx.HTTPError as exc:
        return HttpResponse(method, shown, error=_reason(exc, url, timeout_s))
    except (ssl.SSLError, OSError) as exc:  # pragma: no cover - httpx wraps these in practice
        return HttpResponse(method, shown, error=redact_text(f"{type(exc).__name__}: {exc}"))
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    encoding = response.headers.get("content-encoding", "")
    body, decode_error = decompress(raw, encoding)
    truncated = truncated or len(body) >= MAX_BODY_BYTES
    text = body[:MAX_BODY_BYTES].decode("utf-8", errors="replace")
    json_body, json_error = (None, decode_error) if decode_error else parse_json(text, truncated)
    return HttpResponse(
        method=method,
        url=shown,
        status=response.status_code,
        elapsed_ms=elapsed_ms,
        content_type=response.headers.get("content-type", "")[:200],
        body_excerpt=redact_text(" ".join(text[:EXCERPT_CHARS].split())),
        json_body=json_body,
        json_error=json_error,
        truncated=truncated,
        text=text[:TEXT_CHARS],
    )


async def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    """The body as sent (still compressed), at most MAX_BODY_BYTES; and whether it was cut."""
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return bytes(body[:MAX_BODY_BYTES]), True
    return bytes(body), False


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
            inflater = zlib.decompressobj(wbits)
            out = inflater.decompress(body, MAX_BODY_BYTES)
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
        start = redact_text(" ".join(text[:60].split()))
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


def _split_credentials(url: str) -> tuple[httpx.URL, str | None]:
    """Credentials in a URL go as Basic auth, not in the URL: the URL is what clients log.
    Being specific to this URL, they win over an Authorization header set for the service."""
    parsed = httpx.URL(url)
    if not (parsed.username or parsed.password):
        return parsed, None
    bare = parsed.copy_with(username=None, password=None)
    pair = f"{parsed.username}:{parsed.password}".encode()
    return bare, "Basic " + base64.b64encode(pair).decode()


def _root_os_error(exc: BaseException) -> OSError | None:
    """The operating system's own error behind a transport failure, if there is one."""
    seen: BaseException | None = exc
    while seen is not None:
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


def _reason(exc: httpx.HTTPError, url: str, timeout_s: float) -> str:
    """Translate an httpx failure into what happened, in words an operator can act on."""
    where = _where(url)
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connection to {where} timed out after {timeout_s:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"no complete response within {timeout_s:g} s from {where}"
            " (the port accepts connections but the server does not answer in time)"
        )
    cause = _root_os_error(exc)
    if isinstance(cause, ssl.SSLError) or "certificate" in lowered or "ssl" in lowered:
        detail = redact_text(str(cause) if isinstance(cause, ssl.SSLError) else text)
        return f"TLS handshake with {where} failed: {detail}"
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve host {httpx.URL(url).host!r}: {cause.strerror or cause}"
    if cause is not None and cause.errno in _CONNECT_ERRNO:
        return _CONNECT_ERRNO[cause.errno].format(where=where)
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {where}: {redact_text(str(cause or text))}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{where} did not speak valid HTTP: {redact_text(text)[:300]}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"invalid URL {redact_url(url)!r}: {text}"
    return f"{type(exc).__name__} talking to {where}: {redact_text(text)[:300]}"


# --- observations ------------------------------------------------------------------------


async def observe_health(target: Target[HttpService], session: ProbeSession) -> HttpResponse:
    """Request the service's health URL with its configured method, headers and body."""
    service = target.spec
    return await fetch(
        session,
        service.url,
        method=service.method,
        timeout_s=target.timeout_s,
        verify=service.verify,
        ca_bundle=service.ca_bundle,
        headers=service.request_headers,
        content=service.content,
    )


def health_unobserved(target: Target[HttpService], reason: str) -> HttpResponse:
    return no_answer(target.spec.method, target.spec.url, target.timeout_s)


# The health answer as the family declares it: a route or a report on the same URL awaits
# this very observation (same fixture name, same target: one request per run).
HEALTH = Observation("http_response", observe_health, health_unobserved)


async def service_response(service: Target[HttpService], session: ProbeSession) -> HttpResponse:
    """The service's one health answer of this run, made once whoever asks first."""
    return await asyncio.wrap_future(session.observe(HEALTH, service))


async def observe_components(target: Target[HttpService], session: ProbeSession) -> ComponentReport:
    """Read the service's health report (`detailed_url`, or `url` when a `format` is named)
    in its format; the URL the health check already asked is not asked twice."""
    service = target.spec
    url = service.report_url
    assert url is not None  # the checks that need it require it
    if url == service.url:
        response = await service_response(target, session)
    else:
        response = await fetch(
            session,
            url,
            timeout_s=target.timeout_s,
            verify=service.verify,
            ca_bundle=service.ca_bundle,
            headers=service.headers,
        )
    if response.error:
        return ComponentReport(response, service.format, error=response.error)
    report = parse_components(response, service.format)
    if report.error and not 200 <= (response.status or 0) < 300:
        # An error body (401, 404...) is not a report: say what the server answered.
        return ComponentReport(
            response,
            service.format,
            error=f"HTTP {response.status} from {response.url}: {response.body_excerpt}",
        )
    return report


def components_unobserved(target: Target[HttpService], reason: str) -> ComponentReport:
    url = target.spec.report_url or target.spec.url
    response = no_answer("GET", url, target.timeout_s)
    return ComponentReport(response, target.spec.format, error=response.error)


async def observe_route(target: Target[StatusRoute], session: ProbeSession) -> HttpResponse:
    """The service's health answer, for the route of one of its statuses."""
    return await service_response(target.spec.service, session)


def route_unobserved(target: Target[StatusRoute], reason: str) -> HttpResponse:
    return health_unobserved(target.spec.service, reason)
