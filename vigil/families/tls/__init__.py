"""TLS certificates: not expiring soon, not expired, trusted, valid for the name.

Settings: `spec.py` (`tls[]`). Probe: `probe.py`. Checks: `checks/test_tls.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vigil.families.tls import probe
from vigil.families.tls.spec import TlsTarget
from vigil.family import Family, Observation, TargetKind
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.environment import Environment


def certificates(env: Environment, section: list[TlsTarget]) -> Iterator[Target[TlsTarget]]:
    for endpoint in section:
        values = {
            "host": endpoint.host,
            "port": str(endpoint.port),
            "server_name": endpoint.server_name or endpoint.host,
        }
        yield Target("certificate", env, endpoint.display_name, endpoint, values=values)


FAMILY = Family(
    name="tls",
    description="TLS certificates",
    section="tls",
    settings=list[TlsTarget],
    kinds=(
        TargetKind(
            "certificate",
            "tls",
            certificates,
            observations=(
                Observation(
                    "tls_certificate",
                    probe.observe_certificate,
                    probe.certificate_unobserved,
                    prepare=probe.prepare,
                ),
            ),
        ),
    ),
)
