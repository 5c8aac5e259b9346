"""HTTP probe: the observations of an HTTP service, one request each, never raising.

`observe_health` and `observe_components` turn an HTTP service target into an `HttpResponse`
/ `ComponentReport`, through `client.fetch` (the one bounded request every HTTP-based family
makes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vigil.families.http.client import (
    MAX_BODY_BYTES,
    HttpResponse,
    decompress,
    fetch,
    no_answer,
    origin_queue,
    parse_json,
)
from vigil.families.http.spec import HttpService
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

__all__ = [
    "MAX_BODY_BYTES",
    "Component",
    "ComponentReport",
    "HttpResponse",
    "decompress",
    "fetch",
    "no_answer",
    "parse_json",
]

HEALTHY = {"ok", "pass", "passed", "up", "healthy", "operational", "green", "ready", "available"}
DEGRADED = {"warn", "warning", "degraded", "partial", "yellow", "degraded_performance"}


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


# --- observations ------------------------------------------------------------------------


async def observe_health(target: Target[HttpService], session: ProbeSession) -> HttpResponse:
    """Request the service's health URL with its configured method."""
    service = target.spec
    return await fetch(
        session,
        service.url,
        method=service.method,
        timeout_s=target.timeout_s,
        verify=service.verify,
        ca_bundle=service.ca_bundle,
        headers=service.headers,
    )


def health_queue(target: Target[HttpService]) -> tuple[tuple[str, str], int]:
    return origin_queue(target.spec.url)


def components_queue(target: Target[HttpService]) -> tuple[tuple[str, str], int]:
    return origin_queue(target.spec.detailed_url or target.spec.url)


def health_unobserved(target: Target[HttpService], reason: str) -> HttpResponse:
    return no_answer(target.spec.method, target.spec.url, target.timeout_s)


async def observe_components(target: Target[HttpService], session: ProbeSession) -> ComponentReport:
    """Request the service's detailed health report and read its component statuses."""
    service = target.spec
    assert service.detailed_url is not None  # the checks that need it require it
    response = await fetch(
        session,
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


def components_unobserved(target: Target[HttpService], reason: str) -> ComponentReport:
    response = no_answer("GET", target.spec.detailed_url or target.spec.url, target.timeout_s)
    return ComponentReport(response, error=response.error)


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
