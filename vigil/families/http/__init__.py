"""HTTP health endpoints: each service is up, says it is healthy, and answers in time.

Settings: `spec.py` (`http.services[]`). Probe: `probe.py`. Checks: `checks/test_http.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vigil.families.http import probe
from vigil.families.http.spec import HttpSection, HttpService
from vigil.family import Family, Observation, TargetKind
from vigil.redact import redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.environment import Environment


def services(env: Environment, section: HttpSection) -> Iterator[Target[HttpService]]:
    for service in section.services:
        yield Target(
            "http_service",
            env,
            service.name,
            service,
            values={
                "url": redact_url(service.url),
                "method": service.method,
                "detailed_url": redact_url(service.detailed_url or ""),
                "service": service.name,
            },
            defaults={"deployment": service.name},
            notes=() if service.verify else ("TLS verification is off for this service",),
            catch_all="http-service-down",
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
                Observation(
                    "http_response",
                    probe.observe_health,
                    probe.health_unobserved,
                    queue=probe.health_queue,
                ),
                Observation(
                    "http_components",
                    probe.observe_components,
                    probe.components_unobserved,
                    queue=probe.components_queue,
                ),
            ),
        ),
    ),
)
