"""Status-page probe: what a third-party provider says about itself, in Statuspage v2 format.

`observe_page(target, session)` reads `/api/v2/summary.json` (or `status.json`, which has only the
overall status) with one bounded GET and returns the overall indicator (none, minor, major,
critical), the components and the unresolved incidents with their latest update. An
unreachable page or a document in another format becomes `error`: a page we cannot read says
nothing about the provider, so it is never reported as an outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vigil.families.dependencies.spec import StatusPage
from vigil.families.http.probe import fetch, no_answer
from vigil.redact import redact_text
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

OPERATIONAL = "operational"
MAINTENANCE = "under_maintenance"
CLOSED_INCIDENT = {"resolved", "postmortem", "completed"}
MAX_UPDATE_CHARS = 240


@dataclass(frozen=True)
class ProviderComponent:
    name: str
    status: str  # operational, degraded_performance, partial_outage, major_outage, ...
    group: bool = False

    @property
    def impaired(self) -> bool:
        """Not operational, planned maintenance aside."""
        return self.status not in (OPERATIONAL, MAINTENANCE)


@dataclass(frozen=True)
class ProviderIncident:
    name: str
    impact: str  # none, minor, major, critical
    status: str  # investigating, identified, monitoring, ...
    latest_update: str = ""
    updated_at: str = ""
    components: tuple[str, ...] = ()
    link: str = ""

    def describe(self) -> str:
        """`'name' (status, impact major); latest update TIME: text <link>`, on one line."""
        text = f"{self.name!r} ({self.status}, impact {self.impact})"
        if self.latest_update:
            when = f" {self.updated_at}" if self.updated_at else ""
            text += f"; latest update{when}: {self.latest_update}"
        if self.link:
            text += f" <{self.link}>"
        return text


@dataclass(frozen=True)
class ProviderStatus:
    """A provider's own account of its health. `error` is set when the page could not be read."""

    url: str
    indicator: str = ""
    description: str = ""
    components: tuple[ProviderComponent, ...] = ()
    incidents: tuple[ProviderIncident, ...] = ()
    has_components: bool = False
    error: str | None = None


async def observe_page(target: Target[StatusPage], session: ProbeSession) -> ProviderStatus:
    """Read one provider's status document; never raises."""
    page = target.spec
    response = await fetch(session, page.api_url, timeout_s=target.timeout_s)
    if response.error:
        return ProviderStatus(response.url, error=response.error)
    if response.status != 200:
        return ProviderStatus(
            response.url,
            error=f"the status page answered HTTP {response.status}: {response.body_excerpt}",
        )
    if response.json_error:
        return ProviderStatus(response.url, error=response.json_error)
    return parse_summary(response.url, response.json_body)


def page_unobserved(target: Target[StatusPage], reason: str) -> ProviderStatus:
    response = no_answer("GET", target.spec.api_url, target.timeout_s)
    return ProviderStatus(response.url, error=response.error)


def parse_summary(url: str, body: Any) -> ProviderStatus:
    """Read a Statuspage v2 `summary.json` or `status.json` document."""
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, dict) or "indicator" not in status:
        return ProviderStatus(
            url,
            error="not a Statuspage v2 document (no status.indicator); point url at the"
            " provider's /api/v2/summary.json",
        )
    components = tuple(
        ProviderComponent(
            str(item.get("name", "?")),
            str(item.get("status", "unknown")),
            bool(item.get("group", False)),
        )
        for item in body.get("components") or []
        if isinstance(item, dict)
    )
    incidents = tuple(
        _incident(item)
        for item in body.get("incidents") or []
        if isinstance(item, dict) and str(item.get("status", "")) not in CLOSED_INCIDENT
    )
    return ProviderStatus(
        url=url,
        indicator=str(status.get("indicator")),
        description=str(status.get("description", "")),
        components=components,
        incidents=incidents,
        has_components="components" in body,
    )


def _incident(item: dict[str, Any]) -> ProviderIncident:
    updates = [u for u in item.get("incident_updates") or [] if isinstance(u, dict)]
    latest = max(updates, key=lambda u: str(u.get("created_at", "")), default={})
    text = redact_text(" ".join(str(latest.get("body", "")).split()))
    if len(text) > MAX_UPDATE_CHARS:
        text = text[: MAX_UPDATE_CHARS - 3] + "..."
    return ProviderIncident(
        name=str(item.get("name", "(unnamed incident)")),
        impact=str(item.get("impact", "unknown")),
        status=str(item.get("status", "unknown")),
        latest_update=text,
        updated_at=str(latest.get("created_at", "")),
        components=tuple(
            str(c.get("name")) for c in item.get("components") or [] if isinstance(c, dict)
        ),
        link=str(item.get("shortlink", "")),
    )
