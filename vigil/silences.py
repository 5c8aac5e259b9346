"""Silences: a known failure acknowledged with a reason and an expiry.

An environment file may list silences:

    silences:
      - match: {target: api-certificate, runbook: certificate-expiring}
        until: 2026-12-01T00:00:00Z
        reason: renewal booked, CHG-1234

`match` takes any of `check` (the check function, `test_ping`), `target`, `runbook` (an
entry id), `system` and `id` (the test id, `test_ping[production/cache]`); each is a glob
(`*`, `?`, `[...]`), and every one given must match. `until` and `reason` are required. A
silenced check still runs and is reported as silenced, with the reason and the expiry; it
does not count towards READY, the `--fail-on` gate or notifications. A silence past its
`until` silences nothing and is listed in every report, so it is removed or renewed.
`vigil env check` refuses a silence more than `MAX_DAYS` days out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from fnmatch import fnmatchcase
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from vigil.settings import Model

MAX_DAYS = 90  # `vigil env check --max-silence-days` says otherwise


def _moment(value: Any) -> Any:
    """A date is its midnight, UTC; a time without a zone is UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"expected a date or time such as 2026-12-01 or 2026-12-01T00:00:00Z"
                f" (got {value!r})"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


Moment = Annotated[datetime, BeforeValidator(_moment)]


class SilenceMatch(Model):
    """What a silence matches: every field given must match (globs)."""

    check: str | None = None
    target: str | None = None
    runbook: str | None = None
    system: str | None = None
    id: str | None = None

    @model_validator(mode="after")
    def _something(self) -> SilenceMatch:
        if not any(self.fields().values()):
            raise ValueError("give at least one of check, target, runbook, system, id")
        return self

    def fields(self) -> dict[str, str]:
        """The fields given, by name."""
        given = {
            "check": self.check,
            "target": self.target,
            "runbook": self.runbook,
            "system": self.system,
            "id": self.id,
        }
        return {name: value for name, value in given.items() if value}

    def describe(self) -> str:
        """`target=api-certificate, runbook=certificate-expiring`."""
        return ", ".join(f"{name}={value}" for name, value in self.fields().items())


class Silence(Model):
    """One acknowledged failure: what it matches, until when, and why."""

    match: SilenceMatch
    until: Moment
    reason: str = Field(min_length=1)

    def expired(self, now: datetime) -> bool:
        return self.until <= now

    def until_text(self) -> str:
        return self.until.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def as_note(self) -> dict[str, str]:
        """What a silenced check's record carries."""
        return {"match": self.match.describe(), "until": self.until_text(), "reason": self.reason}


@dataclass(frozen=True)
class Facts:
    """What a silence can match of one check."""

    check: str
    target: str
    runbook: str | None
    system: str | None
    id: str

    def value(self, name: str) -> str:
        return str(getattr(self, name) or "")


def matches(silence: Silence, facts: Facts) -> bool:
    return all(
        fnmatchcase(facts.value(name), pattern) for name, pattern in silence.match.fields().items()
    )


def silence_for(silences: Iterable[Silence], facts: Facts, now: datetime) -> Silence | None:
    """The first silence in force that matches the check, if any."""
    return next((s for s in silences if not s.expired(now) and matches(s, facts)), None)


def too_far(silences: Iterable[Silence], now: datetime, max_days: float) -> list[str]:
    """Problems, one per silence whose `until` is more than `max_days` days after `now`."""
    problems = []
    for index, silence in enumerate(silences):
        days = (silence.until - now).total_seconds() / 86400
        if days > max_days:
            problems.append(
                f"silences[{index}].until: {silence.until_text()} is {days:.0f} days out (at most"
                f" {max_days:g}: a silence is a reminder to fix, not a way to forget)"
            )
    return problems
