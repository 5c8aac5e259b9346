"""A generic webhook: the environment's changes of the run as JSON, when something is new or
resolved (schema `vigil.notify/1`; each check as in results.json)."""

from __future__ import annotations

from typing import Any

import httpx

from vigil.notify.common import post_json
from vigil.notify.news import News
from vigil.notify.spec import WebhookSettings
from vigil.record import CheckRecord
from vigil.redact import Redactor
from vigil.reports.results import CHECK_KEYS

SCHEMA = "vigil.notify/1"


def check_json(record: CheckRecord) -> dict[str, Any]:
    data = record.to_data()
    return {key: data[key] for key in CHECK_KEYS}


def payload(news: News) -> dict[str, Any]:
    run, environment = news.run, news.environment
    return {
        "schema": SCHEMA,
        "environment": environment.name,
        "verdict": environment.verdict,
        "started_at": run.started_at,
        "previous_run": run.previous_run,
        "failed_by_severity": {str(k): v for k, v in environment.failed_by_severity.items()},
        "changes": {"new": len(news.new), "resolved": len(news.resolved), "still": len(news.still)},
        "new": [check_json(c) for c in news.new],
        "resolved": [check_json(c) for c in news.resolved],
        "still": [check_json(c) for c in news.still],
    }


def send(
    news: News, settings: WebhookSettings, client: httpx.Client, clean: Redactor
) -> str | None:
    """Post the changes; None when nothing is new or resolved. Records are masked already."""
    if not news.changed:
        return None
    post_json(client, settings.url, payload(news), clean, settings.headers)
    return f"{len(news.new)} new, {len(news.resolved)} resolved"
