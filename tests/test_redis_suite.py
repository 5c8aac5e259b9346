"""End to end: `pytest checks -m redis` against real Redis servers with real faults, once as the
least-privilege user of deploy/redis-acl.conf and once as the default (administrative) user:
the same checks fail, for the same reasons."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SuiteRun
from tests.platform_ import Platform, assert_secret_free, expect, in_environment
from tests.redisserver import RedisFarm
from tests.servers import Endpoint, HttpServer, free_port
from vigil.sandbox.redis import RedisServer

CHECKS: dict[str, dict[str, str]] = {
    "test_ping": {},
    "test_memory_usage": {},
    "test_no_evictions": {},
    "test_no_rejected_connections": {},
    "test_client_connections": {},
    "test_persistence": {},
}


@pytest.fixture
def platform(run_suite: Callable[..., SuiteRun], tmp_path: Path) -> Iterator[Platform]:
    with Platform(run_suite, tmp_path) as started:
        yield started


@pytest.fixture
def farm(platform: Platform, tmp_path: Path) -> RedisFarm:
    return platform.hold(RedisFarm(tmp_path))


class Faults:
    """Redis servers in known states, one per fault, and the targets that describe them."""

    def __init__(self, farm: RedisFarm, web: HttpServer) -> None:
        self.stale = farm.start()  # first: its unsaved change ages while the rest starts
        with self.stale.client() as client:
            client.set("order:1", "paid")
        self.healthy = farm.healthy()
        self.full = farm.full()
        self.backlog = farm.healthy(queue_entries=150)
        self.empty = farm.start()
        self.cold = farm.start()  # a cache that misses: 1 hit, 9 misses
        with self.cold.client() as client:
            client.set("page:1", "cached")
            for key in ["page:1", *(f"page:{n}" for n in range(2, 11))]:
                client.get(key)
        self.unsaved = farm.failed_save()
        # Four free slots: the run is under `-n 2`, and each worker's probe process visits
        # every target of both environments, so up to four visits may overlap. With fewer,
        # a visit rejected for max clients made one worker see the server unreachable while
        # the other saw it answer.
        self.crowded = farm.crowded(free=4)
        self.replica = farm.replica_of(self.healthy.port)
        self.orphan = farm.replica_of(free_port(), wait_up=False)
        self.loading = farm.loading()
        self.slow_port = farm.delayed(self.healthy.port, delay_s=0.03)
        self.garbage_port = farm.garbage()
        self.silent_port = farm.silent()
        self.web_port = web.port
        self.refused_port = free_port()
        self.servers = [
            self.stale,
            self.healthy,
            self.full,
            self.backlog,
            self.empty,
            self.cold,
            self.unsaved,
            self.crowded,
            self.replica,
            self.orphan,
            self.loading,
        ]

    def targets(self, admin: bool) -> list[dict[str, Any]]:
        """The `redis:` section: as the monitoring user, or as the default user (`admin`)."""

        def url(server: RedisServer, port: int | None = None) -> str:
            text = server.url(user=None) if admin else server.url()
            return text if port is None else text.replace(f":{server.port}/", f":{port}/")

        healthy = self.healthy
        return [
            {"name": "healthy", "url": url(healthy), "role": "primary", "min_replicas": 1,
             "max_latency_ms": 50, "min_keys": 1, "queues": {"payment:retry:queue": 100},
             "max_save_age_h": 48},
            {"name": "stale", "url": url(self.stale), "max_save_age_h": 0.0001},
            {"name": "full", "url": url(self.full)},
            {"name": "backlog", "url": url(self.backlog),
             "queues": {"payment:retry:queue": 100, "email:queue": 10}},
            {"name": "empty", "url": url(self.empty), "min_keys": 1},
            {"name": "cold", "url": url(self.cold), "min_cache_hit_ratio": 0.8},
            {"name": "unsaved", "url": url(self.unsaved)},
            {"name": "crowded", "url": url(self.crowded), "max_clients_usage": 0.6},
            {"name": "replica", "url": url(self.replica), "role": "replica"},
            {"name": "orphan", "url": url(self.orphan), "role": "replica"},
            {"name": "loading", "url": url(self.loading)},
            # A dozen 60 ms round trips must not hit the timeout on a busy machine.
            {"name": "slow", "url": url(healthy, self.slow_port), "max_latency_ms": 20,
             "timeout_s": 5},
            {"name": "wrong-password", "url": healthy.url(password="wrong-password-0123")},
            {"name": "not-redis", "url": f"redis://127.0.0.1:{self.web_port}/0"},
            {"name": "garbage", "url": f"redis://127.0.0.1:{self.garbage_port}/0"},
            {"name": "silent", "url": f"redis://127.0.0.1:{self.silent_port}/0"},
            {"name": "refused", "url": f"redis://127.0.0.1:{self.refused_port}/0"},
        ]  # fmt: skip


UNREACHABLE = ["loading", "wrong-password", "not-redis", "garbage", "silent", "refused"]
EXPECTED_FAILURES = {
    ("test_memory_usage", "full"),
    ("test_no_evictions", "full"),
    ("test_queue_lengths", "backlog"),
    ("test_key_count", "empty"),
    ("test_cache_hit_ratio", "cold"),
    ("test_persistence", "unsaved"),
    ("test_persistence", "stale"),
    ("test_no_rejected_connections", "crowded"),
    ("test_client_connections", "crowded"),
    ("test_replication", "orphan"),
    ("test_ping_latency", "slow"),
    *((check, name) for check in CHECKS for name in UNREACHABLE),
}


def _collected(name: str) -> set[str]:
    extra = {
        "healthy": {
            "test_replication",
            "test_ping_latency",
            "test_key_count",
            "test_queue_lengths",
        },
        "backlog": {"test_queue_lengths"},
        "empty": {"test_key_count"},
        "cold": {"test_cache_hit_ratio"},
        "replica": {"test_replication"},
        "orphan": {"test_replication"},
        "slow": {"test_ping_latency"},
    }
    return set(CHECKS) | extra.get(name, set())


NAMES = [
    "healthy",
    "stale",
    "full",
    "backlog",
    "empty",
    "cold",
    "unsaved",
    "crowded",
    "replica",
    "orphan",
    "loading",
    "slow",
    "wrong-password",
    "not-redis",
    "garbage",
    "silent",
    "refused",
]


def expected_outcomes(env: str) -> dict[str, str]:
    return expect(
        env,
        {
            name: {
                check: "failed" if (check, name) in EXPECTED_FAILURES else "passed"
                for check in _collected(name)
            }
            for name in NAMES
        },
    )


def test_exactly_the_faulty_checks_fail_as_the_acl_user_and_as_admin(
    platform: Platform, farm: RedisFarm, http_server: Callable[..., HttpServer]
) -> None:
    faults = Faults(farm, http_server({"/": Endpoint(200, {})}))
    least = platform.environment("least", "redis", faults.targets(admin=False), timeout_s=1)
    admin = platform.environment("admin", "redis", faults.targets(admin=True), timeout_s=1)
    run = platform.run("redis", least, admin, args=["-n", "2"])
    assert run.returncode == 1, run.output
    assert in_environment(run, "least") == expected_outcomes("least")
    assert in_environment(run, "admin") == expected_outcomes("admin")
    assert run.seconds < 30, run.seconds

    out = run.output
    for expected in [
        "is loading its dataset into memory (LOADING)",
        "authentication as user 'vigil-monitor' failed",
        "not a Redis server",
        "no answer within 1 s from 127.0.0.1:",
        "(nothing is listening on that port)",
        "of maxmemory 4.0 MiB (max 90%)",
        "keys evicted since the server started",
        "payment:retry:queue holds 150 entries (max 100)",
        "DBSIZE is 0 on db 0 (expected at least 1)",
        "cache hit ratio 10% (1 hits, 9 misses since the server started",
        "persistence failing: rdb_last_bgsave_status is err",
        "with 1 unsaved changes (max 0.0001 h)",
        "of 10 client connections in use (",
        "connections rejected since the server started",
        "link to primary 127.0.0.1:",
        "median PING round trip",
        "runbook:  redis-queue-backlog - Redis queue backlog (sev2)",
        'redis-cli -u "redis://vigil-monitor:***@127.0.0.1:',
        "LLEN payment:retry:queue",
        "link:     https://runbooks.example.com/platform#redis-down",
    ]:
        assert expected in out, expected

    secrets = {server.monitor_password for server in faults.servers} | {"wrong-password-0123"}
    assert_secret_free(run, secrets)


def test_junit_carries_the_redis_remediation(platform: Platform, farm: RedisFarm) -> None:
    server = farm.healthy(queue_entries=150)
    env = platform.environment(
        "queues",
        "redis",
        [{"name": "jobs", "url": server.url(), "queues": {"payment:retry:queue": 100}}],
        variables={"namespace": "shop", "deployment": "payment-worker"},
    )
    run = platform.run("redis", env, args=["-k", "queue_lengths"])
    assert run.failed() == {"test_queue_lengths[queues/jobs]"}, run.output
    assert run.junit is not None
    case = next(c for c in run.junit.iter("testcase") if c.get("name", "").endswith("jobs]"))
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["runbook"] == "redis-queue-backlog" and props["severity"] == "sev2"
    assert "kubectl rollout restart deployment/payment-worker -n shop" in str(props["remediation"])
    failure = case.find("failure")
    assert failure is not None and "LLEN payment:retry:queue" in (failure.text or "")


def test_missing_permissions_skip_with_what_to_grant(platform: Platform, farm: RedisFarm) -> None:
    server = farm.healthy()
    with server.client() as client:  # may PING and nothing else
        client.acl_setuser(
            "pinger", enabled=True, passwords=["+pinger-pw-1"], commands=["-@all", "+ping"]
        )
    cache = {
        "name": "cache",
        "url": server.url("pinger", "pinger-pw-1"),
        "min_keys": 1,
        "queues": {"payment:retry:queue": 100},
    }
    run = platform.run("redis", platform.environment("limited", "redis", [cache]), args=["-rs"])
    outcomes = run.outcomes()
    assert outcomes.pop("test_ping[limited/cache]") == "passed"
    assert set(outcomes.values()) == {"skipped"}, run.output
    assert "add +info to its ACL (deploy/redis-acl.conf)" in run.output
    assert "add +dbsize" in run.output
    assert "grant read access to keys (%R~*) and +llen" in run.output
    assert_secret_free(run, {"pinger-pw-1"})


def test_no_maxmemory_is_judged_against_host_memory(platform: Platform, farm: RedisFarm) -> None:
    server = farm.start()  # maxmemory 0: no limit
    env = platform.environment(
        "nolimit",
        "redis",
        [
            {"name": "tight", "url": server.url(), "max_memory_usage": 0.00001},
            {"name": "roomy", "url": server.url()},
        ],
    )
    run = platform.run("redis", env, args=["-k", "memory_usage"])
    assert run.outcomes() == {
        "test_memory_usage[nolimit/tight]": "failed",
        "test_memory_usage[nolimit/roomy]": "passed",
    }, run.output[-3000:]
    assert "no maxmemory limit is set (maxmemory 0)" in run.output
    assert "of the host's total_system_memory" in run.output
    assert "compared with total_system_memory instead" in run.output  # the passing one says so
