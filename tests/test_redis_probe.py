"""The Redis probe against real redis-server processes on 127.0.0.1, with real faults."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.connection import PythonRespSerializer

from tests.certs import TestCA
from tests.redisserver import RedisFarm, admin, observe_redis
from tests.servers import Endpoint, HttpServer, free_port
from vigil.environment import load_environment
from vigil.errors import ConfigError
from vigil.families.redis.client import (
    ALLOWED_COMMANDS,
    CommandRefused,
    ReadOnlyRedis,
    ReadOnlyTcp,
)
from vigil.sandbox.redis import MONITOR_USER, monitor_acl_rule
from vigil.session import ProbeSession


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[RedisFarm]:
    with RedisFarm(tmp_path) as started:
        yield started


def test_healthy_server_in_one_visit(farm: RedisFarm) -> None:
    server = farm.healthy(queue_entries=7)
    watcher = admin(server)
    before = int(watcher.info("stats")["total_connections_received"])
    status = observe_redis(
        server.url(), queues={"payment:retry:queue": 100, "missing": 5}, min_keys=1
    )
    assert status.error is None, status.error
    assert len(status.ping_ms) == 5 and all(ms < 100 for ms in status.ping_ms)
    assert status.integer("used_memory") and status.text("role") == "master"
    assert status.maxmemory == 64 * 1024 * 1024
    assert status.maxclients == int(str(watcher.config_get("maxclients")["maxclients"]))
    assert status.limits_source == "CONFIG GET"
    assert status.dbsize == 6 and status.keyspace()["db0"]["keys"] == 6
    assert status.queue_lengths == {"payment:retry:queue": 7, "missing": 0}
    assert status.denied == {}
    assert "redis://vigil-monitor:***@127.0.0.1:" in status.address
    after = int(watcher.info("stats")["total_connections_received"])
    assert after - before == 1  # one connection per server per visit


def test_allow_list_refuses_writes_before_the_socket() -> None:
    packer = ReadOnlyTcp(host="127.0.0.1", port=free_port())  # nothing is connected
    for command in [
        ("SET", "k", "v"),
        ("CONFIG", "SET", "maxmemory", "1"),
        ("CONFIG SET", "maxmemory", "1"),
        ("FLUSHALL",),
        ("del", "k"),
        ("LATENCY", "RESET"),
        ("CLIENT", "KILL", "ID", "1"),
        ("SHUTDOWN",),
        ("EVAL", "return 1", "0"),
    ]:
        with pytest.raises(CommandRefused):
            packer.pack_command(*command)
    assert packer.pack_command("CONFIG", "GET", "maxmemory")
    assert packer.pack_command("LLEN", "payment:retry:queue")
    assert {"PING", "INFO", "CONFIG GET", "DBSIZE", "LLEN", "LATENCY LATEST"} <= ALLOWED_COMMANDS


def test_write_is_refused_by_the_allow_list_and_by_the_acl(farm: RedisFarm) -> None:
    server = farm.healthy()
    client = ReadOnlyRedis(server.url(), timeout_s=2)
    with ProbeSession() as session:
        session.run(client.connect())
        with pytest.raises(CommandRefused):
            session.run(client.execute("SET", "vigil:written", "1"))
        assert session.run(client.execute("PING")) == "PONG"  # the connection is still fine
        stats = admin(server).info("commandstats")
        assert "cmdstat_set" not in stats  # nothing reached the server
        # Even if a write slipped past the allow-list, the server's ACL (deploy/redis-acl.conf)
        # refuses it: send one raw, packed by a plain encoder.
        plain = PythonRespSerializer(6000, lambda v: v if isinstance(v, bytes) else str(v).encode())
        packed = plain.pack("SET", "vigil:written", "1")  # type: ignore[no-untyped-call]
        session.run(client.connection.send_packed_command(packed))
        with pytest.raises(redis.exceptions.NoPermissionError):
            session.run(client.connection.read_response())
        session.run(client.close())
    assert admin(server).exists("vigil:written") == 0


def test_config_refused_falls_back_to_info(farm: RedisFarm) -> None:
    server = farm.start({"maxmemory": "32mb", "maxclients": "500"})
    with server.client() as client:  # a managed-Redis-like user: no CONFIG at all
        client.acl_setuser(
            "managed",
            enabled=True,
            passwords=["+pw-managed"],
            keys=["%R~*"],
            commands=["-@all", "+ping", "+info", "+dbsize", "+llen"],
        )
    status = observe_redis(server.url("managed", "pw-managed"))
    assert status.error is None
    assert status.maxmemory == 32 * 1024 * 1024 and status.maxclients == 500
    assert status.limits_source.startswith("INFO (CONFIG GET was refused: ")
    assert "CONFIG GET" in status.denied and "LATENCY LATEST" in status.denied


def test_refused_port() -> None:
    port = free_port()
    status = observe_redis(f"redis://127.0.0.1:{port}/0")
    assert status.failure == "refused"
    assert (
        status.error
        == f"connection refused by 127.0.0.1:{port} (nothing is listening on that port)"
    )


def test_wrong_password_is_an_auth_failure_without_the_password(farm: RedisFarm) -> None:
    server = farm.healthy()
    status = observe_redis(server.url(password="not-the-password-123"))
    assert status.failure == "auth", status.error
    assert f"authentication as user '{MONITOR_USER}' failed" in (status.error or "")
    assert "not-the-password-123" not in (status.error or "") + status.address


def test_password_required_but_not_given(farm: RedisFarm) -> None:
    server = farm.start({"requirepass": "secret-default-pw"})
    status = observe_redis(server.url(user=None))
    assert status.failure == "auth", status.error


def test_http_server_is_not_redis(http_server: Callable[..., HttpServer]) -> None:
    web = http_server({"/": Endpoint(200, {})})
    status = observe_redis(f"redis://127.0.0.1:{web.port}/0")
    assert status.failure == "protocol", status.error
    # The HTTP server answers an error page and closes; depending on timing the client reads
    # the page or sees the connection end first. Either way: not a Redis server.
    assert "not a Redis server" in (status.error or "")


def test_garbage_is_not_redis(farm: RedisFarm) -> None:
    status = observe_redis(f"redis://127.0.0.1:{farm.garbage()}/0")
    assert status.failure == "protocol", status.error


def test_port_that_never_answers_ends_within_the_timeout(farm: RedisFarm) -> None:
    port = farm.silent()
    started = time.monotonic()
    status = observe_redis(f"redis://127.0.0.1:{port}/0", timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    assert status.failure == "timeout"
    assert status.error == (
        f"no answer within 0.5 s from 127.0.0.1:{port}"
        " (the port accepts connections but the server does not answer in time)"
        " (is the port TLS? check redis:// vs rediss://)"
    )


def test_slow_server_cannot_stretch_the_visit_past_the_timeout(farm: RedisFarm) -> None:
    port = farm.delayed(farm.healthy().port, delay_s=0.1)
    started = time.monotonic()
    status = observe_redis(f"redis://127.0.0.1:{port}/0", timeout_s=0.6)
    # ~12 round trips of 0.2 s would take 2.4 s; the visit ends at its total timeout.
    assert time.monotonic() - started < 1.8
    assert status.failure == "timeout"
    assert status.error == (
        f"no answer within 0.6 s from 127.0.0.1:{port}"
        " (the port accepts connections but the server does not answer in time)"
        " (is the port TLS? check redis:// vs rediss://)"
    )


def test_loading_dataset(farm: RedisFarm) -> None:
    server = farm.loading()
    status = observe_redis(server.url())
    assert status.failure == "loading", status.error
    assert "is loading its dataset into memory (LOADING)" in (status.error or "")
    assert "% loaded" in (status.error or "")


@pytest.mark.parametrize("user", [MONITOR_USER, None])
def test_maxclients_reached(farm: RedisFarm, user: str | None) -> None:
    server = farm.crowded()
    with socket_holding(server.port):
        status = observe_redis(server.url(user))
    assert status.failure == "maxclients", status.error


def test_tls_with_ca_bundle(farm: RedisFarm) -> None:
    server, bundle = farm.tls(TestCA())
    trusted = observe_redis(server.url(), ca_bundle=str(bundle))
    assert trusted.error is None and trusted.text("role") == "master"
    untrusted = observe_redis(server.url())
    assert untrusted.failure == "tls", untrusted.error
    plain = observe_redis(server.url().replace("rediss://", "redis://"), 0.5)
    assert plain.error is not None


class socket_holding:
    """Hold one extra connection open, taking the last free client slot."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port))

    def __enter__(self) -> None:
        self.socket.sendall(b"PING\r\n")
        assert self.socket.recv(64).startswith(b"+PONG")

    def __exit__(self, *exc: object) -> None:
        self.socket.close()


def test_latency_spikes_are_read(farm: RedisFarm) -> None:
    server = farm.start({"latency-monitor-threshold": "10"})
    with server.client() as client:  # a script that keeps the server busy for a while
        client.eval("local i = 0 while i < 5000000 do i = i + 1 end return i", 0)
    status = observe_redis(server.url())
    assert status.error is None
    events = {event.event: event for event in status.latency_events}
    assert "command" in events and events["command"].max_ms >= 10


def test_acl_file_grants_exactly_what_the_probe_sends() -> None:
    rule = monitor_acl_rule("pw")
    granted = {word[1:].replace("|", " ").upper() for word in rule.split() if word[0] == "+"}
    assert granted == ALLOWED_COMMANDS - {"AUTH"}  # AUTH needs no grant
    assert " -@all " in rule and " %R~* " in rule and " >pw " in rule
    assert "setinfo" not in rule.lower()


def test_url_must_name_a_redis_scheme(tmp_path: Path) -> None:
    env = tmp_path / "bad.yaml"
    env.write_text("redis:\n  - name: cache\n    url: http://user:hunter2@127.0.0.1:6379\n")
    with pytest.raises(ConfigError) as caught:
        load_environment(env, {})
    message = str(caught.value)
    assert "redis[0].url: must start with redis://, rediss:// or unix://" in message
    assert "hunter2" not in message
