"""The PostgreSQL probe's queries: the server's state in one read-only transaction, and the
assertions' numbers, each bounded by the target's time (see `probe.py` for the promises)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors, sql

from vigil.families.postgres.link import Link, release_advisory_locks
from vigil.families.postgres.probe import (
    TOP_STATEMENTS,
    AssertionResult,
    DatabaseStatus,
    Session,
    Statement,
    _excerpt,
    _seconds,
)
from vigil.families.postgres.spec import PostgresTarget, SqlAssertion
from vigil.redact import redact_text, redact_url
from vigil.session import own_budget
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession


def _link(target: Target[Any], session: ProbeSession) -> tuple[Link, PostgresTarget]:
    """The run's one session to the target's database (an assertion's: its parent's)."""
    database: PostgresTarget = target.parent if target.kind == "sql_assertion" else target.spec
    timeout_s = database.timeout_s or target.environment.timeout_s
    key = ("postgres", target.environment.name, database.name)
    allow = database.allow_privileged_role
    link = session.shared(key, lambda: Link(database.dsn, timeout_s, allow_privileged=allow))
    return link, database


async def observe_database(target: Target[PostgresTarget], session: ProbeSession) -> DatabaseStatus:
    """Read the database's state in one read-only transaction, within the target's timeout."""
    link, database = _link(target, session)
    shown = redact_url(database.dsn)
    started = time.monotonic()
    until = started + own_budget(target.timeout_s)
    conn = await link.connect(until)
    if conn is None:
        return DatabaseStatus(shown, error=link.error)
    try:
        async with _answer_by(until, target.timeout_s):
            status = await _read_status(conn, database, until - time.monotonic())
    except _Stalled:
        return DatabaseStatus(shown, error=link.stalled(target.timeout_s))
    except psycopg.Error as exc:
        return DatabaseStatus(shown, error=await link.failed(exc, target.timeout_s))
    except asyncio.CancelledError:
        link.stalled(target.timeout_s)
        raise
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    return DatabaseStatus(dsn=shown, elapsed_ms=elapsed_ms, **status)


async def observe_assertion(target: Target[SqlAssertion], session: ProbeSession) -> AssertionResult:
    """Run one assertion's query read-only and return the single number it yields."""
    link, _ = _link(target, session)
    assertion = target.spec
    result = AssertionResult(assertion.name, _excerpt(assertion.query, 10_000))
    started = time.monotonic()
    until = started + own_budget(target.timeout_s)
    conn = await link.connect(until)
    if conn is None:
        return replace(result, error=link.error)
    try:
        async with _answer_by(until, target.timeout_s):
            value = await _run_assertion(conn, assertion.query, until - time.monotonic())
    except _Stalled:
        return replace(result, error=link.stalled(target.timeout_s))
    except psycopg.Error as exc:
        error = await link.failed(exc, target.timeout_s)
        return replace(result, error=error)
    except ValueError as exc:
        return replace(result, error=str(exc))
    except asyncio.CancelledError:
        link.stalled(target.timeout_s)
        raise
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    return replace(result, value=value, elapsed_ms=elapsed_ms)


class _Stalled(Exception):
    """The server did not answer, not even with the statement timeout's cancellation."""


@contextlib.asynccontextmanager
async def _answer_by(until: float, timeout_s: float) -> AsyncIterator[None]:
    """The server's statement_timeout (set to the time left) normally ends a slow query first,
    with a clear error; a server that does not answer at all is cut halfway between that and
    the session's own cut."""
    grace = (timeout_s - own_budget(timeout_s)) / 2
    try:
        async with asyncio.timeout(max(0.0, until - time.monotonic()) + grace):
            yield
    except TimeoutError:
        raise _Stalled from None


async def _local_timeout(conn: psycopg.AsyncConnection[Any], timeout_s: float) -> None:
    await conn.execute(
        "select set_config('statement_timeout', %s, true)", [str(max(1, int(timeout_s * 1000)))]
    )


async def _run_assertion(conn: psycopg.AsyncConnection[Any], query: str, timeout_s: float) -> float:
    rows: list[Any] = []
    columns = 0
    try:
        async with conn.transaction():  # read-only: the session's default; always rolled back
            await _local_timeout(conn, timeout_s)
            # binary=True: the extended protocol, which refuses a second statement.
            cursor = await conn.execute(query.encode(), binary=True)
            if cursor.description is not None:
                columns = len(cursor.description)
                rows = await cursor.fetchmany(2)
            raise psycopg.Rollback()
    except psycopg.Error:
        if not conn.broken:
            with contextlib.suppress(psycopg.Error):  # the query's own error says more
                await release_advisory_locks(conn)
        raise
    # (A cancelled query's session is cut, which releases its locks as well.)
    await release_advisory_locks(conn)
    if columns == 0:
        raise ValueError("the query returned no result set (it must be a SELECT of one number)")
    if columns != 1 or len(rows) != 1:
        raise ValueError(
            f"the query returned {len(rows) if len(rows) < 2 else 'several'} row(s) of"
            f" {columns} column(s) (expected one row with one number)"
        )
    return _number(rows[0][0])


def _number(value: Any) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        if value is None:
            raise ValueError(
                "the query returned NULL (nothing to compare; wrap it in coalesce(..., value))"
            )
        # The value itself is not shown: it may be anything, a secret included.
        raise ValueError(f"the query returned a {type(value).__name__} value, not a number")
    number = float(value)
    if math.isnan(number):
        raise ValueError("the query returned NaN")
    return number


_IDENTITY = """
select current_setting('server_version_num')::int, current_user, current_database(),
       pg_is_in_recovery(), extract(epoch from now() - pg_postmaster_start_time()),
       pg_has_role('pg_read_all_stats', 'member'),
       case when not pg_is_in_recovery() then 0
            when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
            else extract(epoch from now() - pg_last_xact_replay_timestamp()) end,
       (select setconfig from pg_db_role_setting where setrole = 0
           and setdatabase = (select oid from pg_database where datname = current_database()))
"""
_USAGE = """
select count(*) filter (where backend_type = 'client backend'),
       current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int,
       coalesce(current_setting('reserved_connections', true)::int, 0)
from pg_stat_activity
"""
_GROUPS = """
select coalesce(state, '(unknown)'), coalesce(nullif(application_name, ''), '(none)'), count(*)
from pg_stat_activity where backend_type = 'client backend' group by 1, 2
"""
_SESSIONS = """
select pid, usename, application_name, state,
       extract(epoch from now() - xact_start), extract(epoch from now() - query_start),
       extract(epoch from now() - state_change), pg_blocking_pids(pid),
       wait_event_type || ':' || wait_event, left(query, 200)
from pg_stat_activity
where backend_type = 'client backend' and pid <> pg_backend_pid()
  and datname = current_database()
"""
_EXTENSION = """
select e.extversion, n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
where e.extname = 'pg_stat_statements'
"""
_STATEMENTS = """
select calls, {mean}, query from {schema}.pg_stat_statements
where dbid = (select oid from pg_database where datname = current_database())
order by {mean} desc limit {limit}
"""
_TRUE = {"on", "true", "yes", "1"}


async def _read_status(
    conn: psycopg.AsyncConnection[Any], database: PostgresTarget, timeout_s: float
) -> dict[str, Any]:
    async with conn.transaction():  # one snapshot of the statistics, read-only
        await _local_timeout(conn, timeout_s)
        identity = await (await conn.execute(_IDENTITY)).fetchone()
        usage = await (await conn.execute(_USAGE)).fetchone()
        groups = await (await conn.execute(_GROUPS)).fetchall()
        sessions = await (await conn.execute(_SESSIONS)).fetchall()
        statements: tuple[Statement, ...] = ()
        unavailable = None
        if database.max_mean_statement_ms is not None:
            statements, unavailable = await _read_statements(conn)
    assert identity is not None and usage is not None
    version, user, dbname, in_recovery, uptime, all_stats, lag, setconfig = identity
    used, max_connections, superuser_reserved, reserved = usage
    by_state: Counter[str] = Counter()
    by_application: Counter[str] = Counter()
    for state, application, count in groups:
        by_state[state] += count
        by_application[application] += count
    return {
        "server_version": version,
        "user": user,
        "database": dbname,
        "uptime_s": _seconds(uptime),
        "in_recovery": in_recovery,
        "read_only_reason": _read_only_reason(in_recovery, dbname, setconfig),
        "replica_lag_s": _seconds(lag),
        "used_connections": used,
        "usable_connections": max_connections - superuser_reserved - reserved,
        "max_connections": max_connections,
        "reserved_connections": superuser_reserved + reserved,
        "by_state": dict(by_state.most_common()),
        "by_application": dict(by_application.most_common()),
        "sees_all_sessions": bool(all_stats),
        "sessions": tuple(_session(row) for row in sessions),
        "statements": statements,
        "statements_unavailable": unavailable,
    }


def _read_only_reason(in_recovery: bool, dbname: str, setconfig: list[str] | None) -> str | None:
    if in_recovery:
        return "the server is in recovery (a standby): pg_is_in_recovery() is true"
    for setting in setconfig or []:
        name, _, value = setting.partition("=")
        if name == "default_transaction_read_only" and value.lower() in _TRUE:
            return f"database {dbname} has default_transaction_read_only={value} (ALTER DATABASE)"
    return None


def _session(row: tuple[Any, ...]) -> Session:
    pid, user, application, state, xact, query_age, state_age, blocked_by, wait, query = row
    return Session(
        pid=pid,
        user=user,
        application=application or "(none)",
        state=state,
        xact_age_s=_seconds(xact),
        query_age_s=_seconds(query_age),
        state_age_s=_seconds(state_age),
        blocked_by=tuple(blocked_by or ()),
        wait_event=wait,
        query=_excerpt(query),
    )


async def _read_statements(
    conn: psycopg.AsyncConnection[Any],
) -> tuple[tuple[Statement, ...], str | None]:
    extension = await (await conn.execute(_EXTENSION)).fetchone()
    if extension is None:
        return (), (
            "pg_stat_statements is not installed in this database: run CREATE EXTENSION"
            " pg_stat_statements as a superuser (the server needs"
            " shared_preload_libraries=pg_stat_statements)"
        )
    version, schema = extension
    numbers = tuple(int(part) for part in str(version).split(".")[:2] if part.isdigit())
    mean = "mean_exec_time" if numbers >= (1, 8) else "mean_time"  # renamed in 1.8 (PG 13)
    query = sql.SQL(_STATEMENTS).format(
        mean=sql.Identifier(mean), schema=sql.Identifier(schema), limit=TOP_STATEMENTS
    )
    try:
        async with conn.transaction():  # a savepoint: a failure here leaves the rest readable
            rows = await (await conn.execute(query)).fetchall()
    except (errors.ObjectNotInPrerequisiteState, errors.InsufficientPrivilege) as exc:
        return (), f"pg_stat_statements cannot be read: {redact_text(str(exc).strip())}"
    return tuple(Statement(int(c), round(float(m), 1), _excerpt(q)) for c, m, q in rows), None
