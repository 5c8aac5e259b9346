"""Redis probe: one read-only visit per server per run, bounded in time, never raising.

`observe_server(target, session)` connects once, then gathers everything the Redis checks
need into one `RedisStatus`: PING round trips, INFO (every section), maxmemory and maxclients
(CONFIG GET, or INFO where CONFIG is refused, as on managed Redis), DBSIZE, LLEN of the
configured queues and LATENCY LATEST. The probe session bounds the whole visit by
`target.timeout_s`; replies are capped (`client.MAX_REPLY_BYTES`).

Read-only by construction (`client.py`): the connection encodes only the commands of
`client.ALLOWED_COMMANDS` (`deploy/redis-acl.conf` gives the server-side half: a user that may
run exactly these commands).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vigil.families.redis.spec import RedisTarget
from vigil.redact import redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

TLS_HINT = "(is the port TLS? check redis:// vs rediss://)"
PINGS = 5


@dataclass(frozen=True)
class LatencyEvent:
    """One line of LATENCY LATEST: the latest and the worst spike of an event, in ms."""

    event: str
    latest_ms: int
    max_ms: int


@dataclass(frozen=True)
class RedisStatus:
    """What one visit to a Redis server saw.

    `error` is set (with `failure` naming the kind: refused, timeout, auth, loading, protocol,
    tls, maxclients, url, other) when the server could not be observed. `denied` maps a command
    the server refused (ACL, renamed or disabled command) to its answer; the probe goes on
    without it. `limits_source` says where maxmemory and maxclients came from.
    """

    address: str  # the URL, password masked
    error: str | None = None
    failure: str | None = None
    ping_ms: tuple[float, ...] = ()
    info: Mapping[str, str] = field(default_factory=dict)
    db: int = 0
    maxmemory: int | None = None
    maxclients: int | None = None
    limits_source: str = "CONFIG GET"
    dbsize: int | None = None
    queue_lengths: Mapping[str, int] = field(default_factory=dict)
    queue_errors: Mapping[str, str] = field(default_factory=dict)
    latency_events: tuple[LatencyEvent, ...] = ()
    denied: Mapping[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """An INFO field as written, or None when the server does not report it."""
        return self.info.get(name)

    def number(self, name: str) -> float | None:
        """An INFO field as a number, or None when it is absent or not numeric."""
        value = self.info.get(name)
        try:
            return None if value is None else float(value)
        except ValueError:
            return None

    def integer(self, name: str) -> int | None:
        """An INFO field as an integer, or None when it is absent or not numeric."""
        value = self.number(name)
        return None if value is None else int(value)

    @property
    def median_ping_ms(self) -> float | None:
        return statistics.median(self.ping_ms) if self.ping_ms else None

    def keyspace(self) -> dict[str, dict[str, int]]:
        """INFO keyspace: `{"db0": {"keys": 3, "expires": 1, ...}}`."""
        spaces: dict[str, dict[str, int]] = {}
        for key, value in self.info.items():
            if key.startswith("db") and key[2:].isdigit():
                pairs = (item.partition("=") for item in value.split(","))
                spaces[key] = {k: int(v) for k, _, v in pairs if v.lstrip("-").isdigit()}
        return spaces


def server_unobserved(target: Target[RedisTarget], reason: str) -> RedisStatus:
    return RedisStatus(
        redact_url(target.spec.url),
        error=_no_answer(target),
        failure="timeout",
    )


def _no_answer(target: Target[RedisTarget]) -> str:
    return (
        f"no answer within {target.timeout_s:g} s from {where(target.spec.url)}"
        f" (the port accepts connections but the server does not answer in time) {TLS_HINT}"
    )


def prepare() -> None:
    """Import the client (redis-py) once per run, outside any target's time."""
    from vigil.families.redis import visit  # noqa: F401


async def observe_server(target: Target[RedisTarget], session: ProbeSession) -> RedisStatus:
    """Visit one Redis server once and report what it says, within `target.timeout_s`
    (`visit.py`; imported here so that a run without Redis never imports redis-py)."""
    from vigil.families.redis import visit

    return await visit.observe(target)


def where(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def parse_info(text: str) -> dict[str, str]:
    """INFO's `key:value` lines as a flat mapping (section headers dropped)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and not key.startswith("#"):
            fields[key] = value
    return fields


def _as_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
