"""Redis probe: one read-only visit per server per run, bounded in time, never raising.

`observe_server(target, session)` connects once, then gathers everything the Redis checks
need into one `RedisStatus`: PING round trips, INFO (every section), maxmemory and maxclients
(CONFIG GET, or INFO where CONFIG is refused, as on managed Redis), DBSIZE, LLEN of the
configured queues and LATENCY LATEST. The probe session bounds the whole visit by
`target.timeout_s`; replies are capped (`client.MAX_REPLY_BYTES`).

Read-only by construction: the connection encodes only the commands of
`client.ALLOWED_COMMANDS` (`deploy/redis-acl.conf` gives the server-side half: a user that may
run exactly these commands).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from vigil.families.redis.client import (
    ALLOWED_COMMANDS,
    TLS_HINT,
    CommandRefused,
    ReadOnlyRedis,
    command_name,
    explain,
    no_client_setinfo,
    refused,
    where,
)
from vigil.families.redis.spec import RedisTarget
from vigil.redact import redact_text, redact_url
from vigil.session import own_budget
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

__all__ = [
    "ALLOWED_COMMANDS",
    "TLS_HINT",
    "CommandRefused",
    "ReadOnlyRedis",
    "RedisStatus",
    "command_name",
    "explain",
    "no_client_setinfo",
    "observe_server",
]

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


async def observe_server(target: Target[RedisTarget], session: ProbeSession) -> RedisStatus:
    """Visit one Redis server once and report what it says, within `target.timeout_s`."""
    spec = target.spec
    address = redact_url(spec.url)
    budget = own_budget(target.timeout_s)
    try:
        client = ReadOnlyRedis(spec.url, timeout_s=budget, ca_bundle=spec.ca_bundle)
    except (ValueError, redis.RedisError) as exc:
        return RedisStatus(
            address, error=f"invalid Redis URL: {redact_text(str(exc))}", failure="url"
        )
    except Exception as exc:  # e.g. a redis-py release that takes other arguments
        reason = f"{type(exc).__name__}: {redact_text(str(exc))[:200]}"
        return RedisStatus(
            address,
            error=f"cannot set up a Redis client for {address} (redis-py {redis.__version__}):"
            f" {reason}",
            failure="other",
        )
    started = time.monotonic()
    try:
        async with asyncio.timeout(budget):
            return await _visit(client, address, spec.queues)
    except TimeoutError:
        return RedisStatus(address, error=_no_answer(target), failure="timeout", db=client.db)
    except (redis.RedisError, OSError) as exc:
        tls = spec.url.startswith("rediss://")
        failure, reason = explain(exc, where(spec.url), target.timeout_s, client.username, tls=tls)
        if failure == "loading":
            left = budget - (time.monotonic() - started)
            reason += await _loading_progress(spec.url, spec.ca_bundle, left)
        return RedisStatus(address, error=reason, failure=failure, db=client.db)
    except Exception as exc:  # a probe reports, it never raises: an answer no server should send
        reason = f"{type(exc).__name__}: {redact_text(str(exc))[:200]}"
        return RedisStatus(
            address,
            error=f"unexpected failure while reading {where(spec.url)}: {reason}",
            failure="other",
            db=client.db,
        )
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def _visit(client: ReadOnlyRedis, address: str, queues: Mapping[str, int]) -> RedisStatus:
    denied: dict[str, str] = {}

    async def optional(*args: Any) -> Any:
        """A command whose refusal (ACL, renamed, disabled) is noted rather than fatal."""
        try:
            return await client.execute(*args)
        except redis.ResponseError as exc:
            if not refused(exc):
                raise
            denied[command_name(args)] = redact_text(str(exc))
            return None

    await client.connect()
    pings: list[float] = []
    for _ in range(PINGS):
        started = time.perf_counter()
        if await optional("PING") is None:
            break
        pings.append(round((time.perf_counter() - started) * 1000, 2))
    raw_info = await optional("INFO", "all")
    info = parse_info(raw_info) if isinstance(raw_info, str) else {}
    maxmemory, maxclients, source = await _limits(optional, info, denied)
    dbsize = await optional("DBSIZE")
    lengths: dict[str, int] = {}
    problems: dict[str, str] = {}
    for queue in queues:
        try:
            lengths[queue] = int(await client.execute("LLEN", queue))
        except redis.ResponseError as exc:
            if not (refused(exc) or "WRONGTYPE" in str(exc)):
                raise
            problems[queue] = redact_text(str(exc))
    latest = await optional("LATENCY", "LATEST")
    return RedisStatus(
        address,
        ping_ms=tuple(pings),
        info=info,
        db=client.db,
        maxmemory=maxmemory,
        maxclients=maxclients,
        limits_source=source,
        dbsize=None if dbsize is None else int(dbsize),
        queue_lengths=lengths,
        queue_errors=problems,
        latency_events=_latency_events(latest),
        denied=denied,
    )


async def _limits(
    optional: Any, info: Mapping[str, str], denied: Mapping[str, str]
) -> tuple[int | None, int | None, str]:
    """maxmemory and maxclients from CONFIG GET, or from INFO where CONFIG is refused."""
    found: dict[str, int | None] = {}
    for name in ("maxmemory", "maxclients"):
        answer = await optional("CONFIG", "GET", name)
        if isinstance(answer, list) and len(answer) == 2:
            found[name] = _as_int(answer[1])
    if len(found) == 2:
        return found["maxmemory"], found["maxclients"], "CONFIG GET"
    refused = denied.get("CONFIG GET", "no answer")
    return (
        _as_int(info.get("maxmemory")),
        _as_int(info.get("maxclients")),
        f"INFO (CONFIG GET was refused: {refused})",
    )


def _latency_events(answer: Any) -> tuple[LatencyEvent, ...]:
    events = []
    for row in answer if isinstance(answer, list) else []:
        if isinstance(row, list) and len(row) >= 4:
            events.append(LatencyEvent(str(row[0]), int(row[2]), int(row[3])))
    return tuple(events)


async def _loading_progress(url: str, ca_bundle: str | None, left: float) -> str:
    """INFO still answers while a dataset loads: say how far along it is."""
    if left <= 0:
        return ""
    client = ReadOnlyRedis(url, timeout_s=left, ca_bundle=ca_bundle)
    try:
        async with asyncio.timeout(left):
            await client.connect()
            fields = parse_info(str(await client.execute("INFO", "persistence")))
    except Exception:  # best effort, inside observe_server's own error handling
        return ""
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    percent, eta = fields.get("loading_loaded_perc"), fields.get("loading_eta_seconds")
    if percent is None:
        return ""
    return f" ({percent}% loaded" + (f", about {eta} s left)" if eta else ")")


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
