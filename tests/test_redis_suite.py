"""End to end: `pytest checks -m redis` in a subprocess against real Redis servers with real
faults, once as the least-privilege user of deploy/redis-acl.conf and once as the default
(administrative) user: the same checks fail, for the same reasons."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import SuiteRun, write_env
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
def farm(tmp_path: Path) -> Iterator[RedisFarm]:
    started = RedisFarm(tmp_path)
    yield started
    started.close()


class Platform:
    """Servers in known states, and the environment file describing them."""

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
        # Two free slots: under xdist each worker may visit the server at the same time.
        self.crowded = farm.crowded(free=2)
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

    def env(self, admin: bool) -> str:
        def url(server: RedisServer, port: int | None = None) -> str:
            text = server.url(user=None) if admin else server.url()
            return text if port is None else text.replace(f":{server.port}/", f":{port}/")

        healthy = self.healthy
        return f"""
runbook_url: https://runbooks.example.com/platform
vars: {{namespace: shop, context: test}}
timeout_s: 1
redis:
  - name: healthy
    url: {url(healthy)}
    role: primary
    min_replicas: 1
    max_latency_ms: 50
    min_keys: 1
    queues: {{"payment:retry:queue": 100}}
    max_save_age_h: 48
  - name: stale
    url: {url(self.stale)}
    max_save_age_h: 0.0001
  - name: full
    url: {url(self.full)}
  - name: backlog
    url: {url(self.backlog)}
    queues: {{"payment:retry:queue": 100, "email:queue": 10}}
  - name: empty
    url: {url(self.empty)}
    min_keys: 1
  - name: cold
    url: {url(self.cold)}
    min_cache_hit_ratio: 0.8
  - name: unsaved
    url: {url(self.unsaved)}
  - name: crowded
    url: {url(self.crowded)}
    max_clients_usage: 0.8
  - name: replica
    url: {url(self.replica)}
    role: replica
  - name: orphan
    url: {url(self.orphan)}
    role: replica
  - name: loading
    url: {url(self.loading)}
  - name: slow
    url: {url(healthy, self.slow_port)}
    max_latency_ms: 20
    timeout_s: 5  # a dozen 60 ms round trips must not hit the timeout on a busy machine
  - name: wrong-password
    url: {healthy.url(password="wrong-password-0123")}
  - name: not-redis
    url: redis://127.0.0.1:{self.web_port}/0
  - name: garbage
    url: redis://127.0.0.1:{self.garbage_port}/0
  - name: silent
    url: redis://127.0.0.1:{self.silent_port}/0
  - name: refused
    url: redis://127.0.0.1:{self.refused_port}/0
"""


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
    return {
        f"{check}[{env}/{name}]": "failed" if (check, name) in EXPECTED_FAILURES else "passed"
        for name in NAMES
        for check in _collected(name)
    }


@pytest.fixture
def platform(farm: RedisFarm, http_server: Callable[..., HttpServer]) -> Platform:
    return Platform(farm, http_server({"/": Endpoint(200, {})}))


def test_exactly_the_faulty_checks_fail_as_the_acl_user_and_as_admin(
    run_suite: Callable[..., SuiteRun], platform: Platform, tmp_path: Path
) -> None:
    least = write_env(tmp_path, "least", platform.env(admin=False))
    admin = write_env(tmp_path, "admin", platform.env(admin=True))
    run = run_suite("-m", "redis", "--env", str(least), "--env", str(admin), "-n", "2")
    assert run.returncode == 1, run.output
    outcomes = run.outcomes()
    assert {k: v for k, v in outcomes.items() if "[least/" in k} == expected_outcomes("least")
    assert {k: v for k, v in outcomes.items() if "[admin/" in k} == expected_outcomes("admin")
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

    secrets = {server.monitor_password for server in platform.servers} | {"wrong-password-0123"}
    assert run.junit is not None
    junit_text = ET.tostring(run.junit, encoding="unicode")
    for secret in secrets:
        assert secret not in out
        assert secret not in junit_text


def test_junit_carries_the_redis_remediation(
    run_suite: Callable[..., SuiteRun], farm: RedisFarm, tmp_path: Path
) -> None:
    server = farm.healthy(queue_entries=150)
    env = write_env(
        tmp_path,
        "queues",
        f"vars: {{namespace: shop, deployment: payment-worker}}\nredis:\n  - name: jobs\n"
        f"    url: {server.url()}\n    queues: {{'payment:retry:queue': 100}}\n",
    )
    run = run_suite("-m", "redis", "--env", str(env), "-k", "queue_lengths")
    assert run.failed() == {"test_queue_lengths[queues/jobs]"}, run.output
    assert run.junit is not None
    case = next(c for c in run.junit.iter("testcase") if c.get("name", "").endswith("jobs]"))
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["runbook"] == "redis-queue-backlog" and props["severity"] == "sev2"
    assert "kubectl rollout restart deployment/payment-worker -n shop" in str(props["remediation"])
    failure = case.find("failure")
    assert failure is not None and "LLEN payment:retry:queue" in (failure.text or "")


def test_missing_permissions_skip_with_what_to_grant(
    run_suite: Callable[..., SuiteRun], farm: RedisFarm, tmp_path: Path
) -> None:
    server = farm.healthy()
    with server.client() as client:  # may PING and nothing else
        client.acl_setuser(
            "pinger", enabled=True, passwords=["+pinger-pw-1"], commands=["-@all", "+ping"]
        )
    env = write_env(
        tmp_path,
        "limited",
        f"redis:\n  - name: cache\n    url: {server.url('pinger', 'pinger-pw-1')}\n"
        f"    min_keys: 1\n    queues: {{'payment:retry:queue': 100}}\n",
    )
    run = run_suite("-m", "redis", "--env", str(env), "-rs")
    outcomes = run.outcomes()
    assert outcomes.pop("test_ping[limited/cache]") == "passed"
    assert set(outcomes.values()) == {"skipped"}, run.output
    assert "add +info to its ACL (deploy/redis-acl.conf)" in run.output
    assert "add +dbsize" in run.output
    assert "grant read access to keys (%R~*) and +llen" in run.output
    assert "pinger-pw-1" not in run.output


def test_no_maxmemory_is_judged_against_host_memory(
    run_suite: Callable[..., SuiteRun], farm: RedisFarm, tmp_path: Path
) -> None:
    server = farm.start()  # maxmemory 0: no limit
    env = write_env(
        tmp_path,
        "nolimit",
        f"redis:\n  - name: tight\n    url: {server.url()}\n    max_memory_usage: 0.00001\n"
        f"  - name: roomy\n    url: {server.url()}\n",
    )
    run = run_suite("--env", str(env), "-k", "memory_usage")
    assert run.outcomes() == {
        "test_memory_usage[nolimit/tight]": "failed",
        "test_memory_usage[nolimit/roomy]": "passed",
    }
    assert "no maxmemory limit is set (maxmemory 0)" in run.output
    assert "of the host's total_system_memory" in run.output
    assert "compared with total_system_memory instead" in run.output  # the passing one says so
