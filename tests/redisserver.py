"""Real Redis servers and Redis-shaped faults on 127.0.0.1 for the tests.

`RedisFarm` starts redis-server processes through the sandbox's `RedisServer` (the start-up
logic exists once) in a test's temporary directory and stops them all at the end. It also
produces the faults the checks look for: memory filled until keys are evicted, a long queue,
a failed background save, a broken replica link, exhausted client slots, a dataset that is
still LOADING, a link slowed by a delaying proxy, and ports where something other than Redis
answers; and a TLS-only server with a certificate of the tests' CA (tests/certs.py).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import redis

from tests.certs import TestCA, in_days
from tests.probing import observe, targets_of
from tests.servers import SilentPort
from vigil.environment import build_environment
from vigil.families.redis.probe import RedisStatus
from vigil.families.redis.spec import RedisTarget
from vigil.sandbox.redis import RedisServer, fill_cache
from vigil.targets import Target


class RedisFarm:
    """Starts servers under `directory`; `close()` stops every server and helper it started."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.servers: list[RedisServer] = []
        self.closers: list[Any] = []

    def start(
        self, settings: dict[str, str] | None = None, *, tls: bool = False, wait_ready: bool = True
    ) -> RedisServer:
        server = RedisServer(self.directory / f"redis-{len(self.servers)}", settings, tls=tls)
        self.servers.append(server)
        return server.start(wait_ready=wait_ready)

    def tls(self, ca: TestCA) -> tuple[RedisServer, Path]:
        """A server speaking only TLS, with a certificate of `ca` for 127.0.0.1; and the CA's
        bundle (what `ca_bundle:` points at)."""
        directory = self.directory / f"tls-{len(self.servers)}"
        directory.mkdir(parents=True)
        cert, key = ca.issue(["127.0.0.1"], not_after=in_days(90)).write(directory, "server")
        bundle = ca.bundle(directory)
        settings = {
            "tls-cert-file": str(cert),
            "tls-key-file": str(key),
            "tls-ca-cert-file": str(bundle),
            "tls-auth-clients": "no",
        }
        return self.start(settings, tls=True), bundle

    def healthy(self, queue_entries: int = 2) -> RedisServer:
        """Keys present, a short queue, far from every limit."""
        # A primary syncs a new replica at once instead of waiting 5 s for others to join.
        server = self.start(
            {
                "maxmemory": "64mb",
                "maxmemory-policy": "allkeys-lru",
                "repl-diskless-sync-delay": "0",
            }
        )
        with server.client() as client:
            client.mset({f"session:{n}": "user" for n in range(5)})
            if queue_entries:
                client.rpush("payment:retry:queue", *range(queue_entries))
        return server

    def full(self) -> RedisServer:
        """maxmemory 4 MiB with allkeys-lru, written past it: memory near the limit, evictions."""
        server = self.start({"maxmemory": "4mb", "maxmemory-policy": "allkeys-lru"})
        with server.client() as client:
            fill_cache(client, keys=120)
            assert int(client.info("stats")["evicted_keys"]) > 0
        return server

    def failed_save(self) -> RedisServer:
        """A background save that failed for real: its data directory vanished."""
        data = self.directory / f"data-{len(self.servers)}"
        data.mkdir()
        server = self.start({"dir": str(data)})
        shutil.rmtree(data)
        with server.client() as client:
            client.set("order:1", "paid")
            client.bgsave()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                persistence = client.info("persistence")
                if not persistence["rdb_bgsave_in_progress"]:
                    break
                time.sleep(0.02)
            assert persistence["rdb_last_bgsave_status"] == "err", persistence
        return server

    def replica_of(self, primary_port: int, *, wait_up: bool = True) -> RedisServer:
        """A replica of 127.0.0.1:`primary_port`; with `wait_up`, once its link is up."""
        server = self.start({"replicaof": f"127.0.0.1 {primary_port}"})
        deadline = time.monotonic() + 10
        with server.client() as client:
            while wait_up and client.info("replication")["master_link_status"] != "up":
                assert time.monotonic() < deadline, "replica did not sync"
                time.sleep(0.02)
        return server

    def crowded(self, maxclients: int = 10, free: int = 1) -> RedisServer:
        """Every client slot but `free` taken, after one connection was actually rejected."""
        server = self.start({"maxclients": str(maxclients)})
        held = [socket.create_connection(("127.0.0.1", server.port))]

        def close_held() -> None:
            for held_socket in held:
                held_socket.close()

        self.closers.append(close_held)
        _wait_for_clients(held[0], 1)  # start-up probes of the port are gone
        while True:
            connection = socket.create_connection(("127.0.0.1", server.port))
            connection.sendall(b"PING\r\n")
            if b"max number of clients" in connection.recv(256):
                connection.close()
                break
            held.append(connection)
            assert len(held) <= maxclients
        for _ in range(free):
            held.pop().close()
        _wait_for_clients(held[0], maxclients - free)
        return server

    def loading(self, keys: int = 20000, delay_us: int = 1000) -> RedisServer:
        """A server that answers LOADING for about keys x delay_us: a real RDB loaded slowly.

        Values of 100 bytes put about ten keys in each 1 KiB between two rounds of event
        processing, so the server answers (LOADING) within about 10 ms meanwhile."""
        source = self.start()
        with source.client() as client:
            pipe = client.pipeline(transaction=False)
            for n in range(keys):
                pipe.set(f"k{n}", "v" * 100)
            pipe.execute()
            client.save()
        source.stop()
        server = RedisServer(
            source.directory,
            {"key-load-delay": str(delay_us), "loading-process-events-interval-bytes": "1024"},
        )
        self.servers.append(server)
        server.start(wait_ready=False)
        deadline = time.monotonic() + 5
        while "Loading RDB" not in server.log.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        return server

    def delayed(self, port: int, delay_s: float) -> int:
        """A proxy to 127.0.0.1:`port` that delays every chunk by `delay_s`; its port."""
        proxy = DelayProxy(port, delay_s)
        self.closers.append(proxy.close)
        return proxy.port

    def garbage(self) -> int:
        """A port that answers any connection with bytes that are not Redis protocol."""
        server = GarbageServer()
        self.closers.append(server.close)
        return server.port

    def silent(self) -> int:
        port = SilentPort()
        self.closers.append(port.close)
        return int(port.port)

    def close(self) -> None:
        for closer in self.closers:
            closer()
        for server in self.servers:
            server.stop()

    def __enter__(self) -> RedisFarm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class DelayProxy:
    """A TCP proxy on 127.0.0.1 adding `delay_s` to every chunk in both directions."""

    def __init__(self, target_port: int, delay_s: float) -> None:
        self.target_port = target_port
        self.delay_s = delay_s
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                time.sleep(self.delay_s)
                sink.sendall(chunk)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for end in self.sockets:
            end.close()


class GarbageServer:
    """Answers every connection with a line that is not Redis protocol, then closes it."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                self.answer(connection)

    def answer(self, connection: socket.socket) -> None:
        connection.sendall(b"\x16\x03garbage that is not RESP\r\n")

    def close(self) -> None:
        self.listener.close()


def _wait_for_clients(connection: socket.socket, count: int) -> None:
    """Ask over a raw connection until the server counts exactly `count` clients."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        connection.sendall(b"INFO clients\r\n")
        answer = connection.recv(65536).decode()
        if f"connected_clients:{count}\r" in answer:
            return
        time.sleep(0.02)
    raise AssertionError(f"the server never counted {count} clients")


def redis_target(url: str, timeout_s: float = 2, **settings: Any) -> Target[RedisTarget]:
    """A Redis target as an environment file would give it."""
    settings = {"timeout_s": timeout_s, "redis": [{"name": "cache", "url": url, **settings}]}
    environment = build_environment(settings, {}, "test.yaml", "test")
    return targets_of("redis_server", environment)[0]


def observe_redis(url: str, timeout_s: float = 2, **settings: Any) -> RedisStatus:
    """What the probe sees of the Redis at `url`, observed as a run observes it (through a
    probe session, within the target's total timeout)."""
    status: RedisStatus = observe("redis_status", redis_target(url, timeout_s, **settings))
    return status


def admin(server: RedisServer) -> redis.Redis:
    return server.client(decode_responses=True)
