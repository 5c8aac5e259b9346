"""The Redis probe's edges: a TLS / plain mismatch is named, an answer no Redis sends is an
observation error rather than a traceback, and the client library's CLIENT SETINFO stays off
on every redis-py release the probe supports."""

from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from tests.certs import TestCA
from tests.redisserver import GarbageServer, RedisFarm, observe_redis
from vigil.families.redis.client import ReadOnlyRedis, no_client_setinfo
from vigil.families.redis.probe import TLS_HINT
from vigil.session import ProbeSession


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[RedisFarm]:
    with RedisFarm(tmp_path) as started:
        yield started


def test_rediss_to_a_plain_port_says_so(farm: RedisFarm) -> None:
    plain = farm.healthy()
    started = time.monotonic()
    status = observe_redis(plain.url().replace("redis://", "rediss://"), timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    assert status.failure == "timeout"
    # The plain port reads the ClientHello as the start of a command and waits for the rest:
    # the handshake never ends, and the total timeout names the likely mix-up.
    assert status.error == (
        f"no answer within 0.5 s from 127.0.0.1:{plain.port}"
        " (the port accepts connections but the server does not answer in time)"
        " (is the port TLS? check redis:// vs rediss://)"
    )


def test_redis_to_a_tls_port_says_so(farm: RedisFarm) -> None:
    server, _ = farm.tls(TestCA())
    status = observe_redis(server.url().replace("rediss://", "redis://"), timeout_s=0.5)
    assert status.error is not None and status.error.endswith(TLS_HINT), status.error


def test_untrusted_certificate_is_not_called_a_mismatch(farm: RedisFarm) -> None:
    server, bundle = farm.tls(TestCA())
    assert observe_redis(server.url(), ca_bundle=str(bundle)).error is None
    untrusted = observe_redis(server.url())
    assert untrusted.failure == "tls" and "certificate" in (untrusted.error or "")
    assert TLS_HINT not in (untrusted.error or "")


class OddServer(GarbageServer):
    """Speaks RESP, but answers every command with the simple string `many`."""

    def answer(self, connection: socket.socket) -> None:
        # The probe sends one command and waits for its answer before the next.
        while connection.recv(65536):
            connection.sendall(b"+many\r\n")


def test_an_answer_no_redis_sends_is_an_observation_error() -> None:
    odd = OddServer()
    try:
        status = observe_redis(f"redis://127.0.0.1:{odd.port}/0", timeout_s=1)
    finally:
        odd.close()
    assert status.failure == "other"
    assert status.error is not None
    assert status.error.startswith(f"unexpected failure while reading 127.0.0.1:{odd.port}:")
    assert "ValueError" in status.error  # DBSIZE answered `many`


class Redis5Connection:
    """The constructor of redis-py 5.0, which has no `driver_info`."""

    def __init__(
        self,
        host: str = "localhost",
        port: int = 6379,
        *,
        lib_name: str | None = "redis-py",
        lib_version: str | None = None,
        protocol: int = 2,
    ) -> None:
        self.lib_name, self.lib_version = lib_name, lib_version


def test_client_setinfo_is_off_on_every_supported_redis_py() -> None:
    assert no_client_setinfo(redis.asyncio.Connection) == {"driver_info": None}
    assert no_client_setinfo(redis.asyncio.SSLConnection) == {"driver_info": None}
    old = Redis5Connection(**no_client_setinfo(Redis5Connection))  # type: ignore[arg-type]
    assert old.lib_name is None and old.lib_version is None


def test_no_deprecated_argument_reaches_redis_py(farm: RedisFarm) -> None:
    server = farm.healthy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = ReadOnlyRedis(server.url(), timeout_s=1)
        with ProbeSession() as session:
            session.run(client.connect())  # the allow-list would refuse CLIENT SETINFO
            session.run(client.close())
    assert client.connection.driver_info is None
    assert [str(w.message) for w in caught] == []
