"""End to end: `pytest checks -m postgres` against a real cluster with real faults, as a
superuser and as the least-privilege role from deploy/postgres-grants.sql."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.conftest import SuiteRun
from tests.pg import (
    DATA_FAULTS,
    EXAMPLE,
    INVARIANTS,
    NO_STATS_ROLE,
    Cluster,
    example_assertions,
    fresh_database,
    hold_connections,
    sessions,
    shared_cluster,
)
from tests.platform_ import Platform, assert_secret_free, expect
from tests.servers import free_port
from vigil.sandbox.postgres import MONITOR_ROLE

SESSION_CHECKS = (
    "test_connection_usage_warning",
    "test_connection_usage_critical",
    "test_no_long_running_queries",
    "test_no_idle_transactions",
    "test_no_blocked_queries",
)
FAST = {"long_query_s": 0.5, "idle_in_transaction_s": 0.5, "lock_wait_s": 0.5}
SNEAKY_WRITE = {
    "name": "sneaky-write",
    "query": "insert into payouts (creator_id, amount_cents, status)"
    " values (1, 1, 'sneaky') returning 1",
    "max": 0,
}


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Cluster:
    return shared_cluster(pytestconfig)


@pytest.fixture
def platform(run_suite: Callable[..., SuiteRun], tmp_path: Path) -> Iterator[Platform]:
    with Platform(run_suite, tmp_path) as started:
        yield started


def _database(
    name: str, checks: dict[str, str], assertions: Sequence[str] = (), verdict: str = ""
) -> dict[str, dict[str, str]]:
    """The expected outcomes of a database's checks and of its data assertions."""
    return {name: checks} | {f"{name}/{a}": {"test_data_assertion": verdict} for a in assertions}


def test_faults_fail_exactly_their_checks_for_superuser_and_monitor_alike(
    platform: Platform, cluster: Cluster
) -> None:
    server = cluster.server
    assertions = example_assertions()
    names = [a["name"] for a in assertions]
    faulty = platform.hold(fresh_database(cluster, "faulty"))
    calm = platform.hold(fresh_database(cluster, "calm"))
    faults = platform.hold(sessions(cluster, faulty))
    server.execute(DATA_FAULTS, faulty)
    with psycopg.connect(server.admin_dsn(faulty)) as conn:
        conn.execute("select pg_sleep(0.3)")  # a finished slow statement
    started = time.monotonic()
    long_pid = faults.long_query(60)
    blocker, waiter = faults.blocked()
    # 31 to 34 of 37 usable slots in use, depending on how many of the run's 4 sessions
    # are open when each database is read: above 80%, below 95%.
    hold_connections(cluster, faults, 34 - 4)
    strict = {"role": "primary", **FAST, "max_mean_statement_ms": 100}
    databases: list[dict[str, Any]] = [
        {"name": "admin", "dsn": cluster.admin_url(faulty), **strict,
         "allow_privileged_role": True, "assertions": [*assertions, SNEAKY_WRITE]},
        {"name": "monitor", "dsn": cluster.monitor_dsn(faulty), **strict,
         "assertions": assertions},
        {"name": "calm", "dsn": cluster.monitor_dsn(calm), **strict,
         "max_connection_usage": 0.95, "critical_connection_usage": 0.99,
         "assertions": assertions},
        {"name": "nostats", "dsn": server.dsn(NO_STATS_ROLE, cluster.monitor_password, faulty),
         **FAST},
        {"name": "down", "dsn": f"postgresql://app:hunter2-down@127.0.0.1:{free_port()}/app"},
        {"name": "badpass", "dsn": server.dsn(MONITOR_ROLE, "hunter2-wrong", faulty)},
        {"name": "nodb", "dsn": cluster.monitor_dsn("no_such_db")},
    ]  # fmt: skip
    env = platform.environment("suite", "postgres", databases)
    time.sleep(max(0.0, 0.7 - (time.monotonic() - started)))
    run = platform.run("postgres", env)
    sneaky = server_count(cluster, faulty, "select count(*) from payouts where status = 'sneaky'")

    faulty_checks = {
        "test_database_reachable": "passed",
        "test_primary_writable": "passed",
        "test_connection_usage_warning": "failed",
        "test_connection_usage_critical": "passed",
        "test_no_long_running_queries": "failed",
        "test_no_idle_transactions": "failed",
        "test_no_blocked_queries": "failed",
        "test_statements_fast": "failed",
    }
    calm_checks = dict.fromkeys(faulty_checks, "passed")  # role: primary, so no replica check
    unreachable = {"test_database_reachable": "failed"} | dict.fromkeys(SESSION_CHECKS, "failed")
    nostats = {"test_database_reachable": "passed"} | dict.fromkeys(SESSION_CHECKS, "skipped")
    expected = expect(
        "suite",
        _database("admin", faulty_checks, [*names, "sneaky-write"], "failed")
        | _database("monitor", faulty_checks, names, "failed")
        | _database("calm", calm_checks, names, "passed")
        | _database("nostats", nostats)
        | _database("down", unreachable)
        | _database("badpass", unreachable)
        | _database("nodb", unreachable),
    )
    assert run.outcomes() == expected, run.output[-4000:]
    assert run.returncode == 1
    assert sneaky == 0

    out = run.output
    assert re.search(r"3[1-4] of 37 connections in use, \d+(\.\d)?% \(max 80%", out), out
    assert "by application: leaky-app " in out
    assert f"pid {long_pid} (app reports, user postgres) active: select pg_sleep(60)" in out
    assert f"1 query is blocked for longer than 0.5 s by pid {blocker}" in out
    assert f"s on pid {blocker}: pid {waiter} (app payouts-api, user postgres) active:" in out
    assert "select pg_sleep($1)" in out
    assert "payouts-stuck-pending = 3 (max 0)" in out
    assert "failed-logins-per-ip = 8 (max 5)" in out
    assert "access-volume-per-ip = 150 (max 100)" in out
    assert "payments-last-hour = 0 (min 1)" in out
    assert "refused, the session is read-only: cannot execute INSERT" in out
    assert "connection refused by 127.0.0.1:" in out
    assert f"authentication failed for user {MONITOR_ROLE}" in out
    assert "database no_such_db does not exist" in out
    # Remediation is rendered with the pids found.
    assert f"pg_cancel_backend(pid) from pg_stat_activity where pid in ({long_pid})" in out
    assert f"where pid in ({blocker})" in out
    assert "runbook:  payment-processing-failure" in out
    assert run.junit is not None
    skipped = [
        str(reason.get("message"))
        for case in run.junit.iter("testcase")
        if "[suite/nostats]" in str(case.get("name"))
        for reason in case.iter("skipped")
    ]
    assert len(skipped) == len(SESSION_CHECKS)
    for reason in skipped:  # the skip reason says what to fix
        assert f"GRANT pg_monitor TO {NO_STATS_ROLE}" in reason, reason
    # No password anywhere: not in the terminal, the JUnit XML or the reports.
    assert_secret_free(run, {server.password, cluster.monitor_password, "hunter2"})


def server_count(cluster: Cluster, dbname: str, query: str) -> int:
    with psycopg.connect(cluster.server.admin_dsn(dbname)) as conn:
        row = conn.execute(query.encode()).fetchone()
    assert row is not None
    return int(row[0])


def test_exhaustion_is_critical_and_selected_by_severity(
    platform: Platform, cluster: Cluster
) -> None:
    full = platform.hold(fresh_database(cluster, "full"))
    faults = platform.hold(sessions(cluster, full))
    hold_connections(cluster, faults, 36 - 1)
    env = platform.environment(
        "suite", "postgres", [{"name": "main", "dsn": cluster.monitor_dsn(full)}]
    )
    run = platform.run("postgres and (sev1 or sev3)", env, args=["--fail-on", "sev1"])
    assert run.outcomes() == {
        "test_database_reachable[suite/main]": "passed",
        "test_connection_usage_critical[suite/main]": "failed",
        "test_connection_usage_warning[suite/main]": "failed",
        "test_no_idle_transactions[suite/main]": "passed",
    }, run.output[-3000:]
    assert run.returncode == 1
    assert "36 of 37 connections in use, 97.3% (max 95%" in run.output
    assert "runbook:  database-connection-pool-exhaustion" in run.output


def test_example_invariants_run_and_hold_on_the_demo_schema(
    platform: Platform, cluster: Cluster
) -> None:
    example = yaml.safe_load(EXAMPLE.read_text())["postgres"][0]["assertions"]
    invariants = [a for a in example if a["name"] in INVARIANTS]
    assert len(invariants) == len(INVARIANTS)
    dbname = platform.hold(fresh_database(cluster, "invariants"))
    databases = [{"name": "db", "dsn": cluster.monitor_dsn(dbname), "assertions": invariants}]
    env = platform.environment("inv", "postgres", databases)
    run = platform.run("postgres", env, args=["-k", "test_data_assertion"])
    assert run.outcomes() == {
        f"test_data_assertion[inv/db/{name}]": "passed" for name in INVARIANTS
    }, run.output[-3000:]
