"""PagerDuty Events API v2: `trigger` for each new failure at or above `min_severity`,
`resolve` for each resolved one; `dedup_key` is the environment and the check id, so a
failure opens one incident however many runs see it."""

from __future__ import annotations

from typing import Any

import httpx

from vigil.notify.common import headline, place, post_json
from vigil.notify.news import News
from vigil.notify.spec import PagerDutySettings
from vigil.record import CheckRecord
from vigil.redact import Redactor

# Events API v2 severities.
SEVERITY = {"sev1": "critical", "sev2": "error", "sev3": "warning", "sev4": "info"}
MAX_SUMMARY = 1024


def dedup_key(record: CheckRecord) -> str:
    return f"{record.environment}:{record.id}"[:255]


def trigger(record: CheckRecord, routing_key: str, clean: Redactor) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(record),
        "payload": {
            "summary": clean(headline(record), newlines=False)[:MAX_SUMMARY],
            "source": clean(place(record), newlines=False),
            "severity": SEVERITY.get(str(record.severity), "error"),
            "component": clean(record.target or record.environment, newlines=False),
            "group": record.system or "none",
            "class": record.runbook or "none",
            "custom_details": {
                "check": record.id,
                "message": clean(record.message),
                "failing_since": record.failing_since,
                "what to do": [clean(step) for step in record.remediation],
            },
        },
    }
    if record.runbook_url and record.runbook_url.startswith(("http://", "https://")):
        event["links"] = [{"href": record.runbook_url, "text": f"runbook: {record.runbook}"}]
    return event


def resolve(record: CheckRecord, routing_key: str) -> dict[str, Any]:
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(record)}


def send(
    news: News, settings: PagerDutySettings, client: httpx.Client, clean: Redactor
) -> str | None:
    """One event per new or resolved failure; None when there is none."""
    events = [trigger(r, settings.routing_key, clean) for r in news.new]
    events += [resolve(r, settings.routing_key) for r in news.resolved]
    for event in events:
        post_json(client, settings.url, event, clean)
    if not events:
        return None
    return f"{len(news.new)} triggered, {len(news.resolved)} resolved"
