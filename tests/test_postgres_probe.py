"""The PostgreSQL probe against a real cluster on 127.0.0.1, with real faults."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.conftest import write_env
from tests.pg import (
    Cluster,
    active_sessions_by_application,
    fresh_database,
    hold_connections,
    load_targets,
    sessions,
)
from tests.pg import shared_cluster as _shared_cluster
from tests.servers import SilentPort, free_port
from vigil.families.postgres import probe as postgres
from vigil.families.postgres.probe import AssertionResult, DatabaseStatus
from vigil.sandbox.postgres import MONITOR_ROLE
from vigil.targets import Target


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Cluster:
    return _shared_cluster(pytestconfig)


@pytest.fixture(autouse=True)
def _fresh_probe_sessions() -> Iterator[None]:
    yield
    postgres.close()


@pytest.fixture
def db(cluster: Cluster) -> Iterator[str]:
    with fresh_database(cluster, "probe") as name:
        yield name


def _targets(
    tmp_path: Path, dsn: str, timeout_s: float = 2, **settings: object
) -> tuple[Target, list[Target]]:
    database = {"name": "main", "dsn": dsn, **settings}
    text = yaml.safe_dump({"timeout_s": timeout_s, "postgres": [database]})
    databases, assertions = load_targets(write_env(tmp_path, "probe", text))
    return databases[0], assertions


def _status(tmp_path: Path, dsn: str, **settings: object) -> DatabaseStatus:
    target, _ = _targets(tmp_path, dsn, 2, **settings)
    return postgres.observe_database(target)


def _assert(tmp_path: Path, dsn: str, query: str, timeout_s: float = 2) -> AssertionResult:
    _, assertions = _targets(
        tmp_path, dsn, timeout_s, assertions=[{"name": "a", "query": query, "max": 0}]
    )
    return postgres.observe_assertion(assertions[0])


def test_healthy_database_as_the_monitoring_role(tmp_path: Path, cluster: Cluster, db: str) -> None:
    status = _status(tmp_path, cluster.monitor_dsn(db))
    assert status.error is None, status.error
    assert status.user == MONITOR_ROLE and status.database == db
    assert status.server_version >= 150000
    assert not status.in_recovery and status.read_only_reason is None
    assert status.sees_all_sessions
    assert status.usable_connections == 37 and status.max_connections == 40
    assert status.used_connections >= 1 and status.by_application.get("vigil") == 1
    assert status.sessions == ()  # Vigil's own session is not listed
    assert "***" in status.dsn and cluster.monitor_password not in status.dsn


def test_one_session_per_database_shared_by_concurrent_observations(
    tmp_path: Path, cluster: Cluster, db: str
) -> None:
    queries = [{"name": f"q{i}", "query": f"select {i}", "max": 100} for i in range(6)]
    target, assertions = _targets(tmp_path, cluster.monitor_dsn(db), assertions=queries)
    with ThreadPoolExecutor(8) as pool:
        status = pool.submit(postgres.observe_database, target)
        values = list(pool.map(postgres.observe_assertion, assertions))
    assert status.result().error is None
    assert [v.value for v in values] == [0, 1, 2, 3, 4, 5]
    assert active_sessions_by_application(cluster, db, "vigil") == 1


def test_refused(tmp_path: Path) -> None:
    port = free_port()
    status = _status(tmp_path, f"postgresql://app:pw@127.0.0.1:{port}/app")
    assert status.error == (
        f"connection refused by 127.0.0.1:{port} (nothing is listening on that port)"
    )


def test_port_that_never_answers_times_out(tmp_path: Path, silent_port: SilentPort) -> None:
    started = time.monotonic()
    status = _status(tmp_path, f"postgresql://app:pw@127.0.0.1:{silent_port.port}/app")
    assert status.error == (
        f"connection to 127.0.0.1:{silent_port.port} timed out after 2 s"
        " (no answer from the server)"
    )
    assert time.monotonic() - started < 3.5


def test_wrong_password(tmp_path: Path, cluster: Cluster, db: str) -> None:
    dsn = cluster.server.dsn(MONITOR_ROLE, "not-the-password", db)
    status = _status(tmp_path, dsn)
    assert status.error is not None
    assert status.error.startswith(f"authentication failed for user {MONITOR_ROLE} on 127.0.0.1")
    assert "not-the-password" not in repr(status)


def test_missing_database(tmp_path: Path, cluster: Cluster) -> None:
    status = _status(tmp_path, cluster.monitor_dsn("no_such_db"))
    assert status.error == f"database no_such_db does not exist on 127.0.0.1:{cluster.server.port}"


def test_connections_exhausted_refuse_the_monitoring_role(
    tmp_path: Path, cluster: Cluster, db: str
) -> None:
    with sessions(cluster, db) as held:
        hold_connections(cluster, held, 37)
        status = _status(tmp_path, cluster.monitor_dsn(db))
    assert status.error is not None and "refuses new connections" in status.error
    assert "reserved for" in status.error


def test_writes_through_the_probe_session_are_refused(
    tmp_path: Path, cluster: Cluster, db: str
) -> None:
    dsn = cluster.admin_url(db)  # even as a superuser
    insert = "insert into payouts (creator_id, amount_cents, status) values (1, 1, 'x') returning 1"
    result = _assert(tmp_path, dsn, insert)
    assert result.error is not None and "read-only transaction" in result.error
    chained = _assert(tmp_path, dsn, "select 1; delete from payouts")
    assert chained.error is not None and "multiple commands" in chained.error
    # A SET made by a query does not outlive its (rolled back) transaction.
    flipped = _assert(
        tmp_path, dsn, "select set_config('default_transaction_read_only', 'off', false)"
    )
    assert flipped.error == "the query returned a str value, not a number"
    again = _assert(tmp_path, dsn, "update payouts set status = 'paid' returning 1")
    assert again.error is not None and "read-only transaction" in again.error
    count = _assert(tmp_path, dsn, "select count(*) from payouts where status = 'x'")
    assert count.value == 0


def test_assertion_shapes(tmp_path: Path, cluster: Cluster, db: str) -> None:
    dsn = cluster.monitor_dsn(db)
    assert _assert(tmp_path, dsn, "select 1.5::numeric").value == 1.5
    assert _assert(tmp_path, dsn, "select interval '90 seconds'").value == 90
    assert _assert(tmp_path, dsn, "select null::int").error == (
        "the query returned NULL (nothing to compare; wrap it in coalesce(..., value))"
    )
    several = _assert(tmp_path, dsn, "select 1, 2").error
    assert several is not None and "2 column(s)" in several
    missing = _assert(tmp_path, dsn, "select count(*) from no_such_table").error
    assert missing is not None and 'relation "no_such_table" does not exist' in missing


def test_statement_timeout_bounds_a_slow_assertion(
    tmp_path: Path, cluster: Cluster, db: str
) -> None:
    started = time.monotonic()
    result = _assert(tmp_path, cluster.monitor_dsn(db), "select pg_sleep(10)::text::int", 0.5)
    assert result.error is not None
    assert result.error.startswith("the query did not finish within 0.5 s")
    assert time.monotonic() - started < 2


def test_a_frozen_backend_cannot_hang_the_probe(tmp_path: Path, cluster: Cluster, db: str) -> None:
    target, _ = _targets(tmp_path, cluster.monitor_dsn(db), timeout_s=0.5)
    assert postgres.observe_database(target).error is None
    with psycopg.connect(cluster.server.admin_dsn(), autocommit=True) as admin:
        row = admin.execute(
            "select pid from pg_stat_activity where application_name = 'vigil' and datname = %s",
            [db],
        ).fetchone()
        assert row is not None
        os.kill(row[0], signal.SIGSTOP)
        try:
            started = time.monotonic()
            status = postgres.observe_database(target)
            elapsed = time.monotonic() - started
        finally:
            os.kill(row[0], signal.SIGCONT)
    assert status.error is not None and "within 0.5 s (the session was cut)" in status.error
    assert elapsed < 2.5
    assert postgres.observe_database(target).error is None  # a new session next time


def test_sessions_long_idle_and_blocked(tmp_path: Path, cluster: Cluster, db: str) -> None:
    with sessions(cluster, db) as faults:
        long_pid = faults.long_query(30)
        blocker, waiter = faults.blocked()
        secret = faults.idle_in_transaction("create role t_secret password 'hunter2-sql'")
        time.sleep(0.2)
        status = _status(tmp_path, cluster.monitor_dsn(db))
    by_pid = {s.pid: s for s in status.sessions}
    assert by_pid[long_pid].state == "active" and "pg_sleep(30)" in by_pid[long_pid].query
    assert by_pid[blocker].state == "idle in transaction"
    assert by_pid[waiter].blocked_by == (blocker,)
    assert (by_pid[long_pid].query_age_s or 0) >= 0.2
    assert by_pid[secret].query == "create role t_secret password '***'"


def test_statements_need_the_extension(tmp_path: Path, cluster: Cluster, db: str) -> None:
    with psycopg.connect(cluster.server.admin_dsn(db), autocommit=True) as conn:
        conn.execute("select pg_sleep(0.2)")
    status = _status(tmp_path, cluster.monitor_dsn(db), max_mean_statement_ms=100)
    assert status.statements_unavailable is None
    assert any("pg_sleep" in s.query and s.mean_ms >= 200 for s in status.statements)
    cluster.server.execute("drop extension pg_stat_statements", db)
    postgres.close()
    bare = _status(tmp_path, cluster.monitor_dsn(db), max_mean_statement_ms=100)
    assert bare.error is None
    assert bare.statements_unavailable is not None
    assert "CREATE EXTENSION pg_stat_statements" in bare.statements_unavailable
