"""PostgreSQL probe: one read-only session per database per run, every call bounded in time.

`observe_database(target)` reads the server's state (reachability, recovery, replica lag,
connection usage, sessions, and the slowest statements when asked) in one read-only
transaction and returns a `DatabaseStatus`. `observe_assertion(target)` runs one user-defined
query returning one number and returns an `AssertionResult`. Neither raises for an unhealthy
or unreachable database: `error` says what happened (refused, timeout, authentication,
missing database, too many clients, statement timeout, read-only refusal).

Safety, by construction: every session starts with `default_transaction_read_only=on`, a
statement timeout and `application_name=vigil` in its startup packet; user queries go through
the extended protocol (one statement, no `;`-chaining) inside a read-only transaction that is
always rolled back, so not even a `SET` survives it, and an advisory lock is released after
it. A privileged role is refused before any query (`link.py`). A watchdog cuts the socket of
any call that outlives its deadline, so a frozen server cannot hang a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vigil.families.postgres.spec import PostgresTarget, SqlAssertion
from vigil.redact import redact_text, redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

QUERY_EXCERPT = 200
TOP_STATEMENTS = 10
_SQL_PASSWORD = re.compile(r"(?P<head>\bpassword\s+)'(?:[^']|'')*(?:'|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Session:
    """One client session other than Vigil's own, as pg_stat_activity shows it."""

    pid: int
    user: str | None
    application: str
    state: str | None
    xact_age_s: float | None
    query_age_s: float | None
    state_age_s: float | None
    blocked_by: tuple[int, ...]
    wait_event: str | None
    query: str  # first 200 characters, secrets masked, whitespace collapsed

    def describe(self) -> str:
        """`pid 4242 (app payments-api, user app) active: select ...` for evidence lines."""
        who = ", ".join(
            part for part in (f"app {self.application}", self.user and f"user {self.user}") if part
        )
        return f"pid {self.pid} ({who}) {self.state or 'state unknown'}: {self.query or '-'}"


@dataclass(frozen=True)
class Statement:
    """A pg_stat_statements row of the target's database."""

    calls: int
    mean_ms: float
    query: str


@dataclass(frozen=True)
class DatabaseStatus:
    """What one round of queries saw. `error` is set when the database could not be read."""

    dsn: str  # password masked
    error: str | None = None
    elapsed_ms: float | None = None
    server_version: int = 0
    user: str = ""
    database: str = ""
    uptime_s: float | None = None
    in_recovery: bool = False
    read_only_reason: str | None = None  # why writes would be refused, None if they would not
    replica_lag_s: float | None = None
    used_connections: int = 0
    usable_connections: int = 0
    max_connections: int = 0
    reserved_connections: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    by_application: dict[str, int] = field(default_factory=dict)
    sees_all_sessions: bool = True
    sessions: tuple[Session, ...] = ()
    statements: tuple[Statement, ...] = ()
    statements_unavailable: str | None = None  # why statements could not be read

    @property
    def connection_usage(self) -> float:
        """Client connections in use over usable ones (max_connections minus reserved)."""
        return self.used_connections / self.usable_connections if self.usable_connections else 0.0


@dataclass(frozen=True)
class AssertionResult:
    """The number a user-defined query returned, or why there is none."""

    name: str
    query: str  # secrets masked, whitespace collapsed
    value: float | None = None
    elapsed_ms: float | None = None
    error: str | None = None


def database_unobserved(target: Target[PostgresTarget], reason: str) -> DatabaseStatus:
    from vigil.families.postgres.link import where

    return DatabaseStatus(
        redact_url(target.spec.dsn),
        error=f"no answer from {where(target.spec.dsn)} within {target.timeout_s:g} s",
    )


def assertion_unobserved(target: Target[SqlAssertion], reason: str) -> AssertionResult:
    from vigil.families.postgres.link import where

    return AssertionResult(
        target.spec.name,
        _excerpt(target.spec.query, 10_000),
        error=f"no answer from {where(target.parent.dsn)} within {target.timeout_s:g} s",
    )


def prepare() -> None:
    """Import the client (psycopg) once per run, outside any target's time."""
    from vigil.families.postgres import queries  # noqa: F401


async def observe_database(target: Target[PostgresTarget], session: ProbeSession) -> DatabaseStatus:
    """Read the database's state in one read-only transaction, within the target's timeout
    (`queries.py`; imported here so that a run without PostgreSQL never imports psycopg)."""
    from vigil.families.postgres import queries

    return await queries.observe_database(target, session)


async def observe_assertion(target: Target[SqlAssertion], session: ProbeSession) -> AssertionResult:
    """Run one assertion's query read-only and return the single number it yields."""
    from vigil.families.postgres import queries

    return await queries.observe_assertion(target, session)


def _excerpt(text: str | None, limit: int = QUERY_EXCERPT) -> str:
    """Collapsed query text with secrets masked, SQL's `PASSWORD '...'` literals included
    (even when the excerpt cuts the literal short)."""
    masked = _SQL_PASSWORD.sub(r"\g<head>'***'", " ".join((text or "")[: limit + 1024].split()))
    return redact_text(masked)[:limit]


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)
