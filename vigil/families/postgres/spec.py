"""Settings of the PostgreSQL family: `postgres[]` in an environment file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vigil.settings import Bounded, ServiceAddress, TargetSettings


class SqlAssertion(Bounded):
    """A read-only SQL query returning one number, with bounds."""


class PostgresTarget(TargetSettings):
    name: str
    dsn: ServiceAddress
    role: Literal["primary", "replica"] | None = None
    max_connection_usage: float = Field(default=0.8, gt=0, le=1)
    critical_connection_usage: float = Field(default=0.95, gt=0, le=1)
    long_query_s: float = Field(default=300, gt=0)
    idle_in_transaction_s: float = Field(default=600, gt=0)
    lock_wait_s: float = Field(default=60, ge=0)
    max_replica_lag_s: float = Field(default=5, gt=0)
    max_mean_statement_ms: float | None = Field(default=None, gt=0)
    # Dangerous: lets Vigil query as a superuser or a member of pg_execute_server_program,
    # pg_signal_backend, pg_read/write_server_files, which it otherwise refuses. Noted in
    # every report of the target's checks.
    allow_privileged_role: bool = False
    assertions: list[SqlAssertion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tiers_in_order(self) -> PostgresTarget:
        if self.critical_connection_usage < self.max_connection_usage:
            raise ValueError(
                f"critical_connection_usage ({self.critical_connection_usage:g}) is below"
                f" max_connection_usage ({self.max_connection_usage:g})"
            )
        return self
