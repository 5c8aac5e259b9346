"""PostgreSQL: reachable, writable where it should be, with room for connections, no long or
blocked queries, and the data-level symptoms written as read-only SQL assertions.

Settings: `spec.py` (`postgres[]`). Probe: `probe.py` (session: `link.py`). Checks:
`checks/test_postgres.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vigil.families.postgres import probe
from vigil.families.postgres.spec import PostgresTarget, SqlAssertion
from vigil.family import Family, Observation, Reachability, TargetKind
from vigil.redact import redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.environment import Environment


def database_values(database: PostgresTarget) -> dict[str, str]:
    """Template values of a database: its DSN masked, host, port and database name."""
    shown = redact_url(database.dsn)
    values = {"dsn_redacted": shown, "database": database.name}
    if "://" in database.dsn:
        # Read from the masked URL: a raw `/` or `#` in the password would otherwise end the
        # host there and put the password's tail in the path.
        parts = urlsplit(shown)
        try:
            port = str(parts.port or 5432)
        except ValueError:  # not a number: the probe says so; the steps show it unfilled
            port = ""
        values.update(host=parts.hostname or "", port=port, database=parts.path.strip("/"))
    return values


def sslmode_note(dsn: str) -> tuple[str, ...]:
    """libpq checks the server's certificate only with sslmode verify-ca or verify-full."""
    found = re.search(r"sslmode\s*=\s*([\w-]+)", dsn)
    mode = found.group(1) if found else "prefer"
    if mode in ("verify-ca", "verify-full"):
        return ()
    default = "" if found else ", libpq's default"
    return (f"the database's TLS certificate is not verified (sslmode={mode}{default})",)


PRIVILEGED_NOTE = (
    "allow_privileged_role: true: Vigil does not refuse a privileged role here; a superuser or"
    " a member of pg_execute_server_program, pg_signal_backend or pg_read/write_server_files"
    " can run server programs, read and write server files and end other sessions from a"
    " read-only transaction (use a pg_monitor role: deploy/postgres-grants.sql)"
)


def privileged_note(database: PostgresTarget) -> tuple[str, ...]:
    """Said in every report of the database's checks and assertions when it is allowed."""
    return (PRIVILEGED_NOTE,) if database.allow_privileged_role else ()


# How every observation of a database whose role is too privileged begins (link.py's refusal).
REFUSAL = "refused to query as role "


def privilege_refused(error: str | None) -> bool:
    """The probe refused the configured role for its privileges: a misconfiguration that
    each check reports as not evaluated, not an outage."""
    return bool(error) and str(error).startswith(REFUSAL)


def unreachable(status: probe.DatabaseStatus) -> bool:
    """No session could be had (refused, silent, authentication failed...), but for a
    role refused for its privileges."""
    return bool(status.error) and not privilege_refused(status.error)


def one_session(
    target: Target[PostgresTarget] | Target[SqlAssertion],
) -> tuple[tuple[str, str, str], int]:
    """The observations of one database share its one session, one at a time."""
    database = target.parent if target.kind == "sql_assertion" else target.spec
    return ("postgres", target.environment.name, database.name), 1


def databases(env: Environment, section: list[PostgresTarget]) -> Iterator[Target[PostgresTarget]]:
    for database in section:
        yield Target(
            "database",
            env,
            database.name,
            database,
            values=database_values(database),
            notes=privileged_note(database) + sslmode_note(database.dsn),
        )


def assertions(env: Environment, section: list[PostgresTarget]) -> Iterator[Target[SqlAssertion]]:
    for database in section:
        values = database_values(database)
        for assertion in database.assertions:
            yield Target(
                "sql_assertion",
                env,
                f"{database.name}/{assertion.name}",
                assertion,
                parent=database,
                values=values | {"query_name": assertion.name},
                catch_all="data-assertion-failed",
                notes=privileged_note(database),
            )


FAMILY = Family(
    name="postgres",
    description="PostgreSQL",
    section="postgres",
    settings=list[PostgresTarget],
    kinds=(
        TargetKind(
            "database",
            "postgres",
            databases,
            observations=(
                Observation(
                    "pg_status",
                    probe.observe_database,
                    probe.database_unobserved,
                    queue=one_session,
                    prepare=probe.prepare,
                ),
            ),
            reachability=Reachability("test_database_reachable", unreachable=unreachable),
        ),
        TargetKind(
            "sql_assertion",
            "postgres.assertions",
            assertions,
            observations=(
                Observation(
                    "pg_assertion",
                    probe.observe_assertion,
                    probe.assertion_unobserved,
                    queue=one_session,
                    prepare=probe.prepare,
                ),
            ),
            reachability=Reachability(
                "test_database_reachable",
                kind="database",
                observation="pg_status",
                unreachable=unreachable,
            ),
        ),
    ),
)
