"""The sandbox's Redis component: healthy is all green, incident fails exactly its symptoms."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SuiteRun
from tests.platform_ import Platform, assert_secret_free
from vigil.sandbox.redis import RedisSandbox

# The section environments/sandbox.yaml carries for this component.
SANDBOX_SECTION: list[dict[str, Any]] = [
    {
        "name": "cache",
        "url": "${SANDBOX_REDIS_URL}",
        "max_latency_ms": 50,
        "min_keys": 1,
        "queues": {"payment:retry:queue": 100},
    }
]

INCIDENT_FAILURES = {
    "test_memory_usage[sandbox-redis/cache]",
    "test_no_evictions[sandbox-redis/cache]",
    "test_queue_lengths[sandbox-redis/cache]",
}
START_S = 2  # the component is up and seeded within this


@pytest.mark.parametrize("scenario", ["healthy", "incident"])
def test_scenario(run_suite: Callable[..., SuiteRun], tmp_path: Path, scenario: str) -> None:
    with Platform(run_suite, tmp_path) as platform:
        started = time.monotonic()
        component = RedisSandbox(scenario)
        platform.on_close(component.stop)
        variables = component.start()
        assert time.monotonic() - started < 3 * START_S  # 3x: a busy machine is no failure
        assert set(variables) == {"SANDBOX_REDIS_URL"}
        env = platform.environment("sandbox-redis", "redis", SANDBOX_SECTION)
        run = platform.run("redis", env, variables=variables)
    outcomes = run.outcomes()
    assert len(outcomes) == 9, run.output
    expected = INCIDENT_FAILURES if scenario == "incident" else set()
    assert run.failed() == expected, run.output
    assert (run.returncode == 1) == bool(expected)
    if scenario == "incident":
        assert "payment:retry:queue holds 300 entries (max 100)" in run.output
    password = variables["SANDBOX_REDIS_URL"].split(":")[2].split("@")[0]
    assert_secret_free(run, {password})
    assert not component.directory.exists()
