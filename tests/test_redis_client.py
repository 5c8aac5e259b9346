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
import trustme

from tests.redisserver import GarbageServer, RedisFarm, redis_target
from vigil.families.redis.probe import TLS_HINT, ReadOnlyRedis, no_client_setinfo, observe_server
from vigil.sandbox.redis import RedisServer


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[RedisFarm]:
    started = RedisFarm(tmp_path)
    yield started
    started.close()


def tls_server(farm: RedisFarm, directory: Path) -> tuple[RedisServer, str]:
    """A Redis serving only TLS, with its private CA's bundle."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = {name: directory / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    settings = {
        "tls-cert-file": str(files["cert"]),
        "tls-key-file": str(files["key"]),
        "tls-ca-cert-file": str(files["ca"]),
        "tls-auth-clients": "no",
    }
    return farm.start(settings, tls=True), str(files["ca"])


def test_rediss_to_a_plain_port_says_so(farm: RedisFarm) -> None:
    plain = farm.healthy()
    started = time.monotonic()
    status = observe_server(
        redis_target(plain.url().replace("redis://", "rediss://"), timeout_s=0.5)
    )
    assert time.monotonic() - started < 1.5
    assert status.failure == "timeout"
    assert status.error == (
        f"connection to 127.0.0.1:{plain.port} timed out after 0.5 s"
        " (is the port TLS? check redis:// vs rediss://)"
    )


def test_redis_to_a_tls_port_says_so(farm: RedisFarm, tmp_path: Path) -> None:
    server, _ = tls_server(farm, tmp_path)
    status = observe_server(
        redis_target(server.url().replace("rediss://", "redis://"), timeout_s=0.5)
    )
    assert status.error is not None and status.error.endswith(TLS_HINT), status.error


def test_untrusted_certificate_is_not_called_a_mismatch(farm: RedisFarm, tmp_path: Path) -> None:
    server, bundle = tls_server(farm, tmp_path)
    assert observe_server(redis_target(server.url(), ca_bundle=bundle)).error is None
    untrusted = observe_server(redis_target(server.url()))
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
        status = observe_server(redis_target(f"redis://127.0.0.1:{odd.port}/0", timeout_s=1))
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
    assert no_client_setinfo(redis.Connection) == {"driver_info": None}
    assert no_client_setinfo(redis.SSLConnection) == {"driver_info": None}
    old = Redis5Connection(**no_client_setinfo(Redis5Connection))  # type: ignore[arg-type]
    assert old.lib_name is None and old.lib_version is None


def test_no_deprecated_argument_reaches_redis_py(farm: RedisFarm) -> None:
    server = farm.healthy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = ReadOnlyRedis(server.url(), timeout_s=1)
        client.connect()  # the allow-list would refuse CLIENT SETINFO if it were sent
        client.close()
    assert client.connection.driver_info is None
    assert [str(w.message) for w in caught] == []
