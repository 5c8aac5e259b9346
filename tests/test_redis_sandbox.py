"""The sandbox's Redis component: healthy is all green, incident fails exactly its symptoms."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SuiteRun, write_env
from vigil.sandbox.redis import RedisSandbox

# The section environments/sandbox.yaml carries for this component.
SANDBOX_SECTION = """
redis:
  - name: cache
    url: ${SANDBOX_REDIS_URL}
    max_latency_ms: 50
    min_keys: 1
    queues: {"payment:retry:queue": 100}
"""

INCIDENT_FAILURES = {
    "test_memory_usage[sandbox-redis/cache]",
    "test_no_evictions[sandbox-redis/cache]",
    "test_queue_lengths[sandbox-redis/cache]",
}


@pytest.mark.parametrize("scenario", ["healthy", "incident"])
def test_scenario(run_suite: Callable[..., SuiteRun], tmp_path: Path, scenario: str) -> None:
    started = time.monotonic()
    component = RedisSandbox(scenario)
    try:
        variables = component.start()
        assert time.monotonic() - started < 2
        assert set(variables) == {"SANDBOX_REDIS_URL"}
        env = write_env(tmp_path, "sandbox-redis", SANDBOX_SECTION)
        run = run_suite("-m", "redis", "--env", str(env), env=variables)
    finally:
        component.stop()
    outcomes = run.outcomes()
    assert len(outcomes) == 9, run.output
    expected = INCIDENT_FAILURES if scenario == "incident" else set()
    assert run.failed() == expected, run.output
    assert (run.returncode == 1) == bool(expected)
    if scenario == "incident":
        assert "payment:retry:queue holds 300 entries (max 100)" in run.output
    password = variables["SANDBOX_REDIS_URL"].split(":")[2].split("@")[0]
    assert password not in run.output
    assert not component.directory.exists()
