"""The sandbox's provider status pages, in Statuspage v2 format, and the server behind them.

`summary_document(...)` builds a `summary.json` document; `StatusPageServer` serves one per
provider at `/<provider>/api/v2/summary.json` (and `status.json`). The sandbox component
`StatusPages` serves three providers, all operational in `healthy`; in `incident` the payment
provider has a major outage of its card payments with an open incident.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from vigil.sandbox.http_platform import JsonHandler, SandboxServer

INCIDENT_NAME = "Elevated error rates on card payments"
_IMPACT = {"major_outage": "major", "partial_outage": "major", "degraded_performance": "minor"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def summary_document(
    name: str,
    components: dict[str, str],
    incidents: Sequence[tuple[str, str, list[str]]] = (),
) -> dict[str, Any]:
    """A Statuspage v2 summary: `components` maps name to status; each incident is
    (name, latest update text, affected component names). The overall indicator follows the
    worst component, as the hosted pages compute it."""
    worst = "none"
    for status in components.values():
        impact = _IMPACT.get(status, "none")
        if impact == "major" or (impact == "minor" and worst == "none"):
            worst = impact
    descriptions = {
        "none": "All Systems Operational",
        "minor": "Minor Service Outage",
        "major": "Partial System Outage",
    }
    return {
        "page": {
            "id": name,
            "name": name,
            "url": f"https://status.{name}.example",
            "updated_at": _now(),
        },
        "status": {"indicator": worst, "description": descriptions[worst]},
        "components": [
            {"id": f"c{i}", "name": component, "status": status, "group": False}
            for i, (component, status) in enumerate(components.items())
        ],
        "incidents": [
            {
                "id": f"i{i}",
                "name": incident,
                "status": "identified",
                "impact": worst if worst != "none" else "minor",
                "shortlink": f"https://stspg.example/{i}",
                "started_at": _now(),
                "components": [{"name": c, "status": components.get(c, "")} for c in affected],
                "incident_updates": [
                    {
                        "status": "investigating",
                        "body": "We are investigating.",
                        "created_at": "2026-01-01T00:00:00.000Z",
                    },
                    {"status": "identified", "body": update, "created_at": _now()},
                ],
            }
            for i, (incident, update, affected) in enumerate(incidents)
        ],
        "scheduled_maintenances": [],
    }


class StatusPageServer:
    """Serves `pages` (provider -> summary document) on 127.0.0.1 on a free port."""

    def __init__(self, pages: dict[str, dict[str, Any]]) -> None:
        self.pages = pages
        outer = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                provider, _, rest = self.path.strip("/").partition("/")
                page = outer.pages.get(provider)
                if page is None or rest not in ("api/v2/summary.json", "api/v2/status.json"):
                    self._send(404, {"error": "not found"})
                elif rest.endswith("status.json"):
                    self._send(200, {"page": page["page"], "status": page["status"]})
                else:
                    self._send(200, page)

        self._server = SandboxServer(Handler)
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, provider: str, document: str = "summary.json") -> str:
        return f"http://127.0.0.1:{self.port}/{provider}/api/v2/{document}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def sandbox_pages(scenario: str) -> dict[str, dict[str, Any]]:
    """The sandbox's providers: payments, email, cdn."""
    card = "major_outage" if scenario == "incident" else "operational"
    incidents = (
        [
            (
                INCIDENT_NAME,
                "Card payments are failing for a large share of requests.",
                ["Card payments"],
            )
        ]
        if scenario == "incident"
        else []
    )
    return {
        "payment-provider": summary_document(
            "payment-provider",
            {"API": "operational", "Card payments": card, "Payouts": "operational"},
            incidents,
        ),
        "email-provider": summary_document(
            "email-provider", {"SMTP": "operational", "API": "operational"}
        ),
        "cdn": summary_document("cdn", {"Edge network": "operational", "DNS": "operational"}),
    }


class StatusPages:
    """Sandbox component: the providers' status pages on one local server."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self._server: StatusPageServer | None = None

    def start(self) -> dict[str, str]:
        self._server = StatusPageServer(sandbox_pages(self.scenario))
        return {"SANDBOX_STATUS_URL": f"http://127.0.0.1:{self._server.port}"}

    def stop(self) -> None:
        if self._server:
            self._server.close()
