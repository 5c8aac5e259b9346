"""Redis: the server answers, fast, with room in memory and connections, saving,
replicating, and with its queues drained and its keys present.

Settings: `spec.py` (`redis[]`). Probe: `probe.py`. Checks: `checks/test_redis.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vigil.families.redis import probe
from vigil.families.redis.spec import RedisTarget
from vigil.family import Family, Observation, TargetKind
from vigil.redact import redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.environment import Environment


def servers(env: Environment, section: list[RedisTarget]) -> Iterator[Target[RedisTarget]]:
    for server in section:
        parts = urlsplit(server.url)
        try:
            port = str(parts.port or 6379)
        except ValueError:  # not a number: the probe says so
            port = ""
        values = {
            "redis_url_redacted": redact_url(server.url),
            "host": parts.hostname or "",
            "port": port,
        }
        insecure = "ssl_cert_reqs=none" in server.url.lower()
        notes = ("TLS verification is off (ssl_cert_reqs=none)",) if insecure else ()
        yield Target("redis_server", env, server.name, server, values=values, notes=notes)


FAMILY = Family(
    name="redis",
    description="Redis",
    section="redis",
    settings=list[RedisTarget],
    kinds=(
        TargetKind(
            "redis_server",
            "redis",
            servers,
            observations=(
                Observation(
                    "redis_status",
                    probe.observe_server,
                    probe.server_unobserved,
                    prepare=probe.prepare,
                ),
            ),
            reachability="test_ping",  # refused, silent, refused our credentials, loading
        ),
    ),
)
