"""Sending a run's news to every notifier of every environment, each bounded by its own total
time (`timeout_s`), all at once, and saying how each went.

Statuses: `sent` (delivered), `nothing to send` (nothing new or resolved, nothing firing),
`failed` (refused, unreachable, an error answer, or out of time: the detail says which), and
`not sent` (a partial run: it saw part of the picture, so it neither pages nor resolves; what
it left unannounced is announced by the next complete run, against `notified.json`).

A notifier's memory of what it announced is updated only when its messages were delivered,
so one that failed is told again by the next run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from vigil.notify import alertmanager, pagerduty, slack, webhook
from vigil.notify.common import NotifyError
from vigil.notify.news import STATE_FILE, News, news_for, read_state, write_state
from vigil.notify.spec import Notifier, NotifySettings, PagerDutySettings
from vigil.record import CheckRecord
from vigil.redact import Redactor
from vigil.reports.results import RunResults

Sender = Callable[[News, Any, httpx.Client, Redactor], str | None]
SENDERS: dict[str, Sender] = {
    "alertmanager": alertmanager.send,
    "slack": slack.send,
    "pagerduty": pagerduty.send,
    "webhook": webhook.send,
}
SENT, NOTHING, FAILED, NOT_SENT = "sent", "nothing to send", "failed", "not sent"


@dataclass
class Job:
    environment: str
    notifier: str
    settings: Notifier
    news: News
    announced: set[str]
    detail: str | None = None
    error: str | None = None
    done: bool = False

    def run(self, clean: Redactor) -> None:
        try:
            with httpx.Client(timeout=self.settings.timeout_s) as client:
                self.detail = SENDERS[self.notifier](self.news, self.settings, client, clean)
        except NotifyError as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug in a sender must not cost the run its reports
            self.error = clean(f"{type(exc).__name__}: {exc}", newlines=False)
        self.done = True

    def status(self) -> dict[str, str]:
        if not self.done:
            status, detail = FAILED, f"no answer within {self.settings.timeout_s:g} s"
        elif self.error is not None:
            status, detail = FAILED, self.error
        elif self.detail is None:
            status, detail = NOTHING, "nothing new or resolved"
        else:
            status, detail = SENT, self.detail
        return {
            "environment": self.environment,
            "notifier": self.notifier,
            "status": status,
            "detail": detail,
        }


def _alerts(settings: Notifier) -> Callable[[CheckRecord], bool]:
    """What fires for a notifier: PagerDuty pages at or above its minimum severity."""
    if isinstance(settings, PagerDutySettings):
        floor = settings.min_severity
        return lambda record: record.severity is not None and record.severity.at_least(floor)
    return lambda record: True


def notify(
    run: RunResults,
    settings: Mapping[str, NotifySettings],
    directory: Path,
    clean: Redactor,
) -> list[dict[str, str]]:
    """Send each environment's news (`settings` by environment name); return each
    notifier's status. Never raises for a notifier; never waits longer than the longest
    notifier's `timeout_s`."""
    configured = [
        (env, name, notifier)
        for env in run.environments
        if settings.get(env.name) is not None
        for name, notifier in settings[env.name].configured().items()
    ]
    if run.partial:
        reason = f"partial run ({'; '.join(run.partial_reasons)}): nothing paged or resolved"
        return [
            {"environment": env.name, "notifier": name, "status": NOT_SENT, "detail": reason}
            for env, name, _ in configured
        ]
    state = read_state(directory / STATE_FILE)
    jobs = []
    for env, name, notifier in configured:
        announced = set(state.get(name, {}).get(env.name, []))
        news = news_for(run, env, announced, _alerts(notifier))
        jobs.append(Job(env.name, name, notifier, news, announced))
    started = time.monotonic()
    threads = [threading.Thread(target=job.run, args=(clean,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for job, thread in zip(jobs, threads, strict=True):
        # Daemon threads: one still waiting on a hostile server cannot hold the process.
        thread.join(max(0.0, started + job.settings.timeout_s - time.monotonic()))
    statuses = [job.status() for job in jobs]  # once: a late thread changes nothing now
    for job, status in zip(jobs, statuses, strict=True):
        if status["status"] in (SENT, NOTHING):
            after = job.news.announced_after(job.announced)
            state.setdefault(job.notifier, {})[job.environment] = after
    if jobs:
        # An unwritable directory is the reports' story too; the next run announces again.
        with contextlib.suppress(OSError):
            write_state(directory / STATE_FILE, state)
    return statuses
