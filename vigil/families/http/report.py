"""What a health report says, whatever its format: levels, components, response times.

`Level` ranks a status (OK, DEGRADED, DOWN); a `Component` is one named part of a service with
its status, level and, when the report gives it, how long its own check took; a `Reading` is
one report read (`formats.read_report`); a `ComponentReport` is the observation checks read:
the answer it came from and what it says. `duration_ms` reads the response times reports
write (250, "450ms", "1.2s", a .NET TimeSpan "00:00:07.2000000").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from vigil.redact import redact_text

if TYPE_CHECKING:
    from vigil.families.http.probe import HttpResponse


class Level(IntEnum):
    """How healthy a status says something is, whatever words the format uses for it."""

    OK = 0
    DEGRADED = 1
    DOWN = 2


# Words of the formats without a ranking of their own, and of unknown shapes.
_GENERIC_OK = (
    "ok", "pass", "passed", "passing", "up", "healthy", "operational", "green", "ready",
    "available", "active", "success", "true",
)  # fmt: skip
_GENERIC_DEGRADED = (
    "warn", "warning", "degraded", "partial", "partially available", "yellow",
    "degraded_performance", "unknown",
)  # fmt: skip
_GENERIC = {
    **dict.fromkeys(_GENERIC_OK, Level.OK),
    **dict.fromkeys(_GENERIC_DEGRADED, Level.DEGRADED),
}


def generic_level(status: str) -> Level:
    """The level of a status word in a report of no known format."""
    return _GENERIC.get(status.strip().lower(), Level.DOWN)


@dataclass(frozen=True)
class Component:
    """One part of a service as its health report names it."""

    name: str
    status: str
    level: Level
    response_ms: float | None = None  # how long its own check took, when the report says
    detail: str = ""  # the report's own words about it (an error, a description)

    @property
    def healthy(self) -> bool:
        return self.level is Level.OK

    def describe(self) -> str:
        text = f"{self.name}: {self.status}"
        if self.response_ms is not None:
            text += f" ({self.response_ms:g} ms)"
        if self.detail:
            text += f" - {redact_text(self.detail)[:200]}"
        return text


@dataclass(frozen=True)
class Reading:
    """What a report says: the format it was read as, the overall status and the parts."""

    format: str
    overall: str | None = None
    level: Level | None = None  # None: the report gives no overall status
    components: list[Component] = field(default_factory=list)
    note: str = ""
    error: str | None = None  # the body is not a report of this (or any known) format


@dataclass(frozen=True)
class ComponentReport:
    """A detailed health report as observed: the answer, and what it says (`error` when it
    could not be read as a report)."""

    response: HttpResponse
    format: str = "auto"
    overall: str | None = None
    level: Level | None = None
    components: list[Component] = field(default_factory=list)
    note: str = ""
    error: str | None = None

    @property
    def healthy(self) -> bool:
        """The overall status (if any) and every component are OK."""
        return (self.level in (None, Level.OK)) and all(c.healthy for c in self.components)


# --- durations -----------------------------------------------------------------------------

_UNIT_MS = {
    "ms": 1.0,
    "s": 1000.0,
    "sec": 1000.0,
    "us": 0.001,
    "µs": 0.001,
    "ns": 1e-6,
    "m": 60000.0,
}
_WITH_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|sec|us|µs|ns|m)?\s*$", re.IGNORECASE)
_TIMESPAN = re.compile(r"^\s*(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)\s*$")


def duration_ms(value: Any, unit: Any = None) -> float | None:
    """A response time in milliseconds from what reports write: 250 (ms), "450ms", "1.2s",
    a .NET TimeSpan "00:00:07.2000000", or a value with its `observedUnit`."""
    if isinstance(value, bool) or value is None:
        return None
    factor = _UNIT_MS.get(str(unit or "ms").lower())
    if factor is None:  # a value in another unit (percent, bytes): not a time
        return None
    if isinstance(value, int | float):
        return round(float(value) * factor, 3)
    text = str(value)
    span = _TIMESPAN.match(text)
    if span:
        days, hours, minutes, seconds = span.groups()
        total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        return round(total * 1000, 3)
    match = _WITH_UNIT.match(text)
    if match:
        number, suffix = match.groups()
        return round(float(number) * (_UNIT_MS[suffix.lower()] if suffix else factor), 3)
    return None


def worst(components: Iterable[Component]) -> Level:
    """The worst level among `components` (OK when there is none)."""
    return max((c.level for c in components), default=Level.OK)
