"""One visit to a Redis server: connect once, read everything the checks need, close.

`observe(target)` is the Redis probe's work (see `probe.py`); it never raises: an unreachable,
silent, hostile or refusing server becomes the status's `error`, with the kind of failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

import redis

from vigil.families.redis.client import ReadOnlyRedis, command_name, explain, refused
from vigil.families.redis.probe import (
    PINGS,
    LatencyEvent,
    RedisStatus,
    _as_int,
    _no_answer,
    parse_info,
    where,
)
from vigil.families.redis.spec import RedisTarget
from vigil.redact import redact_text, redact_url
from vigil.session import own_budget
from vigil.targets import Target


async def observe(target: Target[RedisTarget]) -> RedisStatus:
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
