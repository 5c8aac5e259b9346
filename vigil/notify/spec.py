"""The `notify:` section of an environment file: where the run's news goes, with `--notify`.

    notify:
      alertmanager: {url: http://alertmanager:9093}
      slack: {webhook_url: "${SLACK_WEBHOOK_URL}"}
      pagerduty: {routing_key: "${PD_ROUTING_KEY}", min_severity: sev1}
      webhook: {url: https://hooks.example.com/vigil}

Every notifier takes `timeout_s` (default 10): the total time its messages of one run may
take. Webhook URLs, routing keys and header values are secrets, masked in every output
(`vigil.redact.configured_secrets` finds them by field name).
"""

from __future__ import annotations

from pydantic import Field

from vigil.settings import HttpUrl, Model, SeverityLevel
from vigil.severity import Severity

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
DEFAULT_TIMEOUT_S = 10.0


class Notifier(Model):
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=60)


class AlertmanagerSettings(Notifier):
    """Alertmanager's API v2: every failing check an alert, resolved ones with `endsAt`."""

    url: HttpUrl
    # A firing alert ends this long after the run unless the next run sends it again: a
    # schedule that stopped lets its alerts resolve instead of firing for ever.
    expire_after_min: float = Field(default=60, gt=0, le=7 * 24 * 60)
    headers: dict[str, str] = Field(default_factory=dict)


class SlackSettings(Notifier):
    """A Slack incoming webhook: one message per run and environment, when something changed."""

    webhook_url: HttpUrl


class PagerDutySettings(Notifier):
    """PagerDuty Events API v2: trigger new failures at or above `min_severity`, resolve."""

    routing_key: str = Field(min_length=1)
    min_severity: SeverityLevel = Severity.SEV2
    url: HttpUrl = PAGERDUTY_EVENTS_URL


class WebhookSettings(Notifier):
    """Any HTTP endpoint: the run's changes for the environment, as JSON."""

    url: HttpUrl
    headers: dict[str, str] = Field(default_factory=dict)


class NotifySettings(Model):
    alertmanager: AlertmanagerSettings | None = None
    slack: SlackSettings | None = None
    pagerduty: PagerDutySettings | None = None
    webhook: WebhookSettings | None = None

    def configured(self) -> dict[str, Notifier]:
        """The notifiers given, by name, in a fixed order."""
        found = {
            "alertmanager": self.alertmanager,
            "slack": self.slack,
            "pagerduty": self.pagerduty,
            "webhook": self.webhook,
        }
        return {name: settings for name, settings in found.items() if settings is not None}
