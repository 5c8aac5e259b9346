"""PostgreSQL for the project's tests: one real cluster per test process, a database per test.

`shared_cluster(config)` starts the cluster once per process (per xdist worker) with the
sandbox's `PostgresServer`, installs `pg_stat_statements` and the demo schema in a template
database and creates the least-privilege role from deploy/postgres-grants.sql. A test asks
for `fresh_database(...)` (a copy of the template, dropped afterwards) and produces faults
with `Sessions` over the superuser's unix socket.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.probing import targets_of
from vigil.environment import load_environment
from vigil.families.postgres.spec import PostgresTarget, SqlAssertion
from vigil.sandbox.postgres import (
    DEMO_DATA,
    DEMO_SCHEMA,
    MONITOR_ROLE,
    STUCK_PAYOUTS,
    PostgresServer,
    Sessions,
)
from vigil.targets import Target

TEMPLATE = "vigil_template"
NO_STATS_ROLE = "vigil_nostats"  # may log in, lacks pg_monitor: sees only its own sessions
EXAMPLE = Path(__file__).resolve().parent.parent / "environments" / "production.example.yaml"

# Every data-level symptom of the example assertions, for real.
DATA_FAULTS = (
    STUCK_PAYOUTS
    + """
insert into payments (amount_cents, status, created_at)
    values (990, 'pending', now() - interval '2 days');
insert into logins (email, ip_address, success)
    select 'victim@example.com', '203.0.113.9', false from generate_series(1, 8);
insert into audit_logs (actor_id, action, ip_address)
    select 7, 'bulk_export', '198.51.100.4' from generate_series(1, 150);
update metric_snapshots set created_at = created_at - interval '3 hours';
update payments set created_at = created_at - interval '4 hours';
"""
)
MAX_CONNECTIONS = 40  # usable: 37 (3 reserved for superusers)


@dataclass
class Cluster:
    server: PostgresServer
    monitor_password: str

    def monitor_dsn(self, dbname: str) -> str:
        return self.server.dsn(MONITOR_ROLE, self.monitor_password, dbname)

    def admin_url(self, dbname: str) -> str:
        return self.server.dsn("postgres", None, dbname)

    def client_backends(self) -> int:
        with psycopg.connect(self.server.admin_dsn(), autocommit=True) as conn:
            row = conn.execute(
                "select count(*) from pg_stat_activity where backend_type = 'client backend'"
                " and pid <> pg_backend_pid()"
            ).fetchone()
        assert row is not None
        return int(row[0])


_KEY = pytest.StashKey[Cluster]()


def shared_cluster(config: pytest.Config) -> Cluster:
    """The process's cluster, started on first use and stopped when pytest ends."""
    if _KEY not in config.stash:
        server = PostgresServer(max_connections=MAX_CONNECTIONS)
        config.add_cleanup(server.stop)
        server.start()
        password = secrets.token_urlsafe(12)
        server.install_monitor_role(password)
        server.execute(f"create role {NO_STATS_ROLE} login password '{password}'")
        server.execute(f"create database {TEMPLATE}")
        server.execute(
            "create extension pg_stat_statements;"
            + DEMO_SCHEMA
            + DEMO_DATA
            + f"grant select on all tables in schema public to {MONITOR_ROLE};",
            TEMPLATE,
        )
        config.stash[_KEY] = Cluster(server, password)
    return config.stash[_KEY]


@contextmanager
def fresh_database(cluster: Cluster, name: str) -> Iterator[str]:
    """A new database copied from the demo template; dropped (sessions cut) afterwards."""
    dbname = f"t_{name}_{secrets.token_hex(3)}"
    cluster.server.execute(f"create database {dbname} template {TEMPLATE}")
    try:
        yield dbname
    finally:
        cluster.server.execute(f"drop database if exists {dbname} with (force)")


@contextmanager
def sessions(cluster: Cluster, dbname: str) -> Iterator[Sessions]:
    """Fault-producing sessions (superuser over the unix socket), all ended afterwards."""
    opened = Sessions(cluster.server.admin_dsn(dbname))
    try:
        yield opened
    finally:
        opened.close()


# Login roles Vigil must refuse, by what makes each privileged (`privileged_roles`).
PRIVILEGED = {
    "super": "superuser",
    "program": "member of pg_execute_server_program through a group role",
    "signal": "NOINHERIT member of pg_signal_backend",
    "writer": "member of pg_write_server_files",
    "reader": "member of pg_read_server_files",
}


@contextmanager
def privileged_roles(cluster: Cluster, password: str) -> Iterator[dict[str, str]]:
    """Login roles (with `password`) of every kind in PRIVILEGED, each also granted pg_monitor
    like the monitoring role, so only its privilege tells them apart: kind -> role name.
    Dropped afterwards."""
    prefix = f"t_priv_{secrets.token_hex(3)}"
    roles = {kind: f"{prefix}_{kind}" for kind in PRIVILEGED}
    group = f"{prefix}_ops"
    statements = [
        f"create role {roles['super']} login superuser",
        f"create role {group} nologin in role pg_execute_server_program",
        f"create role {roles['program']} login in role {group}",
        f"create role {roles['signal']} login noinherit in role pg_signal_backend",
        f"create role {roles['writer']} login in role pg_write_server_files",
        f"create role {roles['reader']} login in role pg_read_server_files",
    ]
    for role in roles.values():
        statements += [
            f"alter role {role} password '{password}'",
            f"grant pg_monitor to {role}",
        ]
    cluster.server.execute(";\n".join(statements))
    try:
        yield roles
    finally:
        cluster.server.execute(
            ";\n".join(f"drop role if exists {r}" for r in [*roles.values(), group])
        )


def hold_connections(cluster: Cluster, held: Sessions, in_use: int) -> None:
    """Open idle sessions until exactly `in_use` client backends exist. Backends of sessions
    closed just before may linger for a moment, so the count is settled, not trusted once."""
    settled = 0
    for _ in range(200):
        missing = in_use - cluster.client_backends()
        if missing > 0:
            held.open("leaky-app", missing)
            settled = 0
        elif missing == 0:
            settled += 1
            if settled == 2:
                return
        time.sleep(0.02)
    raise AssertionError(f"could not settle at {in_use} client backends")


def pg_targets(
    directory: Path, text: str
) -> tuple[list[Target[PostgresTarget]], list[Target[SqlAssertion]]]:
    """The database targets and the SQL assertion targets of an environment file's `text`
    (written as `probe.yaml` in `directory`)."""
    path = directory / "probe.yaml"
    path.write_text(text)
    environment = load_environment(path, {})
    return targets_of("database", environment), targets_of("sql_assertion", environment)


def active_sessions_by_application(cluster: Cluster, dbname: str, application: str) -> int:
    with psycopg.connect(cluster.server.admin_dsn(), autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where datname = %s and application_name = %s",
            [dbname, application],
        ).fetchone()
    assert row is not None
    return int(row[0])


# Invariants the demo data never breaks: they pass whatever state a test puts the database in.
INVARIANTS = {"exports-per-actor", "payments-with-bad-amounts"}


def example_assertions() -> list[dict[str, Any]]:
    """The assertions of environments/production.example.yaml that the tests' faults break
    (the invariants are checked apart, in tests/test_postgres_suite.py)."""
    example = yaml.safe_load(EXAMPLE.read_text())
    return [a for a in example["postgres"][0]["assertions"] if a["name"] not in INVARIANTS]
