"""Third-party dependencies: each provider's own status page says it is operational.

A failure here is the provider's outage, not ours: the runbook is about limiting the blast
radius (fail fast, queue, fail over), not about fixing the provider.

Settings: `status_pages[]` in the environment file. Probe: `vigil/families/dependencies/probe.py`.
"""

from __future__ import annotations

import pytest

from vigil.expect import NotEvaluated, fail, require
from vigil.families.dependencies.probe import ProviderStatus
from vigil.families.dependencies.spec import StatusPage
from vigil.targets import Target

SEVERITY_WORDS = {
    "minor": "degraded service",
    "major": "a major outage",
    "critical": "a critical outage",
}


@pytest.mark.runbook("third-party-outage")
def test_provider_operational(
    status_page: Target[StatusPage], status_summary: ProviderStatus
) -> None:
    """The provider reports no incident and no impaired component (only the `components:`
    listed for the target, when given)."""
    provider = status_page.name
    require(status_summary, f"status page of {provider} ({status_summary.url}) could not be read")
    watched = status_page.spec.components
    if watched:
        if not status_summary.has_components:
            raise NotEvaluated(
                f"{status_summary.url} lists no components; point url at the provider's"
                " /api/v2/summary.json to watch components"
            )
        known = {c.name for c in status_summary.components}
        missing = [name for name in watched if name not in known]
        if missing:
            raise NotEvaluated(
                f"{provider}'s status page has no component {', '.join(map(repr, missing))}"
                f" (it lists: {', '.join(sorted(known)) or 'none'})"
            )
        impaired = [c for c in status_summary.components if c.name in watched and c.impaired]
        incidents = [
            i
            for i in status_summary.incidents
            if set(i.components) & set(watched) and i.impact != "none"
        ]
        overall_bad = False
    else:
        impaired = [c for c in status_summary.components if c.impaired and not c.group]
        incidents = [i for i in status_summary.incidents if i.impact != "none"]
        overall_bad = status_summary.indicator in SEVERITY_WORDS
    if not (impaired or incidents or overall_bad):
        return
    what = SEVERITY_WORDS.get(status_summary.indicator, "an incident")
    parts = [f"{c.name} is {c.status}" for c in impaired]
    parts += [f"incident {i.name!r} ({i.status}, impact {i.impact})" for i in incidents]
    fail(
        f"{provider} reports {what} ({status_summary.description or status_summary.indicator}):"
        f" {'; '.join(parts) or 'see its status page'}. This is the provider's outage, not ours:"
        " wait and retry, and fail over to a backup provider if one exists",
        evidence=[
            f"status page: {status_summary.url}",
            f"overall: {status_summary.indicator} ({status_summary.description})",
            *(f"component {c.name}: {c.status}" for c in impaired),
            *(f"incident {i.describe()}" for i in status_summary.incidents),
        ],
        incident=incidents[0].name if incidents else "no incident named",
    )
