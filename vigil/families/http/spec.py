"""Settings of the HTTP family: `http.services[]` in an environment file."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from vigil.settings import FileInWorkingDirectory, HttpUrl, Model, TargetSettings


class HttpService(TargetSettings):
    name: str
    url: HttpUrl
    method: str = "GET"
    expect_status: list[int] | None = None
    expect_json: dict[str, Any] | None = None
    max_latency_ms: float | None = Field(default=None, gt=0)
    detailed_url: HttpUrl | None = None
    ca_bundle: FileInWorkingDirectory | None = None
    verify: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    runbook: str | None = None  # entry for this service being down (default http-service-down)

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class HttpSection(Model):
    services: list[HttpService] = Field(default_factory=list)
