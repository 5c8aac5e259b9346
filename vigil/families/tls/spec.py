"""Settings of the TLS family: `tls[]` in an environment file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vigil.settings import FileInWorkingDirectory, TargetSettings


class TlsTarget(TargetSettings):
    host: str
    port: int = Field(default=443, gt=0, lt=65536)
    name: str | None = None
    warn_days: float = Field(default=30, ge=0)
    critical_days: float = Field(default=7, ge=0)
    ca_bundle: FileInWorkingDirectory | None = None
    server_name: str | None = None
    starttls: Literal["postgres"] | None = None

    @model_validator(mode="after")
    def _tiers(self) -> TlsTarget:
        if self.critical_days > self.warn_days:
            raise ValueError(
                f"critical_days ({self.critical_days:g}) must not exceed warn_days"
                f" ({self.warn_days:g})"
            )
        return self

    @property
    def display_name(self) -> str:
        return self.name or f"{self.host}:{self.port}"
