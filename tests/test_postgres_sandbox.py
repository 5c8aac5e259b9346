"""The sandbox's PostgreSQL component: healthy passes every check, incident fails exactly the
checks for the states it produces, also under xdist."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.conftest import ROOT, SuiteRun
from tests.pg import example_assertions
from tests.platform_ import Platform, assert_secret_free
from vigil.sandbox.postgres import PostgresSandbox

# The `postgres:` section of environments/sandbox.yaml (read from there once it has one).
SECTION: list[dict[str, Any]] = [
    {
        "name": "main",
        "dsn": "${SANDBOX_PG_DSN}",
        "role": "primary",
        "long_query_s": 1,
        "idle_in_transaction_s": 1,
        "lock_wait_s": 1,
        "max_mean_statement_ms": 500,
        "assertions": example_assertions(),
    }
]


def _section() -> list[dict[str, Any]]:
    sandbox = yaml.safe_load((ROOT / "environments" / "sandbox.yaml").read_text())
    return list(sandbox.get("postgres") or SECTION)


def _run(run_suite: Callable[..., SuiteRun], tmp_path: Path, scenario: str, *args: str) -> SuiteRun:
    with Platform(run_suite, tmp_path) as platform:
        component = PostgresSandbox(scenario)
        platform.on_close(component.stop)
        variables = component.start()
        env = platform.environment("sbx", "postgres", _section(), timeout_s=2)
        run = platform.run("postgres", env, args=args, variables=variables)
    password = urlsplit(variables["SANDBOX_PG_DSN"]).password
    assert password
    assert_secret_free(run, {password})
    return run


def test_healthy_sandbox_passes(run_suite: Callable[..., SuiteRun], tmp_path: Path) -> None:
    run = _run(run_suite, tmp_path, "healthy")
    assert run.returncode == 0, run.output[-3000:]
    assert set(run.outcomes().values()) == {"passed"}
    assert "test_replica_lag[sbx/main]" not in run.outcomes()  # role: primary


def test_incident_sandbox_fails_its_faults(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    run = _run(run_suite, tmp_path, "incident", "-n", "2")
    assert run.failed() == {
        "test_connection_usage_warning[sbx/main]",
        "test_no_long_running_queries[sbx/main]",
        "test_no_idle_transactions[sbx/main]",
        "test_no_blocked_queries[sbx/main]",
        "test_statements_fast[sbx/main]",
        "test_data_assertion[sbx/main/payouts-stuck-pending]",
    }, run.output[-3000:]
    assert run.outcome("test_connection_usage_critical[sbx/main]") == "passed"
    assert run.outcome("test_database_reachable[sbx/main]") == "passed"
    assert run.outcome("test_primary_writable[sbx/main]") == "passed"
    assert "payouts-stuck-pending = 3 (max 0)" in run.output
