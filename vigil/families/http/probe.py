"""HTTP probe: the observations of an HTTP service, never raising.

`observe_health` and `observe_components` turn an HTTP service target into an `HttpResponse`
/ `ComponentReport` (read by `formats.py`); `observe_route` hands a status route the same
answer. Every request goes through `client.fetch`, the one bounded request every HTTP-based
family (status pages, Prometheus) makes through the probe session.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from vigil.families.http.client import (
    MAX_BODY_BYTES,
    HttpResponse,
    decompress,
    fetch,
    no_answer,
    origin_queue,
    parse_json,
    prepare,
)
from vigil.families.http.formats import parse_components
from vigil.families.http.report import ComponentReport
from vigil.families.http.spec import HttpService, StatusRoute
from vigil.family import Observation
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

__all__ = [
    "MAX_BODY_BYTES",
    "ComponentReport",
    "HttpResponse",
    "decompress",
    "fetch",
    "no_answer",
    "parse_json",
    "prepare",
]


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
def health_queue(target: Target[HttpService]) -> tuple[tuple[str, str], int]:
    return origin_queue(target.spec.url)


HEALTH = Observation(
    "http_response", observe_health, health_unobserved, queue=health_queue, prepare=prepare
)


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


def components_queue(target: Target[HttpService]) -> tuple[tuple[str, str], int] | None:
    """The report's origin, unless the report is the health answer itself (no request)."""
    url = target.spec.report_url
    return None if url in (None, target.spec.url) else origin_queue(url)


def components_unobserved(target: Target[HttpService], reason: str) -> ComponentReport:
    url = target.spec.report_url or target.spec.url
    response = no_answer("GET", url, target.timeout_s)
    return ComponentReport(response, target.spec.format, error=response.error)


async def observe_route(target: Target[StatusRoute], session: ProbeSession) -> HttpResponse:
    """The service's health answer, for the route of one of its statuses."""
    return await service_response(target.spec.service, session)


def route_unobserved(target: Target[StatusRoute], reason: str) -> HttpResponse:
    return health_unobserved(target.spec.service, reason)
