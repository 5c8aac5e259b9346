"""Primary and replica roles against a real streaming standby (pg_basebackup of the test
cluster): a standby is not a writable primary, replay lag is measured with replay really
paused, and a database switched to read-only is caught."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import SuiteRun
from tests.pg import Cluster, fresh_database, shared_cluster
from tests.platform_ import Platform
from vigil.sandbox.postgres import MONITOR_ROLE, PostgresServer, wait_until


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Cluster:
    return shared_cluster(pytestconfig)


@pytest.fixture(scope="module")
def standby(cluster: Cluster) -> Iterator[PostgresServer]:
    server = PostgresServer.standby_of(cluster.server)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _one(dsn: str, query: str) -> object:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query.encode()).fetchone()
    assert row is not None
    return row[0]


def test_roles_and_replay_lag(
    run_suite: Callable[..., SuiteRun],
    tmp_path: Path,
    cluster: Cluster,
    standby: PostgresServer,
) -> None:
    primary = cluster.server
    primary.execute("create table if not exists ticks (at timestamptz default now())")
    primary.execute("insert into ticks default values")

    def replayed() -> bool:
        # The insert position: with synchronous_commit off the commit may not be written yet.
        target = _one(primary.admin_dsn(), "select pg_current_wal_insert_lsn()::text")
        return bool(
            _one(
                standby.admin_dsn(),
                f"select pg_last_wal_replay_lsn() >= '{target}'"
                " and pg_last_xact_replay_timestamp() is not null",
            )
        )

    wait_until(replayed)
    _one(standby.admin_dsn(), "select pg_wal_replay_pause()::text")
    try:
        primary.execute("insert into ticks default values")  # received, never replayed
        wait_until(
            lambda: _one(
                standby.admin_dsn(), "select pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"
            )
        )
        time.sleep(1.0)
        with Platform(run_suite, tmp_path) as platform:
            frozen = platform.hold(fresh_database(cluster, "frozen"))
            primary.execute(f"alter database {frozen} set default_transaction_read_only = on")
            on_standby = standby.dsn(MONITOR_ROLE, cluster.monitor_password, "postgres")
            databases: list[dict[str, Any]] = [
                {"name": "primary", "dsn": cluster.monitor_dsn("postgres"), "role": "primary"},
                {"name": "frozen", "dsn": cluster.monitor_dsn(frozen), "role": "primary"},
                {"name": "standby-as-primary", "dsn": on_standby, "role": "primary"},
                {"name": "lagging", "dsn": on_standby, "role": "replica", "max_replica_lag_s": 0.5},
                {"name": "relaxed", "dsn": on_standby, "role": "replica", "max_replica_lag_s": 60},
            ]
            env = platform.environment("suite", "postgres", databases)
            run = platform.run("postgres", env, args=["-k", "writable or replica_lag"])
    finally:
        _one(standby.admin_dsn(), "select pg_wal_replay_resume()::text")
    assert run.outcomes() == {
        "test_primary_writable[suite/primary]": "passed",
        "test_primary_writable[suite/frozen]": "failed",
        "test_primary_writable[suite/standby-as-primary]": "failed",
        "test_replica_lag[suite/lagging]": "failed",
        "test_replica_lag[suite/relaxed]": "passed",
    }, run.output[-3000:]
    out = run.output
    assert "postgres should be a writable primary but the server is in recovery" in out
    assert f"{frozen} should be a writable primary but database {frozen} has" in out
    assert "default_transaction_read_only=on (ALTER DATABASE)" in out
    assert re.search(r"replica replays \d+\.\d s behind the primary \(max 0\.5 s\)", out), out
