"""HTTP probe: one request per endpoint, bounded in time and size, never raising.

`observe_health(target)` and `observe_components(target)` turn an HTTP service target into
an `HttpResponse` / `ComponentReport`. Every transport failure (refused, timeout, TLS, DNS,
protocol garbage) becomes `error` with a sentence a person can act on.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from vigil.redact import redact_text, redact_url
from vigil.targets import Target

MAX_BODY_BYTES = 1 << 20
HEALTHY = {"ok", "pass", "passed", "up", "healthy", "operational", "green", "ready", "available"}
DEGRADED = {"warn", "warning", "degraded", "partial", "yellow", "degraded_performance"}

_clients: dict[tuple[bool, str | None], httpx.Client] = {}
_clients_lock = threading.Lock()


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


@dataclass(frozen=True)
class Component:
    name: str
    status: str
    response_time: str | None = None

    @property
    def healthy(self) -> bool:
        return self.status.lower() in HEALTHY


@dataclass(frozen=True)
class ComponentReport:
    """A detailed health report: an overall status and per-component statuses."""

    response: HttpResponse
    overall: str | None = None
    components: list[Component] = field(default_factory=list)
    error: str | None = None


def _client(verify: bool, ca_bundle: str | None) -> httpx.Client:
    key = (verify, ca_bundle)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            context: ssl.SSLContext | bool
            if not verify:
                context = False
            else:
                context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
            client = httpx.Client(
                verify=context,
                follow_redirects=False,
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
                headers={"User-Agent": "vigil-smoke/0.1"},
            )
            _clients[key] = client
        return client


def close() -> None:
    """Close the pooled clients (called once at the end of a run)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def fetch(
    url: str,
    *,
    method: str = "GET",
    timeout_s: float = 5.0,
    verify: bool = True,
    ca_bundle: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """Send one request and read at most 1 MiB of body within `timeout_s` overall."""
    shown = redact_url(url)
    started = time.monotonic()
    try:
        client = _client(verify, ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        return HttpResponse(method, shown, error=f"cannot load CA bundle {ca_bundle}: {exc}")
    try:
        request_url, auth = _split_credentials(url)
        with client.stream(
            method, request_url, headers=headers, auth=auth, timeout=httpx.Timeout(timeout_s)
        ) as resp:
            body = bytearray()
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    break
                if time.monotonic() - started > timeout_s:
                    raise httpx.ReadTimeout("body not complete in time")
            elapsed_ms = (time.monotonic() - started) * 1000
    except httpx.HTTPError as exc:
        return HttpResponse(method, shown, error=_reason(exc, url, timeout_s))
    except (ssl.SSLError, OSError) as exc:  # pragma: no cover - httpx wraps these in practice
        error = redact_text(f"{type(exc).__name__}: {exc}")
        return HttpResponse(method, shown, error=error)
    text = bytes(body[:MAX_BODY_BYTES]).decode("utf-8", errors="replace")
    json_body, json_error = _parse_json(text)
    return HttpResponse(
        method=method,
        url=shown,
        status=resp.status_code,
        elapsed_ms=round(elapsed_ms, 1),
        content_type=resp.headers.get("content-type", ""),
        body_excerpt=redact_text(" ".join(text[:300].split())),
        json_body=json_body,
        json_error=json_error,
    )


def _split_credentials(url: str) -> tuple[httpx.URL, httpx.BasicAuth | None]:
    """Credentials in a URL go as Basic auth, not in the URL: the URL is what clients log.
    Being specific to this URL, they win over an Authorization header set for the service."""
    parsed = httpx.URL(url)
    if not (parsed.username or parsed.password):
        return parsed, None
    bare = parsed.copy_with(username=None, password=None)
    return bare, httpx.BasicAuth(parsed.username, parsed.password)


def _parse_json(text: str) -> tuple[Any, str | None]:
    if not text.strip():
        return None, "the body is empty"
    try:
        return json.loads(text), None
    except ValueError as exc:
        start = redact_text(" ".join(text[:60].split()))
        return None, f"the body is not JSON ({exc.__class__.__name__}: {exc}); it starts {start!r}"


def _reason(exc: httpx.HTTPError, url: str, timeout_s: float) -> str:
    """Translate an httpx failure into what happened, in words an operator can act on."""
    request_url = httpx.URL(url)
    where = (
        f"{request_url.host}:{request_url.port or (443 if request_url.scheme == 'https' else 80)}"
    )
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connection to {where} timed out after {timeout_s:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"no complete response within {timeout_s:g} s from {where}"
            " (the port accepts connections but the server does not answer in time)"
        )
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return f"TLS handshake with {where} failed: {redact_text(text)}"
    if isinstance(exc, httpx.ConnectError):
        if "refused" in lowered:
            return f"connection refused by {where} (nothing is listening on that port)"
        if "name" in lowered and ("resolution" in lowered or "known" in lowered):
            return f"cannot resolve host {request_url.host!r}: {text}"
        return f"cannot connect to {where}: {redact_text(text)}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{where} did not speak valid HTTP: {redact_text(text)}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"invalid URL {redact_url(url)!r}: {text}"
    return f"{type(exc).__name__} talking to {where}: {redact_text(text)}"


def observe_health(target: Target) -> HttpResponse:
    """Request the service's health URL with its configured method."""
    service = target.spec
    return fetch(
        service.url,
        method=service.method,
        timeout_s=target.timeout_s,
        verify=service.verify,
        ca_bundle=service.ca_bundle,
        headers=service.headers,
    )


def observe_components(target: Target) -> ComponentReport:
    """Request the service's detailed health report and read its component statuses."""
    service = target.spec
    response = fetch(
        service.detailed_url,
        timeout_s=target.timeout_s,
        verify=service.verify,
        ca_bundle=service.ca_bundle,
        headers=service.headers,
    )
    if response.error:
        return ComponentReport(response, error=response.error)
    if response.json_error:
        return ComponentReport(response, error=f"HTTP {response.status}: {response.json_error}")
    report = parse_components(response)
    if report.error and not 200 <= (response.status or 0) < 300:
        # A JSON error body (401, 404...) is not a report: say what the server answered.
        return ComponentReport(
            response, error=f"HTTP {response.status} from {response.url}: {response.body_excerpt}"
        )
    return report


def parse_components(response: HttpResponse) -> ComponentReport:
    """Read the common report shapes: `checks: [{name, status}]`, `components: {name: {status}}`,
    and health+json `checks: {"name:measure": [{status}]}`."""
    body = response.json_body
    if not isinstance(body, dict):
        return ComponentReport(response, error="the detailed report is not a JSON object")
    overall = next((str(body[k]) for k in ("overallStatus", "status", "state") if k in body), None)
    raw = body.get("checks", body.get("components", body.get("details")))
    components: list[Component] = []
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            if isinstance(item, dict):
                name = str(item.get("name", item.get("component", f"#{index}")))
                components.append(_component(name, item))
    elif isinstance(raw, dict):
        for name, item in raw.items():
            for entry in item if isinstance(item, list) else [item]:
                if isinstance(entry, dict):
                    components.append(_component(str(name), entry))
                else:
                    components.append(Component(str(name), str(entry)))
    if overall is None and not components:
        return ComponentReport(
            response, error="the report has neither an overall status nor components"
        )
    return ComponentReport(response, overall=overall, components=components)


def _component(name: str, item: dict[str, Any]) -> Component:
    status = str(item.get("status", item.get("state", "unknown")))
    elapsed = item.get("responseTime", item.get("observedValue", item.get("latency")))
    return Component(name, status, None if elapsed is None else str(elapsed))
