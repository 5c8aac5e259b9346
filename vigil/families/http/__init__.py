"""HTTP health endpoints: each service is up, says it is healthy, and answers in time; an
answer that is not an outage (a 429, a provider refusing our key) lands on its own entry.

Settings: `spec.py` (`http.services[]`). Probe: `probe.py`; health-report formats:
`formats.py`. Checks: `checks/test_http.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vigil.families.http import probe
from vigil.families.http.spec import SERVICE_DOWN, HttpSection, HttpService, StatusRoute
from vigil.family import Family, Observation, Reachability, TargetKind
from vigil.redact import redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.environment import Environment

# Kinds whose URL is someone else's: no Deployment of ours is named after them.
EXTERNAL = ("cdn", "object_storage", "dependency")
# The entry the status-route check is marked with; every route names its own instead.
ROUTE_CHECK_ENTRY = "rate-limit-exceeded"


def _values(service: HttpService) -> tuple[dict[str, str], dict[str, str]]:
    """Template values of a service (and of its routes), and the defaults below `vars:`."""
    values = {
        "url": redact_url(service.url),
        "method": service.method,
        "detailed_url": redact_url(service.report_url or ""),
        "service": service.name,
    }
    # Steps of provider entries (a 502 sent to cdn-unavailable) on one of our own services
    # name the provider in front of it as what it is: unknown here, for the responder to fill.
    defaults = {
        "provider": f"<provider in front of {service.name}>",
        "status_url": f"<status page of the provider in front of {service.name}>",
    }
    if service.kind in EXTERNAL:
        values["provider"] = service.name
        values["status_url"] = (
            redact_url(service.status_page)
            if service.status_page
            else f"<status page of {service.name}>"
        )
        defaults["deployment"] = f"<deployment that calls {service.name}>"
    else:
        defaults["deployment"] = service.name
    if service.deployment:
        values["deployment"] = service.deployment
    return values, defaults


def services(env: Environment, section: HttpSection) -> Iterator[Target[HttpService]]:
    for service in section.services:
        values, defaults = _values(service)
        yield Target(
            "http_service",
            env,
            service.name,
            service,
            values=values,
            defaults=defaults,
            notes=() if service.verify else ("TLS verification is off for this service",),
            catch_all=SERVICE_DOWN,
        )


def routes(env: Environment, section: HttpSection) -> Iterator[Target[StatusRoute]]:
    """One target per status a service sends to another entry (`status_runbooks`, and the
    defaults of its kind): `auth:429`."""
    for service in services(env, section):
        for status, entry in service.spec.routes.items():
            yield Target(
                "http_status_route",
                env,
                f"{service.name}:{status}",
                StatusRoute(service, status, entry),
                parent=service.spec,  # its timeout and severity overrides
                values={**service.values, "status": str(status)},
                defaults=service.defaults,
                notes=service.notes,
                catch_all=ROUTE_CHECK_ENTRY,
            )


FAMILY = Family(
    name="http",
    description="HTTP health endpoints",
    section="http",
    settings=HttpSection,
    kinds=(
        TargetKind(
            "http_service",
            "http.services",
            services,
            observations=(
                probe.HEALTH,
                Observation(
                    "http_components",
                    probe.observe_components,
                    probe.components_unobserved,
                    queue=probe.components_queue,
                    prepare=probe.prepare,
                ),
            ),
            # No answer at all (refused, silent, TLS failed) is the endpoint's own symptom;
            # any status, a 503 included, is an answer.
            reachability="test_health_endpoint",
        ),
        TargetKind(
            "http_status_route",
            "http.services[].status_runbooks",
            routes,
            observations=(
                Observation(
                    "http_routed_response",
                    probe.observe_route,
                    probe.route_unobserved,
                    derived=True,
                ),
            ),
            reachability=Reachability(
                "test_health_endpoint", kind="http_service", observation="http_response"
            ),
        ),
    ),
)
