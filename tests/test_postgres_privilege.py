"""PostgreSQL privilege refusal, against a real cluster with real privileged roles.

A read-only transaction stops writes, not `COPY ... TO PROGRAM`, `pg_terminate_backend()`,
`pg_stat_reset()`, `pg_switch_wal()` or a session-level advisory lock. So before any query the
probe asks what its role may do, and a superuser, or a member (inherited or not) of
pg_execute_server_program, pg_signal_backend, pg_write_server_files or pg_read_server_files,
is refused with the grant to use instead. Each test sets up the harm an assertion could do and
looks, from the server's side, whether it happened.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import SuiteRun
from tests.pg import (
    PRIVILEGED,
    Cluster,
    fresh_database,
    pg_targets,
    privileged_roles,
    sessions,
    shared_cluster,
)
from tests.platform_ import Platform
from tests.probing import observe
from vigil.families.postgres import PRIVILEGED_NOTE
from vigil.sandbox.postgres import MONITOR_ROLE, Sessions
from vigil.session import ProbeSession

PASSWORD = "privileged-test-pw"
LOCK_KEY = 4242


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Cluster:
    return shared_cluster(pytestconfig)


@pytest.fixture
def platform(run_suite: Callable[..., SuiteRun], tmp_path: Path) -> Iterator[Platform]:
    with Platform(run_suite, tmp_path) as started:
        yield started


@pytest.fixture
def marker_dir() -> Iterator[Path]:
    """A directory the server's own OS user may write in (a test's tmp_path is not)."""
    directory = Path(tempfile.mkdtemp(prefix="vigil-privilege-"))
    directory.chmod(0o777)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Server:
    """What the dangerous operations would change, read as the superuser."""

    cluster: Cluster
    dbname: str

    def one(self, query: str, params: list[Any] | None = None) -> Any:
        with psycopg.connect(self.cluster.server.admin_dsn(self.dbname), autocommit=True) as conn:
            row = conn.execute(query.encode(), params).fetchone()
        assert row is not None
        return row[0]

    def state(self) -> dict[str, Any]:
        self.one("select txid_current()")  # some WAL, so that a switch would show
        return {
            "stats_reset": self.one(
                "select stats_reset from pg_stat_database where datname = %s", [self.dbname]
            ),
            "wal_file": self.one("select pg_walfile_name(pg_current_wal_insert_lsn())"),
        }

    def alive(self, pids: list[int]) -> int:
        return int(self.one("select count(*) from pg_stat_activity where pid = any(%s)", [pids]))

    def statements_of(self, roles: list[str]) -> list[str]:
        """Every statement these roles ran on the cluster (pg_stat_statements)."""
        with psycopg.connect(self.cluster.server.admin_dsn(self.dbname), autocommit=True) as conn:
            rows = conn.execute(
                "select s.query from pg_stat_statements s join pg_roles r on r.oid = s.userid"
                " where r.rolname = any(%s)",
                [roles],
            ).fetchall()
        return [str(row[0]) for row in rows]


def dangerous(marker: Path, victim: int) -> list[dict[str, Any]]:
    """Assertions that change the server from a read-only transaction, given the privilege."""
    return [
        {"name": "copy-to-program", "query": f"copy (select 1) to program 'touch {marker}'",
         "max": 0},
        {"name": "terminate", "query": f"select pg_terminate_backend({victim})::int", "max": 0},
        {"name": "stat-reset", "query": "select 0 from pg_stat_reset()", "max": 0},
        {"name": "switch-wal", "query": "select 0 from pg_switch_wal()", "max": 0},
        {"name": "advisory-lock", "query": f"select pg_try_advisory_lock({LOCK_KEY})::int",
         "max": 0},
    ]  # fmt: skip


def test_privileged_roles_are_refused_before_any_query(
    platform: Platform, cluster: Cluster, marker_dir: Path
) -> None:
    """Every kind of privileged role is refused, with the grant to use instead, and none of
    the harm its assertions would do happens; the monitoring role is let in (the server
    refuses it the privileged calls itself, but not the advisory lock, released after)."""
    dbname = platform.hold(fresh_database(cluster, "privilege"))
    roles = platform.hold(privileged_roles(cluster, PASSWORD))
    victims: Sessions = platform.hold(sessions(cluster, dbname))
    server = Server(cluster, dbname)
    targets, pids, markers = [], [], []
    # Every privileged kind, and the monitoring role as the control the server itself refuses.
    logins = {kind: (role, PASSWORD) for kind, role in roles.items()}
    logins["monitor"] = (MONITOR_ROLE, cluster.monitor_password)
    for kind, (role, password) in logins.items():
        pids += victims.open(f"victim-{kind}")
        markers.append(marker_dir / f"touched-by-{kind}")
        targets.append(
            {"name": kind, "dsn": cluster.server.dsn(role, password, dbname),
             "assertions": dangerous(markers[-1], pids[-1])}
        )  # fmt: skip
    env = platform.environment("priv", "postgres", targets)
    before = server.state()

    run = platform.run("postgres", env)

    outcomes = run.outcomes()
    for kind in PRIVILEGED:
        mine = {test: outcome for test, outcome in outcomes.items() if f"[priv/{kind}" in test}
        # reachable and the 5 session checks, and the 5 assertions: all failed on the refusal
        assert len(mine) == 6 + 5 and set(mine.values()) == {"failed"}, (kind, mine)
    assert outcomes["test_database_reachable[priv/monitor]"] == "passed", run.output[-3000:]
    out = run.output
    refused = "refused to query as role {}: it {}"
    assert refused.format(roles["super"], "is a superuser") in out, out[-3000:]
    granted = {
        "program": "pg_execute_server_program",
        "signal": "pg_signal_backend",
        "writer": "pg_write_server_files",
        "reader": "pg_read_server_files",
    }
    for kind, group in granted.items():
        assert refused.format(roles[kind], f"is a member of {group}") in out, kind
    assert "a login role granted pg_monitor, as deploy/postgres-grants.sql creates" in out
    assert "allow_privileged_role: true on this target (dangerous)" in out
    assert "not evaluated: assertion copy-to-program could not be evaluated: refused" in out
    # The monitoring role got as far as the server, which refused it the privileged calls.
    assert "permission denied" in out
    assert "advisory-lock = 1 (max 0)" in out  # any role may take an advisory lock

    # Nothing happened on the server: no program ran, every victim lives, no statistics were
    # reset, no WAL segment was switched; the privileged roles ran the role check alone.
    assert [m.name for m in markers if m.exists()] == []
    assert server.alive(pids) == len(pids)
    assert server.state() == before
    statements = server.statements_of(list(roles.values()))
    assert statements and all("pg_has_role(session_user" in s for s in statements), statements


def test_allow_privileged_role_runs_as_before_with_a_note(
    platform: Platform, cluster: Cluster, marker_dir: Path
) -> None:
    """The same superuser and assertions, allowed: every harm happens (what the refusal
    prevents is real), and every report of the target's checks carries the note."""
    dbname = platform.hold(fresh_database(cluster, "allowed"))
    roles = platform.hold(privileged_roles(cluster, PASSWORD))
    victims: Sessions = platform.hold(sessions(cluster, dbname))
    server = Server(cluster, dbname)
    victim = victims.open("victim")[0]
    marker = marker_dir / "touched"
    target = {
        "name": "admin",
        "dsn": cluster.server.dsn(roles["super"], PASSWORD, dbname),
        "allow_privileged_role": True,
        "assertions": dangerous(marker, victim),
    }
    env = platform.environment("allowed", "postgres", [target])
    before = server.state()

    run = platform.run("postgres", env)

    assert run.outcomes()["test_database_reachable[allowed/admin]"] == "passed", run.output[-3000:]
    assert "refused" not in run.output
    assert marker.exists()
    assert server.alive([victim]) == 0
    after = server.state()
    assert after["stats_reset"] != before["stats_reset"]
    assert after["wal_file"] != before["wal_file"]
    # The note, in every report of every check of the target (its assertions too).
    assert run.junit is not None
    for case in run.junit.iter("testcase"):
        notes = [p.get("value") for p in case.iter("property") if p.get("name") == "note"]
        assert PRIVILEGED_NOTE in notes, case.get("name")
    results = json.loads((run.report_dir / "results.json").read_text())
    assert results["checks"] and all(PRIVILEGED_NOTE in c["notes"] for c in results["checks"])
    for report in ("readiness.md", "readiness.html"):
        shown = (run.report_dir / report).read_text().replace("\\_", "_")  # Markdown escapes _
        assert "allow_privileged_role: true" in shown, report


def test_an_advisory_lock_does_not_outlive_its_assertion(tmp_path: Path, cluster: Cluster) -> None:
    """Any role may take a session-level advisory lock, and a rollback does not release it:
    without care, the run's one session would hold it (and block its waiters) to the end."""
    with fresh_database(cluster, "locks") as dbname:
        dsn = cluster.monitor_dsn(dbname)
        # What the probe guards against: a lock taken in a rolled-back transaction stays.
        with psycopg.connect(dsn) as plain:
            plain.execute(f"select pg_try_advisory_lock({LOCK_KEY + 1})")
            plain.rollback()
            held = plain.execute("select count(*) from pg_locks where locktype = 'advisory'"
                                 " and pid = pg_backend_pid()").fetchone()  # fmt: skip
        assert held == (1,)
        text = json.dumps({"postgres": [{"name": "main", "dsn": dsn, "assertions": [
            {"name": "take", "query": f"select pg_try_advisory_lock({LOCK_KEY})::int", "max": 0},
            {"name": "mine", "max": 0, "query": "select count(*) from pg_locks"
             " where locktype = 'advisory' and pid = pg_backend_pid()"},
        ]}]})  # fmt: skip
        _, (take, mine) = pg_targets(tmp_path, text)
        with ProbeSession() as session:
            taken = observe("pg_assertion", take, session)
            left = observe("pg_assertion", mine, session)
            with psycopg.connect(cluster.server.admin_dsn(dbname), autocommit=True) as admin:
                others = admin.execute(
                    "select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid"
                    " where l.locktype = 'advisory' and a.application_name = 'vigil'"
                ).fetchone()
    assert taken.value == 1 and taken.error is None  # the lock was really taken...
    assert left.value == 0  # ...and released before the next query of the session
    assert others == (0,)


def test_the_refusal_is_made_once_per_run_and_names_the_role(
    tmp_path: Path, cluster: Cluster
) -> None:
    """Every observation of a refused database reports the refusal; the role is asked once."""
    with fresh_database(cluster, "once") as dbname, privileged_roles(cluster, PASSWORD) as roles:
        role = roles["program"]
        dsn = cluster.server.dsn(role, PASSWORD, dbname)
        text = json.dumps({"postgres": [{"name": "main", "dsn": dsn, "assertions": [
            {"name": "a", "query": "select 1", "max": 0}]}]})  # fmt: skip
        (database,), (assertion,) = pg_targets(tmp_path, text)
        with ProbeSession() as session:
            status = observe("pg_status", database, session)
            result = observe("pg_assertion", assertion, session)
        statements = Server(cluster, dbname).one(
            "select sum(s.calls)::int from pg_stat_statements s"
            " join pg_roles r on r.oid = s.userid where r.rolname = %s",
            [role],
        )
    assert status.error is not None and result.error == status.error
    assert status.error.startswith(
        f"refused to query as role {role}: it is a member of pg_execute_server_program,"
        " so a query could run programs on the database server"
    ), status.error
    assert statements == 1
