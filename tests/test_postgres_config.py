"""The `postgres:` section: the example file is valid, its runbook ids exist, defaults hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_env
from tests.pg import EXAMPLE
from tests.probing import targets_of
from vigil.environment import load_environment
from vigil.errors import ConfigError
from vigil.families.postgres.spec import PostgresTarget
from vigil.runbook import load_catalog

DSNS = {
    "DATABASE_URL": "postgresql://vigil_monitor:s3cret@127.0.0.1:5432/app",
    "DATABASE_REPLICA_URL": "postgresql://vigil_monitor:s3cret@127.0.0.1:5433/app",
    "REDIS_MONITOR_PASSWORD": "s3cret",
    "AUTH_HEALTH_TOKEN": "t0ken",
}


def test_example_is_valid_and_names_known_runbook_entries() -> None:
    environment = load_environment(EXAMPLE, DSNS)
    databases: list[PostgresTarget] = [t.spec for t in targets_of("database", environment)]
    assert [d.name for d in databases] == ["main", "replica"]
    catalog = load_catalog()
    named = {a.runbook for a in databases[0].assertions if a.runbook}
    assert named == {
        "payment-processing-failure",
        "payment-reconciliation-mismatch",
        "suspicious-login-activity",
        "unusual-access-volume",
        "metric-ingestion-lag",
        "data-breach-suspected",
        "data-corruption-suspected",
    }
    assert named <= set(catalog)
    assert all(catalog[entry].system == "data" for entry in named)


def test_defaults() -> None:
    database = PostgresTarget(name="main", dsn="postgresql://127.0.0.1/app")
    assert (database.max_connection_usage, database.critical_connection_usage) == (0.8, 0.95)
    assert (database.long_query_s, database.idle_in_transaction_s) == (300, 600)
    assert (database.lock_wait_s, database.max_replica_lag_s) == (60, 5)
    assert database.max_mean_statement_ms is None and database.role is None


def test_assertion_without_bounds_is_rejected(tmp_path: Path) -> None:
    path = write_env(
        tmp_path,
        "bad",
        "postgres:\n  - name: main\n    dsn: postgresql://u:pw@127.0.0.1/app\n"
        "    assertions:\n      - {name: a, query: select 1}\n",
    )
    with pytest.raises(ConfigError, match=r"postgres\[0\]\.assertions\[0\]: give max, min or both"):
        load_environment(path, {})
