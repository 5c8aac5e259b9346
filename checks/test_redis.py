"""Redis: the server answers, fast, with room in memory and connections, saving, replicating,
and with its queues drained and its keys present.

Settings: `redis[]` in the environment file. Probe: `vigil/families/redis/probe.py` (one read-only
visit per server and run). Counters such as evicted_keys and rejected_connections are
cumulative since the server started (or since CONFIG RESETSTAT).
"""

from __future__ import annotations

import warnings

import pytest

from vigil.expect import NotEvaluated, fail, percent, require, setting
from vigil.families.redis.probe import RedisStatus
from vigil.families.redis.spec import RedisTarget
from vigil.targets import Target

ACL = "deploy/redis-acl.conf"


def _size(size: float) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**32 else f"{size / 2**20:.1f} MiB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _since_start(status: RedisStatus) -> str:
    uptime = status.integer("uptime_in_seconds")
    if uptime is None:
        return "since the server started"
    return f"since the server started {_duration(uptime)} ago"


def _observed(status: RedisStatus, what: str) -> None:
    """The server was reached and let us read INFO; otherwise fail or skip with the reason."""
    __tracebackhide__ = True
    require(status, what)
    if "INFO" in status.denied:
        pytest.skip(
            f"{what}: the Redis user may not run INFO ({status.denied['INFO']}); add +info"
            f" to its ACL ({ACL})"
        )


@pytest.mark.runbook("redis-down")
def test_ping(redis_server: Target[RedisTarget], redis_status: RedisStatus) -> None:
    """Redis answers PING (not refused, not timing out, credentials accepted, not LOADING)."""
    if redis_status.error:
        fail(
            f"PING {redis_status.address} failed: {redis_status.error}",
            evidence=[f"failure: {redis_status.failure}"],
            reason=redis_status.error,
        )
    if "PING" in redis_status.denied:
        pytest.skip(
            f"the Redis user may not run PING ({redis_status.denied['PING']}); add +ping"
            f" to its ACL ({ACL})"
        )


@pytest.mark.runbook("redis-high-latency")
@pytest.mark.requires("max_latency_ms")
def test_ping_latency(redis_server: Target[RedisTarget], redis_status: RedisStatus) -> None:
    """The median PING round trip over several pings stays within `max_latency_ms`."""
    limit = setting(redis_server.spec.max_latency_ms, "max_latency_ms")
    require(redis_status, f"no latency to measure (max {limit:g} ms)")
    median = redis_status.median_ping_ms
    if median is None:
        pytest.skip(f"the Redis user may not run PING; add +ping to its ACL ({ACL})")
    if median > limit:
        pings = ", ".join(f"{ms:.1f}" for ms in redis_status.ping_ms)
        fail(
            f"median PING round trip {median:.1f} ms over {len(redis_status.ping_ms)} pings"
            f" (max {limit:g} ms)",
            evidence=[
                f"round trips (ms): {pings}",
                *(
                    f"LATENCY LATEST {e.event}: latest {e.latest_ms} ms, worst {e.max_ms} ms"
                    for e in redis_status.latency_events
                ),
            ],
            latency_ms=f"{median:.1f}",
        )


@pytest.mark.runbook("redis-memory-pressure")
def test_memory_usage(redis_server: Target[RedisTarget], redis_status: RedisStatus) -> None:
    """used_memory stays below `max_memory_usage` of maxmemory (default 90%); without a
    maxmemory limit, below that share of the host's total_system_memory."""
    ceiling = redis_server.spec.max_memory_usage
    _observed(redis_status, "memory usage unknown")
    used = redis_status.integer("used_memory")
    if used is None:
        raise NotEvaluated("INFO memory does not report used_memory")
    limit = redis_status.maxmemory
    evidence = [
        f"used_memory_human: {redis_status.text('used_memory_human')}",
        f"maxmemory_policy: {redis_status.text('maxmemory_policy')}",
        f"mem_fragmentation_ratio: {redis_status.text('mem_fragmentation_ratio')}",
        f"maxmemory read from {redis_status.limits_source}",
    ]
    if limit:
        usage = used / limit
        if usage > ceiling:
            fail(
                f"used_memory {_size(used)} is {percent(usage)} of maxmemory {_size(limit)}"
                f" (max {percent(ceiling)})",
                evidence=evidence,
                memory_usage=percent(usage),
            )
        return
    host = redis_status.integer("total_system_memory")
    no_limit = "no maxmemory limit is set (maxmemory 0): Redis grows until the host runs out"
    if not host:
        pytest.skip(
            f"{no_limit}, and the server does not report total_system_memory; set"
            " maxmemory to make memory pressure checkable"
        )
    usage = used / host
    if usage > ceiling:
        fail(
            f"{no_limit}; used_memory {_size(used)} is {percent(usage)} of the host's"
            f" total_system_memory {_size(host)} (max {percent(ceiling)})",
            evidence=evidence,
            memory_usage=percent(usage),
        )
    warnings.warn(
        f"{redis_server.id}: {no_limit}; compared with total_system_memory instead"
        f" ({percent(usage)} of {_size(host)})",
        stacklevel=1,
    )


@pytest.mark.runbook("redis-evictions")
def test_no_evictions(redis_server: Target[RedisTarget], redis_status: RedisStatus) -> None:
    """No key was evicted (evicted_keys, cumulative since start, is 0)."""
    _observed(redis_status, "evictions unknown")
    evicted = redis_status.integer("evicted_keys") or 0
    if evicted > 0:
        limit = redis_status.maxmemory
        fail(
            f"{evicted} keys evicted {_since_start(redis_status)}"
            f" (policy {redis_status.text('maxmemory_policy')}, maxmemory"
            f" {_size(limit) if limit else 'not set'})",
            evidence=[
                f"used_memory_human: {redis_status.text('used_memory_human')}",
                f"keyspace_hits: {redis_status.text('keyspace_hits')}, keyspace_misses:"
                f" {redis_status.text('keyspace_misses')}",
            ],
            evicted_keys=evicted,
        )


@pytest.mark.runbook("redis-rejected-connections")
def test_no_rejected_connections(
    redis_server: Target[RedisTarget], redis_status: RedisStatus
) -> None:
    """No client connection was rejected (rejected_connections, cumulative since start, is 0)."""
    _observed(redis_status, "rejected connections unknown")
    rejected = redis_status.integer("rejected_connections") or 0
    if rejected > 0:
        fail(
            f"{rejected} connections rejected {_since_start(redis_status)}"
            f" ({redis_status.text('connected_clients')} connected now,"
            f" maxclients {redis_status.maxclients})",
            evidence=[f"maxclients read from {redis_status.limits_source}"],
            rejected_connections=rejected,
        )


@pytest.mark.runbook("redis-clients-saturated")
def test_client_connections(redis_server: Target[RedisTarget], redis_status: RedisStatus) -> None:
    """connected_clients stays below `max_clients_usage` of maxclients (default 90%)."""
    ceiling = redis_server.spec.max_clients_usage
    _observed(redis_status, "client connections unknown")
    connected, limit = redis_status.integer("connected_clients"), redis_status.maxclients
    if connected is None or not limit:
        raise NotEvaluated(
            f"maxclients unknown ({redis_status.limits_source}); Redis before 6.2 reports it"
            f" only through CONFIG GET: add +config|get to the user's ACL ({ACL})"
        )
    usage = connected / limit
    if usage > ceiling:
        fail(
            f"{connected} of {limit} client connections in use ({percent(usage)},"
            f" max {percent(ceiling)})",
            evidence=[
                f"blocked_clients: {redis_status.text('blocked_clients')}",
                f"rejected_connections: {redis_status.text('rejected_connections')}",
                f"maxclients read from {redis_status.limits_source}",
            ],
            connected_clients=connected,
        )


@pytest.mark.runbook("redis-persistence-failing")
def test_persistence(redis_server: Target[RedisTarget], redis_status: RedisStatus) -> None:
    """The last RDB save, and with AOF on the last AOF write and rewrite, succeeded; with
    `max_save_age_h`, unsaved changes are not older than that."""
    _observed(redis_status, "persistence status unknown")
    fields = ["rdb_last_bgsave_status"]
    if redis_status.text("aof_enabled") == "1":
        fields += ["aof_last_write_status", "aof_last_bgrewrite_status"]
    bad = [
        f"{name} is {redis_status.text(name)}"
        for name in fields
        if redis_status.text(name) not in (None, "ok")
    ]
    max_age_h = redis_server.spec.max_save_age_h
    changes = redis_status.integer("rdb_changes_since_last_save") or 0
    last_save, now_us = (
        redis_status.integer("rdb_last_save_time"),
        redis_status.integer("server_time_usec"),
    )
    if max_age_h is not None and changes and last_save is not None and now_us is not None:
        age_s = now_us / 1e6 - last_save
        if age_s > max_age_h * 3600:
            bad.append(
                f"last successful RDB save {_duration(age_s)} ago with {changes} unsaved"
                f" changes (max {max_age_h:g} h)"
            )
    if bad:
        fail(
            f"persistence failing: {', '.join(bad)}",
            evidence=[
                f"{name}: {redis_status.text(name)}"
                for name in (
                    "rdb_changes_since_last_save",
                    "rdb_last_save_time",
                    "aof_enabled",
                    "aof_last_write_status",
                    "aof_last_bgrewrite_status",
                )
                if redis_status.text(name) is not None
            ],
        )


@pytest.mark.runbook("redis-replication-broken")
@pytest.mark.requires("role")
def test_replication(redis_server: Target[RedisTarget], redis_status: RedisStatus) -> None:
    """A `role: replica` has its link to the primary up; a `role: primary` is a primary with at
    least `min_replicas` replicas connected."""
    expected = redis_server.spec.role
    _observed(redis_status, "replication status unknown")
    role = redis_status.text("role")
    actual = {"master": "primary", "slave": "replica"}.get(role or "", role)
    if actual != expected:
        fail(
            f"configured as {expected} but the server reports role:{role}",
            evidence=[f"master_host: {redis_status.text('master_host')}"],
        )
    if expected == "replica":
        link = redis_status.text("master_link_status")
        if link != "up":
            down_s = redis_status.text("master_link_down_since_seconds")
            fail(
                f"link to primary {redis_status.text('master_host')}:"
                f"{redis_status.text('master_port')} is {link}"
                + (f" (down for {down_s} s)" if down_s not in (None, "-1") else ""),
                evidence=[
                    f"{name}: {redis_status.text(name)}"
                    for name in ("master_sync_in_progress", "master_last_io_seconds_ago")
                    if redis_status.text(name) is not None
                ],
            )
        return
    wanted = redis_server.spec.min_replicas
    replicas = redis_status.integer("connected_slaves") or 0
    if wanted is not None and replicas < wanted:
        fail(
            f"{replicas} replicas connected (expected at least {wanted})",
            evidence=[
                f"{k}: {v}"
                for k, v in redis_status.info.items()
                if k.startswith("slave") and k[5:].isdigit()
            ],
        )


@pytest.mark.runbook("redis-queue-backlog")
@pytest.mark.requires("queues")
def test_queue_lengths(redis_server: Target[RedisTarget], redis_status: RedisStatus) -> None:
    """Every configured queue (a list) is at or below its ceiling (`queues: {name: max}`)."""
    ceilings = redis_server.spec.queues
    require(redis_status, "queue lengths unknown")
    over = sorted(
        (
            (name, length, ceilings[name])
            for name, length in redis_status.queue_lengths.items()
            if length > ceilings[name]
        ),
        key=lambda row: row[1] / max(row[2], 1),
        reverse=True,
    )
    unread = [f"{name}: {reason}" for name, reason in redis_status.queue_errors.items()]
    if over:
        fail(
            "; ".join(
                f"{name} holds {length} entries (max {limit})" for name, length, limit in over
            ),
            evidence=[f"LLEN {n} = {n_len}" for n, n_len in redis_status.queue_lengths.items()]
            + [f"could not read {line}" for line in unread],
            queue=over[0][0],
            queues=", ".join(name for name, _, _ in over),
        )
    if unread:
        if any("NOPERM" in line or "no permissions" in line for line in unread):
            pytest.skip(
                f"queues could not be read ({'; '.join(unread)}); grant read access to"
                f" keys (%R~*) and +llen ({ACL})"
            )
        raise NotEvaluated(f"queues could not be read: {'; '.join(unread)}")


@pytest.mark.runbook("redis-keyspace-empty")
@pytest.mark.requires("min_keys")
def test_key_count(redis_server: Target[RedisTarget], redis_status: RedisStatus) -> None:
    """The selected database holds at least `min_keys` keys (e.g. a session store)."""
    wanted = setting(redis_server.spec.min_keys, "min_keys")
    require(redis_status, "key count unknown")
    if redis_status.dbsize is None:
        reason = redis_status.denied.get("DBSIZE", "no answer")
        pytest.skip(f"the Redis user may not run DBSIZE ({reason}); add +dbsize ({ACL})")
    if redis_status.dbsize < wanted:
        fail(
            f"DBSIZE is {redis_status.dbsize} on db {redis_status.db} (expected at least {wanted})",
            evidence=[
                *(f"{db}: {stats}" for db, stats in redis_status.keyspace().items()),
                f"uptime_in_seconds: {redis_status.text('uptime_in_seconds')}",
                f"rdb_last_save_time: {redis_status.text('rdb_last_save_time')}",
            ],
            dbsize=redis_status.dbsize,
        )


@pytest.mark.runbook("redis-cache-hit-ratio-low")
@pytest.mark.requires("min_cache_hit_ratio")
def test_cache_hit_ratio(redis_server: Target[RedisTarget], redis_status: RedisStatus) -> None:
    """keyspace_hits / (hits + misses), cumulative since start, is at least
    `min_cache_hit_ratio`."""
    wanted = setting(redis_server.spec.min_cache_hit_ratio, "min_cache_hit_ratio")
    _observed(redis_status, "cache hit ratio unknown")
    hits = redis_status.integer("keyspace_hits") or 0
    misses = redis_status.integer("keyspace_misses") or 0
    if hits + misses == 0:
        return  # nothing read yet: no ratio to judge
    ratio = hits / (hits + misses)
    if ratio < wanted:
        fail(
            f"cache hit ratio {percent(ratio)} ({hits} hits, {misses} misses"
            f" {_since_start(redis_status)}; min {percent(wanted)})",
            evidence=[
                f"evicted_keys: {redis_status.text('evicted_keys')}",
                f"expired_keys: {redis_status.text('expired_keys')}",
            ],
            hit_ratio=percent(ratio),
        )
