"""Third-party dependencies: what a provider's status page says about the parts we use.

Settings: `spec.py` (`status_pages[]`). Probe: `probe.py`. Checks: `checks/test_dependencies.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vigil.families.dependencies import probe
from vigil.families.dependencies.spec import StatusPage
from vigil.families.http.client import prepare
from vigil.family import Family, Observation, TargetKind
from vigil.redact import redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.environment import Environment


def status_pages(env: Environment, section: list[StatusPage]) -> Iterator[Target[StatusPage]]:
    for page in section:
        values = {"provider": page.name, "status_url": redact_url(page.api_url)}
        yield Target(
            "status_page", env, page.name, page, values=values, catch_all="third-party-outage"
        )


FAMILY = Family(
    name="dependencies",
    description="third-party status pages",
    section="status_pages",
    settings=list[StatusPage],
    kinds=(
        TargetKind(
            "status_page",
            "status_pages",
            status_pages,
            observations=(
                Observation(
                    "status_summary", probe.observe_page, probe.page_unobserved, prepare=prepare
                ),
            ),
        ),
    ),
)
