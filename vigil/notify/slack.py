"""A Slack incoming webhook: one message per run and environment, only when something is new
or resolved, in Block Kit: a header with the verdict, the new failures (severity, target,
check, message and a link to the runbook entry), the resolved ones, and a line of context.

Text from targets is escaped for Slack's mrkdwn (`&`, `<`, `>`), so a message cannot mention
a channel or forge a link.
"""

from __future__ import annotations

from typing import Any

import httpx

from vigil.notify.common import place, post_json
from vigil.notify.news import News
from vigil.notify.spec import SlackSettings
from vigil.record import CheckRecord
from vigil.redact import Redactor

SHOWN = 10  # lines per section; the rest are counted
MAX_TEXT = 2900  # Slack refuses a section text above 3000 characters


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(record: CheckRecord) -> str:
    url = record.runbook_url or ""
    if record.runbook and url.startswith(("http://", "https://")):
        safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
        return f" <{safe}|{escape(record.runbook)}>"
    return f" ({escape(record.runbook)})" if record.runbook else ""


def _line(record: CheckRecord, resolved: bool) -> str:
    where = f"{escape(place(record))} `{escape(record.check)}`"
    if resolved:
        return f"• {where} passes again"
    message = escape(record.message.splitlines()[0]) if record.message else str(record.outcome)
    return f"• *{record.severity or 'error'}* {where}: {message}{_link(record)}"


def _section(title: str, records: list[CheckRecord], resolved: bool) -> dict[str, Any]:
    lines = [_line(r, resolved) for r in records[:SHOWN]]
    if len(records) > SHOWN:
        lines.append(f"and {len(records) - SHOWN} more")
    text = f"*{title} ({len(records)})*\n" + "\n".join(lines)
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_TEXT]}}


def payload(news: News, clean: Redactor) -> dict[str, Any]:
    environment = news.environment.name
    verdict = news.environment.verdict
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{environment}: {verdict}"[:150]},
        }
    ]
    if news.new:
        blocks.append(_section("New failures", news.new, resolved=False))
    if news.resolved:
        blocks.append(_section("Resolved", news.resolved, resolved=True))
    context = f"Vigil run {news.run.started_at}; {len(news.still)} still failing"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(context)}]})
    summary = f"{environment}: {verdict}: {len(news.new)} new, {len(news.resolved)} resolved"
    message: dict[str, Any] = _cleaned({"text": summary, "blocks": blocks}, clean)
    return message


def _cleaned(value: Any, clean: Redactor) -> Any:
    """Every text of the message masked (records are already; this covers what joined them)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [_cleaned(item, clean) for item in value]
    if isinstance(value, dict):
        return {key: _cleaned(item, clean) for key, item in value.items()}
    return value


def send(news: News, settings: SlackSettings, client: httpx.Client, clean: Redactor) -> str | None:
    """Post one message when something is new or resolved; None otherwise."""
    if not news.changed:
        return None
    post_json(client, settings.webhook_url, payload(news, clean), clean)
    return f"1 message: {len(news.new)} new, {len(news.resolved)} resolved"
