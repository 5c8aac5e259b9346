"""The probe's sessions to PostgreSQL: opened read-only, shared, cut when they hang.

`Link` is one database's session for a whole run, shared by its observations under a lock;
`Link.deadline` cuts the socket of a call that outlives its time; `describe_connect_error` and
`describe_query_error` turn psycopg's failures into sentences an operator can act on.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from vigil.redact import redact_text, redact_url


class Link:
    """The run's one session to a database, shared by its observations under `lock`.

    A failed connection attempt is remembered, so the other observations of the same database
    report it at once instead of each waiting for its own timeout; a session that broke is
    dropped and the next observation connects again.
    """

    def __init__(self, dsn: str, timeout_s: float) -> None:
        self.dsn = dsn
        self.timeout_s = timeout_s
        self.lock = threading.Lock()
        self.conn: psycopg.Connection[Any] | None = None
        self.error: str | None = None
        self.cut = threading.Event()

    def connect(self) -> psycopg.Connection[Any] | None:
        """The open session, connecting first if needed; None (with `error`) if impossible."""
        if self.conn is not None and not self.conn.closed:
            return self.conn
        if self.error is not None:
            return None
        try:
            params = conninfo_to_dict(self.dsn)
        except psycopg.Error as exc:
            self.error = f"invalid DSN {redact_url(self.dsn)!r}: {redact_text(str(exc))}"
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
        # psycopg counts connect_timeout in whole seconds, at least 2.
        params["connect_timeout"] = str(max(2, math.ceil(self.timeout_s)))
        try:
            self.conn = psycopg.Connection.connect(
                make_conninfo("", **params), autocommit=True, prepare_threshold=None
            )
        except psycopg.Error as exc:
            self.error = describe_connect_error(exc, params, self.timeout_s)
            return None
        return self.conn

    @contextlib.contextmanager
    def deadline(self, timeout_s: float) -> Iterator[None]:
        """Cut the session's socket if the block outlives `timeout_s` plus a second of grace
        (the server's statement_timeout normally ends it first, with a clearer error)."""
        assert self.conn is not None
        descriptor = self.conn.fileno()
        self.cut.clear()

        def sever() -> None:
            self.cut.set()
            with (
                contextlib.suppress(OSError),
                socket.socket(fileno=os.dup(descriptor)) as severed,
            ):
                severed.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(timeout_s + 1.0, sever)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            if self.cut.is_set():  # cut just as the call finished: the session is unusable
                self.close()

    def failed(self, exc: psycopg.Error, timeout_s: float) -> str:
        """Describe a failed call; drop the session if it is no longer usable."""
        where = _where(conninfo_to_dict(self.dsn))
        if self.cut.is_set():
            return f"no answer from {where} within {timeout_s:g} s (the session was cut)"
        if self.conn is not None and self.conn.broken:
            self.close()
        return describe_query_error(exc, where, timeout_s)

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None


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
