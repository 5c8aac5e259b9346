"""The probe's session to PostgreSQL: opened read-only, shared by a run, dropped when it hangs,
refused when its role is privileged.

`Link` is one database's session for a whole run, shared by its observations (the session
runs them one at a time: `Observation.queue`). Before any other query it asks what the role
may do (`privilege_refusal`): a superuser, or a member (directly or through other roles) of a
role that may run server programs, read or write server files or signal other backends, is
refused unless the target says `allow_privileged_role: true`. A read-only transaction stops
writes, but not `COPY ... TO PROGRAM`, `pg_terminate_backend()`, `pg_stat_reset()` or
`pg_switch_wal()`: only the role's privileges do. `describe_connect_error` and
`describe_query_error` turn psycopg's failures into sentences an operator can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from typing import Any

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from vigil.redact import raw_reserved_password, redact_text, redact_url

# The predefined roles whose members may change the server from a read-only transaction,
# and what each allows (PostgreSQL 11 and later; a server without one simply has none).
PRIVILEGED_ROLES = {
    "pg_execute_server_program": "run programs on the database server (COPY ... TO PROGRAM)",
    "pg_signal_backend": "cancel and terminate other sessions",
    "pg_write_server_files": "write files on the database server",
    "pg_read_server_files": "read any file the database server can read",
}
GRANTS_FILE = "deploy/postgres-grants.sql"
_PRIVILEGES = """
select session_user, r.rolname, r.rolsuper from pg_roles r
where (r.rolsuper or r.rolname = any(%s)) and pg_has_role(session_user, r.oid, 'MEMBER')
order by r.rolsuper desc, r.rolname
"""


class Link:
    """The run's one session to a database.

    A failed connection attempt, and a session that stopped answering, are remembered for one
    timeout: the observations of the same database queued behind the one that failed report
    it at once instead of each waiting for its own timeout, while a later look (a retry)
    tries again. A session that broke otherwise is dropped and the next observation connects
    again.
    """

    def __init__(self, dsn: str, timeout_s: float, *, allow_privileged: bool = False) -> None:
        self.dsn = dsn
        self.timeout_s = timeout_s
        self.allow_privileged = allow_privileged
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.error: str | None = None
        self.error_at = 0.0
        self.refusal: str | None = None  # a privileged role: refused for the whole run

    def _remember(self, error: str) -> str:
        self.error, self.error_at = error, time.monotonic()
        return error

    async def connect(self, until: float) -> psycopg.AsyncConnection[Any] | None:
        """The open session, connecting first if needed before `until` (time.monotonic()) and
        checking its role; None (with `error`) if impossible or refused."""
        if self.conn is not None and not self.conn.closed:
            return self.conn
        if self.refusal is not None:
            self.error = self.refusal
            return None
        if self.error is not None and time.monotonic() - self.error_at < self.timeout_s:
            return None
        self.error = None
        if raw_reserved_password(self.dsn):  # libpq would print the pieces it read
            self._remember(
                f"invalid DSN {redact_url(self.dsn)!r}: its password holds a raw /, ? or #,"
                " which ends the password for libpq (percent-encode it: / as %2F, ? as %3F,"
                " # as %23, @ as %40)"
            )
            return None
        try:
            params = conninfo_to_dict(self.dsn)
        except psycopg.Error as exc:
            self._remember(f"invalid DSN {redact_url(self.dsn)!r}: {redact_text(str(exc))}")
            return None
        if not re.fullmatch(r"[\d,\s]*", str(params.get("port") or "")):
            self._remember(f"invalid DSN {redact_url(self.dsn)!r}: the port is not a number")
            return None
        milliseconds = max(1, int(self.timeout_s * 1000))
        # Ours come last in `options`, so they win over anything the DSN sets.
        params["options"] = " ".join(
            part
            for part in (
                str(params.get("options", "")),
                "-c default_transaction_read_only=on",
                f"-c statement_timeout={milliseconds}",
                f"-c lock_timeout={milliseconds}",
                "-c idle_in_transaction_session_timeout=60000",
            )
            if part
        )
        params["application_name"] = "vigil"
        # libpq counts connect_timeout in whole seconds, at least 2; `until` cuts it sooner.
        params["connect_timeout"] = str(max(2, math.ceil(self.timeout_s)))
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            async with asyncio.timeout(max(0.0, until - time.monotonic())):
                conn = await psycopg.AsyncConnection.connect(
                    make_conninfo("", **params), autocommit=True, prepare_threshold=None
                )
                refusal = None if self.allow_privileged else await privilege_refusal(conn)
        except TimeoutError:
            _finish(conn)
            self._remember(
                f"connection to {_where(params)} timed out after {self.timeout_s:g} s"
                " (no answer from the server)"
            )
            return None
        except psycopg.Error as exc:
            _finish(conn)
            self._remember(describe_connect_error(exc, params, self.timeout_s))
            return None
        except asyncio.CancelledError:
            _finish(conn)
            raise
        if refusal is not None:
            _finish(conn)  # before any query of the run: none will be sent on this role
            self.refusal = self.error = refusal
            return None
        self.conn = conn
        return self.conn

    def stalled(self, timeout_s: float) -> str:
        """The session stopped answering: drop it and remember why, for the observations
        that come after (a frozen server would otherwise cost each of them its timeout)."""
        self.drop()
        return self._remember(
            f"no answer from {where(self.dsn)} within {timeout_s:g} s (the session was cut)"
        )

    async def failed(self, exc: psycopg.Error, timeout_s: float) -> str:
        """Describe a failed call; drop the session if it is no longer usable."""
        if self.conn is not None and self.conn.broken:
            self.drop()
        return describe_query_error(exc, where(self.dsn), timeout_s)

    def drop(self) -> None:
        """Forget the session without waiting on it (its socket is closed)."""
        _finish(self.conn)
        self.conn = None

    async def aclose(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.conn.close(), timeout=1.0)
            self.drop()


def _finish(conn: psycopg.AsyncConnection[Any] | None) -> None:
    """Close a session's socket at once, without a goodbye that could wait on the server."""
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.pgconn.finish()


async def privilege_refusal(conn: psycopg.AsyncConnection[Any]) -> str | None:
    """Why the session's role is too privileged for Vigil, naming the grant to use instead;
    None for a least-privilege role. The login role counts (`session_user`): a session may
    always SET ROLE back to it, and to any role it is a member of, inherited or not."""
    cursor = await conn.execute(_PRIVILEGES, [list(PRIVILEGED_ROLES)])
    rows = await cursor.fetchall()
    if not rows:
        return None
    user = rows[0][0]
    superusers = [name for _, name, is_super in rows if is_super]
    if superusers:
        who = "is a superuser" if user in superusers else f"may act as superuser {superusers[0]}"
        could = [*PRIVILEGED_ROLES.values(), "change anything"]
    else:
        members = [name for _, name, _ in rows]
        who = f"is a member of {', '.join(members)}"
        could = [PRIVILEGED_ROLES[name] for name in members]
    return (
        f"refused to query as role {user}: it {who}, so a query could {', '.join(could)}."
        " Connect as a least-privilege role instead (a login role granted pg_monitor, as"
        f" {GRANTS_FILE} creates), or set allow_privileged_role: true on this target"
        " (dangerous)"
    )


async def release_advisory_locks(conn: psycopg.AsyncConnection[Any]) -> None:
    """A session-level advisory lock taken by a query outlives its rolled-back transaction:
    the run's one session would hold it, and block whoever waits on it, for the whole run."""
    await conn.execute("select pg_advisory_unlock_all()")


def where(dsn: str) -> str:
    """`host:port` of a DSN, for messages (never its credentials)."""
    try:
        return _where(conninfo_to_dict(dsn))
    except psycopg.Error:
        return "the database"


def _where(params: dict[str, Any]) -> str:
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    return f"{host}:{params.get('port') or 5432}"


def describe_connect_error(exc: psycopg.Error, params: dict[str, Any], timeout_s: float) -> str:
    """Why a connection attempt failed, in words an operator can act on."""
    where = _where(params)
    user, dbname = params.get("user", "(default user)"), params.get("dbname", "(default)")
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, errors.ConnectionTimeout) or "timeout expired" in lowered:
        seconds = max(2, math.ceil(timeout_s))
        return f"connection to {where} timed out after {seconds} s (no answer from the server)"
    if "connection refused" in lowered:
        return f"connection refused by {where} (nothing is listening on that port)"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return f"authentication failed for user {user} on {where} (check the password in the DSN)"
    if "role" in lowered and "does not exist" in lowered:
        return f"authentication failed: role {user} does not exist on {where}"
    if "database" in lowered and "does not exist" in lowered:
        return f"database {dbname} does not exist on {where}"
    if "too many" in lowered or "connection slots are reserved" in lowered:
        return f"{where} refuses new connections: {_server_message(text)}"
    if "pg_hba.conf" in lowered:
        return f"{where} does not allow this client: {_server_message(text)}"
    return f"cannot connect to {where}: {_server_message(text)}"


def describe_query_error(exc: psycopg.Error, where: str, timeout_s: float) -> str:
    """Why a query failed: timeout, read-only refusal, permission, lost session..."""
    text = _server_message(str(exc))
    if isinstance(exc, errors.QueryCanceled):
        return f"the query did not finish within {timeout_s:g} s ({text})"
    if isinstance(exc, errors.ReadOnlySqlTransaction):
        return f"refused, the session is read-only: {text} (Vigil never writes)"
    if isinstance(exc, errors.InsufficientPrivilege):
        return f"{text} (grant the monitoring role what it needs; see deploy/postgres-grants.sql)"
    if isinstance(exc, psycopg.OperationalError):
        return f"lost the session to {where}: {text}"
    return f"{exc.sqlstate or type(exc).__name__}: {text}"


def _server_message(text: str) -> str:
    # libpq prefixes "connection failed: connection to server at ... failed: FATAL:  ".
    last = text.split("failed: ")[-1] if "failed: " in text else text
    return redact_text(" ".join(last.replace("FATAL:", "").split()))
