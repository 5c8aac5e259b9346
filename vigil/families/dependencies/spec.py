"""Settings of the dependencies family: `status_pages[]` in an environment file."""

from __future__ import annotations

from vigil.settings import HttpUrl, TargetSettings


class StatusPage(TargetSettings):
    """A provider's status page in the Statuspage v2 format (summary.json or status.json)."""

    name: str
    url: HttpUrl
    components: list[str] | None = None
    runbook: str | None = None  # entry for this provider's outage (default third-party-outage)

    @property
    def api_url(self) -> str:
        """The JSON document to read: the URL itself, or a page's `/api/v2/summary.json`."""
        if self.url.split("?")[0].endswith(".json"):
            return self.url
        return self.url.rstrip("/") + "/api/v2/summary.json"
