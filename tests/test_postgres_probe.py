"""The PostgreSQL probe against a real cluster on 127.0.0.1, with real faults, observed as a
run observes it: through a probe session, within each target's total timeout."""

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

from tests.pg import (
    Cluster,
    active_sessions_by_application,
    fresh_database,
    hold_connections,
    pg_targets,
    sessions,
    shared_cluster,
)
from tests.probing import observe
from tests.servers import SilentPort, free_port
from vigil.families.postgres.probe import AssertionResult, DatabaseStatus
from vigil.families.postgres.spec import PostgresTarget, SqlAssertion
from vigil.family import observations
from vigil.sandbox.postgres import MONITOR_ROLE, wait_until
from vigil.session import ProbeSession
from vigil.targets import Target


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Cluster:
    return shared_cluster(pytestconfig)


@pytest.fixture
def db(cluster: Cluster) -> Iterator[str]:
    with fresh_database(cluster, "probe") as name:
        yield name


def _targets(
    tmp_path: Path, dsn: str, timeout_s: float = 2, **settings: object
) -> tuple[Target[PostgresTarget], list[Target[SqlAssertion]]]:
    database = {"name": "main", "dsn": dsn, **settings}
    databases, assertions = pg_targets(
        tmp_path, yaml.safe_dump({"timeout_s": timeout_s, "postgres": [database]})
    )
    return databases[0], assertions


def _status(tmp_path: Path, dsn: str, timeout_s: float = 2, **settings: object) -> DatabaseStatus:
    target, _ = _targets(tmp_path, dsn, timeout_s, **settings)
    status: DatabaseStatus = observe("pg_status", target)
    return status


def _assertions(
    tmp_path: Path, dsn: str, queries: dict[str, str], timeout_s: float = 2, **settings: object
) -> dict[str, AssertionResult]:
    """Each query as an assertion (max 0) of one database, observed in order through one
    probe session: one database session for all of them, as in a run."""
    wanted = [{"name": name, "query": query, "max": 0} for name, query in queries.items()]
    _, targets = _targets(tmp_path, dsn, timeout_s, assertions=wanted, **settings)
    with ProbeSession() as session:
        return {target.spec.name: observe("pg_assertion", target, session) for target in targets}


def _assert(tmp_path: Path, dsn: str, query: str, timeout_s: float = 2) -> AssertionResult:
    return _assertions(tmp_path, dsn, {"a": query}, timeout_s)["a"]


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
    with ProbeSession() as session, ThreadPoolExecutor(8) as pool:
        status = pool.submit(observe, "pg_status", target, session)
        values = list(pool.map(lambda a: observe("pg_assertion", a, session), assertions))
        assert status.result().error is None
        open_sessions = active_sessions_by_application(cluster, db, "vigil")
    assert [v.value for v in values] == [0, 1, 2, 3, 4, 5]
    assert open_sessions == 1
    # Closed with the probe session (the backend leaves pg_stat_activity a moment later).
    wait_until(lambda: active_sessions_by_application(cluster, db, "vigil") == 0, 5)


def test_observations_waiting_for_the_shared_session_are_not_timed_out(
    tmp_path: Path, cluster: Cluster, db: str
) -> None:
    # Six assertions of 0.3 s each, all started at once as a run starts them: each is well
    # within its 1 s, but they take turns on the database's one session (1.8 s in all).
    # Waiting for that turn is not the database's slowness.
    slow = "select count(*) from pg_sleep(0.3)"
    queries = [{"name": f"slow{i}", "query": slow, "max": 1} for i in range(6)]
    _, assertions = _targets(tmp_path, cluster.monitor_dsn(db), timeout_s=1, assertions=queries)
    with ProbeSession() as session, ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda a: observe("pg_assertion", a, session), assertions))
    assert [r.error for r in results] == [None] * 6
    assert [r.value for r in results] == [1] * 6


def test_refused(tmp_path: Path) -> None:
    port = free_port()
    status = _status(tmp_path, f"postgresql://app:pw@127.0.0.1:{port}/app")
    assert status.error == (
        f"connection refused by 127.0.0.1:{port} (nothing is listening on that port)"
    )


def test_port_that_never_answers_times_out(tmp_path: Path, silent_port: SilentPort) -> None:
    started = time.monotonic()
    status = _status(tmp_path, f"postgresql://app:pw@127.0.0.1:{silent_port.port}/app", 0.5)
    assert time.monotonic() - started < 1.5
    assert status.error == (
        f"connection to 127.0.0.1:{silent_port.port} timed out after 0.5 s"
        " (no answer from the server)"
    )


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
    before = _payouts(cluster, db)
    insert = "insert into payouts (creator_id, amount_cents, status) values (1, 1, 'x') returning 1"
    # One database session for all, in this order: a SET made by one query must not outlive
    # its (rolled back) transaction and let the next query write.
    results = _assertions(
        tmp_path,
        cluster.admin_url(db),  # even as a superuser
        {
            "insert": insert,
            "chained": "select 1; delete from payouts",
            "flipped": "select set_config('default_transaction_read_only', 'off', false)",
            "again": "update payouts set status = 'paid' returning 1",
            "count": "select count(*) from payouts where status = 'x'",
        },
        allow_privileged_role=True,  # the read-only transaction alone, without the refusal
    )
    inserted = results["insert"].error
    assert inserted is not None and "read-only transaction" in inserted
    chained = results["chained"].error
    assert chained is not None and "multiple commands" in chained
    assert results["flipped"].error == "the query returned a str value, not a number"
    again = results["again"].error
    assert again is not None and "read-only transaction" in again
    assert results["count"].value == 0
    assert _payouts(cluster, db) == before  # nothing reached the table


def _payouts(cluster: Cluster, dbname: str) -> list[tuple[object, ...]]:
    with psycopg.connect(cluster.server.admin_dsn(dbname)) as conn:
        return conn.execute("select * from payouts order by id").fetchall()


def test_assertion_shapes(tmp_path: Path, cluster: Cluster, db: str) -> None:
    results = _assertions(
        tmp_path,
        cluster.monitor_dsn(db),
        {
            "numeric": "select 1.5::numeric",
            "interval": "select interval '90 seconds'",
            "null": "select null::int",
            "several": "select 1, 2",
            "missing": "select count(*) from no_such_table",
            "after": "select 7",  # an error does not spoil the session for the next query
        },
    )
    assert results["numeric"].value == 1.5
    assert results["interval"].value == 90
    assert results["null"].error == (
        "the query returned NULL (nothing to compare; wrap it in coalesce(..., value))"
    )
    several = results["several"].error
    assert several is not None and "2 column(s)" in several
    missing = results["missing"].error
    assert missing is not None and 'relation "no_such_table" does not exist' in missing
    assert results["after"].value == 7 and results["after"].error is None


def test_statement_timeout_bounds_a_slow_assertion(
    tmp_path: Path, cluster: Cluster, db: str
) -> None:
    started = time.monotonic()
    result = _assert(tmp_path, cluster.monitor_dsn(db), "select pg_sleep(10)::text::int", 0.5)
    assert time.monotonic() - started < 1.5
    assert result.error is not None
    # The operator learns that the query is slow, not that the server is down.
    assert result.error.startswith("the query did not finish within 0.5 s"), result.error


def test_a_frozen_backend_cannot_hang_the_probe(tmp_path: Path, cluster: Cluster, db: str) -> None:
    target, _ = _targets(tmp_path, cluster.monitor_dsn(db), timeout_s=0.5)
    pg_status = observations()["pg_status"][1]
    with ProbeSession() as session:
        assert observe("pg_status", target, session).error is None
        with psycopg.connect(cluster.server.admin_dsn(), autocommit=True) as admin:
            row = admin.execute(
                "select pid from pg_stat_activity where application_name = 'vigil'"
                " and datname = %s",
                [db],
            ).fetchone()
        assert row is not None
        os.kill(row[0], signal.SIGSTOP)
        try:
            session.forget(pg_status, target)  # look again, as a retry does
            started = time.monotonic()
            frozen: DatabaseStatus = observe("pg_status", target, session)
            elapsed = time.monotonic() - started
            # The run's session to the frozen backend is cut and replaced: while the backend
            # stays frozen, a later observation answers through a new session.
            deadline = time.monotonic() + 10
            while True:
                session.forget(pg_status, target)
                recovered: DatabaseStatus = observe("pg_status", target, session)
                if recovered.error is None or time.monotonic() > deadline:
                    break
        finally:
            os.kill(row[0], signal.SIGCONT)
    # Cut by the probe ("... (the session was cut)") or, on a busy machine, by the session.
    assert frozen.error is not None
    assert frozen.error.startswith(f"no answer from 127.0.0.1:{cluster.server.port} within 0.5 s")
    assert elapsed < 1.5
    assert recovered.error is None, recovered.error
    assert recovered.by_application.get("vigil") == 2  # the frozen backend and the new one


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
    bare = _status(tmp_path, cluster.monitor_dsn(db), max_mean_statement_ms=100)
    assert bare.error is None
    assert bare.statements_unavailable is not None
    assert "CREATE EXTENSION pg_stat_statements" in bare.statements_unavailable
