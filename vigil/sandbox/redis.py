"""The sandbox's Redis: a real redis-server on 127.0.0.1, and the start-up logic the tests reuse.

`RedisServer` runs `redis-server` from a generated configuration file (a free port, `bind
127.0.0.1`, `dir` in a temporary directory, no daemon) with the monitoring user of
`deploy/redis-acl.conf`. `RedisSandbox` is the sandbox component: in the `healthy` scenario
everything is green; in `incident` the server is near its memory limit and evicting keys, and
the payment retry queue holds more entries than its ceiling.
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis

from vigil.errors import SandboxError

REDIS_SERVER = "redis-server"
MONITOR_USER = "vigil-monitor"
ACL_FILE = Path(__file__).resolve().parents[2] / "deploy" / "redis-acl.conf"
RETRY_QUEUE = "payment:retry:queue"
QUEUE_CEILING = 100


def monitor_acl_rule(password: str, acl_file: Path = ACL_FILE) -> str:
    """The `user` line of deploy/redis-acl.conf with its placeholder password replaced."""
    try:
        lines = acl_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SandboxError(f"cannot read the Redis ACL {acl_file}: {exc}") from exc
    for line in lines:
        if line.startswith(f"user {MONITOR_USER} "):
            return re.sub(r" >\S+", lambda _: f" >{password}", line, count=1)
    raise SandboxError(f"{acl_file} has no 'user {MONITOR_USER}' line")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process listening on 127.0.0.1 on a free port.

    `settings` are extra configuration directives (`{"maxmemory": "8mb"}`); with `tls=True`
    the port is a TLS port (give the tls-* file settings). The monitoring user of
    deploy/redis-acl.conf is created with `monitor_password`; the default user keeps no
    password so that the sandbox and the tests can seed data.
    """

    def __init__(
        self,
        directory: Path,
        settings: Mapping[str, str] | None = None,
        *,
        monitor_password: str | None = None,
        tls: bool = False,
    ) -> None:
        self.directory = directory
        self.settings = dict(settings or {})
        self.monitor_password = monitor_password or secrets.token_urlsafe(18)
        self.tls = tls
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "redis.log"

    def url(self, user: str | None = MONITOR_USER, password: str | None = None, db: int = 0) -> str:
        """A URL for `user` (the monitoring user by default; None for the default user)."""
        scheme = "rediss" if self.tls else "redis"
        if user is None:
            return f"{scheme}://127.0.0.1:{self.port}/{db}"
        secret = self.monitor_password if password is None else password
        return f"{scheme}://{user}:{secret}@127.0.0.1:{self.port}/{db}"

    def _config(self) -> str:
        port_lines = [f"port {self.port}"]
        if self.tls:
            port_lines = ["port 0", f"tls-port {self.port}"]
        lines = [
            "bind 127.0.0.1",
            *port_lines,
            f"dir {self.directory}",
            "daemonize no",
            f"logfile {self.log}",
            'save ""',
            "appendonly no",
            monitor_acl_rule(self.monitor_password),
            *(f"{key} {value}" for key, value in self.settings.items()),
        ]
        return "\n".join(lines) + "\n"

    def start(self, *, wait_ready: bool = True, timeout_s: float = 10) -> RedisServer:
        """Start the server; return once it accepts connections (and, with `wait_ready`,
        has finished loading its dataset)."""
        if shutil.which(REDIS_SERVER) is None:
            raise SandboxError(
                "redis-server is not installed (Debian: apt-get install redis-server)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # another process may take the free port before we bind it
            self.port = _free_port()
            config = self.directory / "redis.conf"
            config.write_text(self._config())
            self.log.write_text("")
            self.process = subprocess.Popen(
                [REDIS_SERVER, str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            if self._wait(wait_ready, timeout_s):
                return self
            if "Address already in use" not in self.log.read_text():
                break
        tail = self.log.read_text()[-1500:] if self.log.exists() else ""
        self.stop()
        raise SandboxError(f"redis-server did not start:\n{tail}")

    def _wait(self, wait_ready: bool, timeout_s: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            log = self.log.read_text()
            listening = not wait_ready and ("Loading RDB" in log or "Ready to accept" in log)
            if listening or "Ready to accept connections" in log:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return True
                except OSError:
                    pass
            time.sleep(0.01)
        self.process.kill()
        self.process.wait()
        return False

    def client(self, **options: Any) -> redis.Redis:
        """A client as the default (administrative) user, for seeding data; not the probe."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, **options)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s). Its directory stays."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def fill_cache(client: redis.Redis, *, key_bytes: int = 64 * 1024, keys: int = 200) -> None:
    """Write `keys` cache entries with a TTL, enough to push a small maxmemory into eviction."""
    value = b"x" * key_bytes
    pipe = client.pipeline(transaction=False)
    for index in range(keys):
        pipe.set(f"cache:page:{index}", value, ex=3600)
    pipe.execute()


class RedisSandbox:
    """The sandbox component: one Redis holding a cache, sessions and the payment retry queue."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.directory = Path(tempfile.mkdtemp(prefix="vigil-redis-"))
        incident = scenario == "incident"
        self.server = RedisServer(
            self.directory,
            {
                "maxmemory": "8mb" if incident else "64mb",
                # Only keys with a TTL (the cache) may be evicted: the queue must survive.
                "maxmemory-policy": "volatile-lru",
                "latency-monitor-threshold": "100",
            },
        )

    def start(self) -> dict[str, str]:
        self.server.start()
        client = self.server.client()
        try:
            pipe = client.pipeline(transaction=False)
            for index in range(20):
                pipe.set(f"session:{index}", f"user-{index}", ex=86400)
            entries = QUEUE_CEILING * 3 if self.scenario == "incident" else 3
            pipe.rpush(RETRY_QUEUE, *(f'{{"payment": {n}, "attempt": 1}}' for n in range(entries)))
            pipe.execute()
            if self.scenario == "incident":
                fill_cache(client)
            else:
                fill_cache(client, key_bytes=1024, keys=50)
        finally:
            client.close()
        return {"SANDBOX_REDIS_URL": self.server.url()}

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
