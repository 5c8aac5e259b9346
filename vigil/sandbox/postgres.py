"""The sandbox's PostgreSQL: a throwaway cluster on a free port, a demo schema, real faults.

`PostgresServer` starts a real PostgreSQL (initdb + pg_ctl from the Debian packages) with its
data in a temp dir and `pg_stat_statements` preloaded; the project's tests start theirs with
it too. `PostgresSandbox` is the sandbox component: a demo database (payments, payouts,
logins...), the least-privilege role from `deploy/postgres-grants.sql`, and in the `incident`
scenario connections near exhaustion, a long query, an idle transaction blocking another
query, a slow statement and stuck payouts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from vigil.errors import SandboxError

BIN = Path(os.environ.get("VIGIL_PG_BIN", "/usr/lib/postgresql/15/bin"))
GRANTS = Path(__file__).resolve().parent.parent.parent / "deploy" / "postgres-grants.sql"
MONITOR_ROLE = "vigil_monitor"

DEMO_SCHEMA = """
create table payments (
    id bigserial primary key, amount_cents bigint not null, status text not null,
    created_at timestamptz not null default now());
create table transactions (
    id bigserial primary key, payment_id bigint not null references payments(id),
    provider_ref text not null, created_at timestamptz not null default now());
create table payouts (
    id bigserial primary key, creator_id bigint not null, amount_cents bigint not null,
    status text not null, created_at timestamptz not null default now());
create table logins (
    id bigserial primary key, email text not null, ip_address inet not null,
    success boolean not null, created_at timestamptz not null default now());
create table audit_logs (
    id bigserial primary key, actor_id bigint, action text not null, ip_address inet not null,
    created_at timestamptz not null default now());
create table metric_snapshots (
    id bigserial primary key, source text not null, value double precision not null,
    created_at timestamptz not null default now());
"""

# A healthy day: everything paid or reconciled, a few failed logins, fresh metrics.
DEMO_DATA = """
insert into payments (amount_cents, status, created_at)
    select 1000 + i, 'succeeded', now() - i * interval '5 minutes' from generate_series(1, 40) i;
insert into transactions (payment_id, provider_ref) select id, 'tx_' || id from payments;
insert into payments (amount_cents, status, created_at) values (2500, 'pending', now());
insert into payouts (creator_id, amount_cents, status, created_at)
    select i, 5000, 'paid', now() - i * interval '1 hour' from generate_series(1, 20) i;
insert into payouts (creator_id, amount_cents, status) values (21, 7000, 'pending');
insert into logins (email, ip_address, success, created_at)
    select 'user' || (i % 7) || '@example.com', ('10.0.0.' || (i % 9))::inet, i % 10 <> 0,
           now() - i * interval '1 minute'
    from generate_series(1, 60) i;
insert into audit_logs (actor_id, action, ip_address, created_at)
    select i % 5, 'read', ('10.0.1.' || (i % 4))::inet, now() - i * interval '1 minute'
    from generate_series(1, 40) i;
insert into metric_snapshots (source, value, created_at)
    select 'creator-stats', i, now() - i * interval '2 minutes' from generate_series(1, 10) i;
"""

STUCK_PAYOUTS = """
insert into payouts (creator_id, amount_cents, status, created_at)
    select 100 + i, 12000, 'pending', now() - interval '3 hours' from generate_series(1, 3) i;
"""

# Sessions the incident holds. With max_connections 20 (17 usable) and Vigil's own connection
# (one per xdist worker), 14 to 16 are in use: above the 80% warning, below the 95% critical.
INCIDENT_SESSIONS = 13


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    # initdb and pg_ctl refuse to run as root; the Debian package's postgres user owns the data.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """A PostgreSQL cluster of its own: temp data dir, 127.0.0.1 on a free port.

    The superuser `postgres` connects without a password over the cluster's unix socket
    (`admin_dsn`); over TCP every role needs its password (scram-sha-256), so a wrong
    password fails for real.
    """

    def __init__(
        self, *, max_connections: int = 100, settings: dict[str, str] | None = None
    ) -> None:
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.directory = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
        self.data = self.directory / "data"
        self.port = 0
        self.password = secrets.token_urlsafe(16)
        self.started = False

    @property
    def socket_dir(self) -> str:
        return str(self.directory)

    def admin_dsn(self, dbname: str = "postgres") -> str:
        """Superuser over the unix socket: for setting up data and producing faults."""
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={dbname}"

    def dsn(
        self, user: str = "postgres", password: str | None = None, dbname: str = "postgres"
    ) -> str:
        """A TCP URL as an application would use it (password included)."""
        secret = self.password if password is None and user == "postgres" else password
        auth = f"{user}:{secret}@" if secret else f"{user}@"
        return f"postgresql://{auth}127.0.0.1:{self.port}/{dbname}"

    def initdb(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        password_file = self.directory / "superuser-password"
        password_file.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(password_file, "postgres", "postgres")
        self._run(
            str(BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={password_file}",
        )
        password_file.unlink()

    @classmethod
    def standby_of(cls, primary: PostgresServer) -> PostgresServer:
        """A hot standby of `primary` (copied with pg_basebackup, streaming); not started yet."""
        standby = cls(max_connections=primary.max_connections, settings=primary.settings)
        standby.password = primary.password
        if os.geteuid() == 0:
            shutil.chown(standby.directory, "postgres", "postgres")
        standby._run(
            str(BIN / "pg_basebackup"), "-h", primary.socket_dir, "-p", str(primary.port),
            "-U", "postgres", "-D", str(standby.data), "-R", "-X", "stream", "-c", "fast",
            "--no-sync",
        )  # fmt: skip
        return standby

    def start(self, attempts: int = 3) -> None:
        """Initialise (once) and start the cluster; retries on a port taken meanwhile."""
        if not self.data.exists():
            self.initdb()
        for attempt in range(attempts):
            self.port = free_port()
            options = {
                "port": str(self.port),
                "listen_addresses": "127.0.0.1",
                "unix_socket_directories": self.socket_dir,
                "max_connections": str(self.max_connections),
                "shared_preload_libraries": "pg_stat_statements",
                "fsync": "off",
                "full_page_writes": "off",
                "synchronous_commit": "off",
                **self.settings,
            }
            flags = " ".join(f"-c {key}={value}" for key, value in options.items())
            try:
                self._run(
                    str(BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.directory / "log"),
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    flags,
                    "start",
                )
            except SandboxError:
                if attempt == attempts - 1:
                    raise
                continue
            self.started = True
            return

    def stop(self, remove: bool = True) -> None:
        """Stop the cluster at once (sessions are cut) and, unless told not to, delete it."""
        if self.started:
            with contextlib.suppress(SandboxError):
                self._run(
                    str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
                )
            self.started = False
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        """Run SQL (several statements allowed) as the superuser."""
        with psycopg.connect(self.admin_dsn(dbname), autocommit=True) as conn:
            conn.execute(sql.encode())

    def install_monitor_role(self, password: str) -> None:
        """Create the least-privilege role from deploy/postgres-grants.sql, with a password."""
        self.execute(GRANTS.read_text())
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("alter role {} password {}").format(
                    psycopg.sql.Identifier(MONITOR_ROLE), psycopg.sql.Literal(password)
                )
            )

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            _as_owner(list(command)),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            log = self.directory / "log"
            tail = log.read_text()[-1500:] if log.exists() else ""
            raise SandboxError(
                f"{Path(command[0]).name} failed ({result.returncode}):"
                f" {result.stderr.strip()[-1500:]}\n{tail}"
            )


class Sessions:
    """Client sessions that produce faults for real; `close()` ends them all."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.connections: list[psycopg.Connection[tuple[object, ...]]] = []

    def open(self, application: str = "app", count: int = 1) -> list[int]:
        """Open idle connections; returns their backend pids."""
        pids = []
        for _ in range(count):
            conn = psycopg.connect(self.dsn, autocommit=True, application_name=application)
            self.connections.append(conn)
            pids.append(conn.info.backend_pid)
        return pids

    def send(self, sql: str, application: str = "app") -> int:
        """Start `sql` on a new session without waiting for it (it stays active)."""
        pid = self.open(application)[0]
        conn = self.connections[-1]
        conn.pgconn.send_query(sql.encode())
        conn.pgconn.flush()
        return pid

    def long_query(self, seconds: float = 3600) -> int:
        return self.send(f"select pg_sleep({seconds})", "reports")

    def idle_in_transaction(self, sql: str = "select 1") -> int:
        """A session that ran `sql` in a transaction and then went quiet."""
        pid = self.open("worker")[0]
        conn = self.connections[-1]
        conn.execute("begin")
        conn.execute(sql.encode())
        return pid

    def blocked(self, table: str = "payouts") -> tuple[int, int]:
        """One session holds a row lock and idles; another waits for it. (blocker, blocked)."""
        blocker = self.idle_in_transaction(f"select * from {table} where id = 1 for update")
        waiter = self.send(f"select * from {table} where id = 1 for update", "payouts-api")
        return blocker, waiter

    def close(self) -> None:
        for conn in self.connections:
            with contextlib.suppress(Exception):
                conn.pgconn.finish()  # does not wait for a query still running
        self.connections.clear()


def wait_until(condition: Callable[[], object], timeout_s: float = 10) -> None:
    """Poll `condition()` every 20 ms until it is true."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SandboxError(f"gave up waiting after {timeout_s:g} s")
        time.sleep(0.02)


class PostgresSandbox:
    """The sandbox component: `SANDBOX_PG_DSN` for the least-privilege role on the demo db."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.server = PostgresServer(max_connections=20)
        self.sessions: Sessions | None = None

    def start(self) -> dict[str, str]:
        server = self.server
        server.start()
        monitor_password = secrets.token_urlsafe(16)
        server.install_monitor_role(monitor_password)
        server.execute("create database app")
        server.execute(
            "create extension pg_stat_statements;"
            + DEMO_SCHEMA
            + DEMO_DATA
            + f"grant select on all tables in schema public to {MONITOR_ROLE};",
            "app",
        )
        if self.scenario == "incident":
            self._incident()
        return {"SANDBOX_PG_DSN": server.dsn(MONITOR_ROLE, monitor_password, "app")}

    def _incident(self) -> None:
        self.server.execute(STUCK_PAYOUTS, "app")
        sessions = self.sessions = Sessions(self.server.admin_dsn("app"))
        sessions.long_query()
        sessions.blocked()
        sessions.open("payments-api", INCIDENT_SESSIONS - 3)
        # Waiting here ages the long query, the idle transaction and the lock wait past the
        # sandbox's thresholds (1 s), and leaves a finished slow statement in the statistics.
        with psycopg.connect(self.server.admin_dsn("app"), application_name="reports") as conn:
            conn.execute("select pg_sleep(1.2)")

    def stop(self) -> None:
        if self.sessions:
            self.sessions.close()
        self.server.stop()
