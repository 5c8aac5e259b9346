"""PostgreSQL: the database answers, takes writes where it should, has free connections, and
no session is stuck, blocked or hogging it; plus user-defined data assertions.

Settings: `postgres[]` in the environment file. Probe: `vigil/families/postgres/probe.py`.
"""

from __future__ import annotations

import pytest

from vigil.expect import NotEvaluated, fail, percent, require, setting
from vigil.families.postgres import privilege_refused
from vigil.families.postgres.probe import AssertionResult, DatabaseStatus, Session
from vigil.families.postgres.spec import PostgresTarget, SqlAssertion
from vigil.targets import Target

MAX_EVIDENCE = 10


def _sees_every_session(status: DatabaseStatus) -> None:
    __tracebackhide__ = True
    if not status.sees_all_sessions:
        pytest.skip(
            f"role {status.user} cannot see other roles' sessions, so counts would be low:"
            f" GRANT pg_monitor TO {status.user} (see deploy/postgres-grants.sql)"
        )


def _pids(sessions: list[Session]) -> str:
    return ",".join(str(s.pid) for s in sessions)


@pytest.mark.runbook("database-unreachable")
def test_database_reachable(database: Target[PostgresTarget], pg_status: DatabaseStatus) -> None:
    """`select 1` works: the server accepts a session and answers within the timeout. A role
    refused for its privileges is a misconfiguration to fix, not an unreachable database."""
    if privilege_refused(pg_status.error):
        raise NotEvaluated(f"{pg_status.dsn}: {pg_status.error}")
    if pg_status.error:
        fail(f"{pg_status.dsn}: {pg_status.error}", evidence=[f"timeout: {database.timeout_s:g} s"])


@pytest.mark.runbook("database-primary-read-only")
@pytest.mark.requires("role", "primary")
def test_primary_writable(database: Target[PostgresTarget], pg_status: DatabaseStatus) -> None:
    """A database declared `role: primary` is not in recovery and not switched to read-only."""
    require(pg_status, "cannot tell whether the primary accepts writes")
    if pg_status.read_only_reason:
        fail(
            f"{pg_status.database} should be a writable primary but {pg_status.read_only_reason}",
            evidence=[f"pg_is_in_recovery(): {str(pg_status.in_recovery).lower()}"],
        )


@pytest.mark.runbook("database-replica-lag")
@pytest.mark.requires("role", "replica")
def test_replica_lag(database: Target[PostgresTarget], pg_status: DatabaseStatus) -> None:
    """A database declared `role: replica` replays within `max_replica_lag_s` of the primary."""
    limit = database.spec.max_replica_lag_s
    require(pg_status, f"no replay lag to measure (max {limit:g} s)")
    lag = pg_status.replica_lag_s
    if lag is None:
        fail("replay lag is unknown: WAL is pending but no transaction was replayed yet")
    if lag > limit:
        fail(f"replica replays {lag:.1f} s behind the primary (max {limit:g} s)", lag_s=lag)


def _connection_usage(
    database: Target[PostgresTarget], status: DatabaseStatus, limit: float
) -> None:
    __tracebackhide__ = True
    require(status, f"no connection count (max {percent(limit)})")
    _sees_every_session(status)
    usage = status.connection_usage
    if usage > limit:
        fail(
            f"{status.used_connections} of {status.usable_connections} connections in use,"
            f" {percent(usage)} (max {percent(limit)}; max_connections {status.max_connections}"
            f" minus {status.reserved_connections} reserved)",
            evidence=[
                "by state: " + ", ".join(f"{k} {v}" for k, v in status.by_state.items()),
                "by application: "
                + ", ".join(f"{k} {v}" for k, v in status.by_application.items()),
            ],
            used=status.used_connections,
            usable=status.usable_connections,
        )


@pytest.mark.runbook("database-connection-usage-high")
def test_connection_usage_warning(
    database: Target[PostgresTarget], pg_status: DatabaseStatus
) -> None:
    """Client connections stay below `max_connection_usage` (default 80%) of usable slots."""
    _connection_usage(database, pg_status, database.spec.max_connection_usage)


@pytest.mark.runbook("database-connection-pool-exhaustion")
def test_connection_usage_critical(
    database: Target[PostgresTarget], pg_status: DatabaseStatus
) -> None:
    """Client connections stay below `critical_connection_usage` (default 95%) of usable slots."""
    _connection_usage(database, pg_status, database.spec.critical_connection_usage)


@pytest.mark.runbook("database-long-running-queries")
def test_no_long_running_queries(
    database: Target[PostgresTarget], pg_status: DatabaseStatus
) -> None:
    """No query has been active for longer than `long_query_s` (default 300 s)."""
    limit = database.spec.long_query_s
    require(pg_status, f"no sessions to inspect (max {limit:g} s per query)")
    _sees_every_session(pg_status)
    slow = sorted(
        (
            s
            for s in pg_status.sessions
            # A query waiting on a lock is reported by the blocked-queries check, with its blocker.
            if s.state == "active" and not s.blocked_by and (s.query_age_s or 0) > limit
        ),
        key=lambda s: -(s.query_age_s or 0),
    )
    if slow:
        fail(
            f"{len(slow)} quer{'y has' if len(slow) == 1 else 'ies have'} been running longer"
            f" than {limit:g} s (longest {slow[0].query_age_s:.0f} s, pid {slow[0].pid})",
            evidence=[f"{s.query_age_s:.0f} s {s.describe()}" for s in slow[:MAX_EVIDENCE]],
            pids=_pids(slow),
        )


@pytest.mark.runbook("database-idle-in-transaction")
def test_no_idle_transactions(database: Target[PostgresTarget], pg_status: DatabaseStatus) -> None:
    """No session sits idle in a transaction for longer than `idle_in_transaction_s`."""
    limit = database.spec.idle_in_transaction_s
    require(pg_status, f"no sessions to inspect (max {limit:g} s idle in transaction)")
    _sees_every_session(pg_status)
    idle = sorted(
        (
            s
            for s in pg_status.sessions
            if (s.state or "").startswith("idle in transaction") and (s.state_age_s or 0) > limit
        ),
        key=lambda s: -(s.state_age_s or 0),
    )
    if idle:
        fail(
            f"{len(idle)} session(s) idle in transaction for longer than {limit:g} s"
            f" (longest {idle[0].state_age_s:.0f} s, pid {idle[0].pid})",
            evidence=[
                f"idle {s.state_age_s:.0f} s, transaction open {s.xact_age_s or 0:.0f} s,"
                f" {s.describe()}"
                for s in idle[:MAX_EVIDENCE]
            ],
            pids=_pids(idle),
        )


@pytest.mark.runbook("database-blocked-queries")
def test_no_blocked_queries(database: Target[PostgresTarget], pg_status: DatabaseStatus) -> None:
    """No query has waited on another session's lock for longer than `lock_wait_s`."""
    limit = database.spec.lock_wait_s
    require(pg_status, f"no sessions to inspect (max {limit:g} s waiting on a lock)")
    _sees_every_session(pg_status)
    blocked = [s for s in pg_status.sessions if s.blocked_by and (s.query_age_s or 0) > limit]
    if not blocked:
        return
    by_pid = {s.pid: s for s in pg_status.sessions}
    blocker_pids = {pid for s in blocked for pid in s.blocked_by}
    # The root blockers hold the locks without waiting themselves: they are the ones to end.
    roots = sorted(pid for pid in blocker_pids if not (by_pid.get(pid) and by_pid[pid].blocked_by))
    evidence = [
        f"waiting {s.query_age_s:.0f} s on pid {', '.join(map(str, s.blocked_by))}: {s.describe()}"
        for s in blocked[:MAX_EVIDENCE]
    ]
    evidence += [
        f"blocker, transaction open {by_pid[pid].xact_age_s or 0:.0f} s: {by_pid[pid].describe()}"
        if pid in by_pid
        else f"blocker pid {pid} (in another database)"
        for pid in roots[:MAX_EVIDENCE]
    ]
    fail(
        f"{len(blocked)} quer{'y is' if len(blocked) == 1 else 'ies are'} blocked for longer"
        f" than {limit:g} s by pid {', '.join(map(str, roots or sorted(blocker_pids)))}",
        evidence=evidence,
        pids=",".join(map(str, roots or sorted(blocker_pids))),
        blocked_pids=_pids(blocked),
    )


@pytest.mark.runbook("database-slow-statements")
@pytest.mark.requires("max_mean_statement_ms")
def test_statements_fast(database: Target[PostgresTarget], pg_status: DatabaseStatus) -> None:
    """No statement of this database averages more than `max_mean_statement_ms`."""
    limit = setting(database.spec.max_mean_statement_ms, "max_mean_statement_ms")
    require(pg_status, f"no statement statistics (max {limit:g} ms mean)")
    if pg_status.statements_unavailable:
        pytest.skip(pg_status.statements_unavailable)
    slow = [s for s in pg_status.statements if s.mean_ms > limit]
    if slow:
        fail(
            f"{len(slow)} statement(s) average more than {limit:g} ms"
            f" (slowest {slow[0].mean_ms:.0f} ms mean over {slow[0].calls} call(s))",
            evidence=[f"{s.mean_ms:.0f} ms x {s.calls}: {s.query}" for s in slow],
        )


@pytest.mark.runbook("data-assertion-failed")
def test_data_assertion(sql_assertion: Target[SqlAssertion], pg_assertion: AssertionResult) -> None:
    """A user-defined read-only query returns a number within its `min`/`max`."""
    bounds = sql_assertion.spec
    require(pg_assertion, f"assertion {bounds.name} could not be evaluated")
    value = pg_assertion.value
    assert value is not None
    shown = f"{value:g}"
    if bounds.max is not None and value > bounds.max:
        fail(
            f"{bounds.name} = {shown} (max {bounds.max:g})",
            evidence=[f"query: {pg_assertion.query}"],
            value=shown,
        )
    if bounds.min is not None and value < bounds.min:
        fail(
            f"{bounds.name} = {shown} (min {bounds.min:g})",
            evidence=[f"query: {pg_assertion.query}"],
            value=shown,
        )
