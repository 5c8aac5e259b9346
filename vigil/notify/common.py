"""What the senders share: one bounded HTTP call, its failure in words, and record texts."""

from __future__ import annotations

from typing import Any

import httpx

from vigil.errors import VigilError
from vigil.record import CheckRecord
from vigil.redact import Redactor, redact_url

MAX_EXCERPT = 200


class NotifyError(VigilError):
    """A notifier could not deliver its message (refused, timed out, answered an error)."""


def post_json(
    client: httpx.Client,
    url: str,
    body: Any,
    clean: Redactor,
    headers: dict[str, str] | None = None,
) -> int:
    """POST `body` as JSON; the status when it is 2xx, else `NotifyError` saying what came
    back (never the URL's secrets: the URL is masked, the answer cleaned)."""
    try:
        response = client.post(url, json=body, headers=headers or {})
    except httpx.HTTPError as exc:
        raise NotifyError(
            clean(f"{redact_url(url)}: {type(exc).__name__}: {exc}", newlines=False)
        ) from None
    if not 200 <= response.status_code < 300:
        excerpt = response.text[:MAX_EXCERPT]
        raise NotifyError(
            clean(
                f"{redact_url(url)} answered HTTP {response.status_code}: {excerpt}", newlines=False
            )
        )
    return response.status_code


def place(record: CheckRecord) -> str:
    """`environment/target` (the environment alone for a broken environment file)."""
    return f"{record.environment}/{record.target}" if record.target else record.environment


def headline(record: CheckRecord) -> str:
    """One line: severity, where, the check and its message."""
    severity = f"{record.severity} " if record.severity else ""
    message = record.message.splitlines()[0] if record.message else str(record.outcome)
    return f"{severity}{place(record)} {record.check}: {message}"
