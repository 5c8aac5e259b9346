"""Alertmanager API v2: every failure that alerts is an alert, sent again each run (Alertmanager
deduplicates by labels), ending `expire_after_min` after the run unless renewed; a resolved
one is sent with `endsAt` now.

Labels: alertname="VigilCheckFailed", environment, target, check, runbook, severity,
system. Annotations: summary, description (the remediation), runbook_url.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from vigil.notify.common import headline, post_json
from vigil.notify.news import News
from vigil.notify.spec import AlertmanagerSettings
from vigil.record import CheckRecord
from vigil.redact import Redactor

ALERTNAME = "VigilCheckFailed"


def labels(record: CheckRecord) -> dict[str, str]:
    """The labels that identify a check's alert (the same when it fires and resolves)."""
    return {
        "alertname": ALERTNAME,
        "environment": record.environment,
        "target": record.target or "(environment file)",
        "check": record.check,
        "runbook": record.runbook or "none",
        "severity": str(record.severity or "none"),
        "system": record.system or "none",
    }


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def alert(record: CheckRecord, starts: str, ends: datetime, clean: Redactor) -> dict[str, Any]:
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(record.remediation, 1))
    annotations = {"summary": clean(headline(record)), "description": clean(steps)}
    if record.runbook_url:
        annotations["runbook_url"] = record.runbook_url
    return {
        "labels": {name: clean(value, newlines=False) for name, value in labels(record).items()},
        "annotations": annotations,
        "startsAt": starts,
        "endsAt": _time(ends),
    }


def payload(news: News, settings: AlertmanagerSettings, clean: Redactor) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    expiry = now + timedelta(minutes=settings.expire_after_min)
    alerts = [alert(r, r.failing_since or _time(now), expiry, clean) for r in news.firing]
    alerts += [alert(r, _time(now), now, clean) for r in news.resolved]
    return alerts


def send(
    news: News, settings: AlertmanagerSettings, client: httpx.Client, clean: Redactor
) -> str | None:
    """Post the alerts; None when there is nothing to post."""
    alerts = payload(news, settings, clean)
    if not alerts:
        return None
    url = settings.url.rstrip("/") + "/api/v2/alerts"
    post_json(client, url, alerts, clean, settings.headers)
    return f"{len(news.firing)} firing, {len(news.resolved)} resolved"
