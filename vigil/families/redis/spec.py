"""Settings of the Redis family: `redis[]` in an environment file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from vigil.redact import redact_text
from vigil.settings import FileInWorkingDirectory, ServiceAddress, TargetSettings


class RedisTarget(TargetSettings):
    name: str
    url: ServiceAddress
    role: Literal["primary", "replica"] | None = None
    max_memory_usage: float = Field(default=0.9, gt=0, le=1)
    max_latency_ms: float | None = Field(default=None, gt=0)
    max_clients_usage: float = Field(default=0.9, gt=0, le=1)
    queues: dict[str, int] = Field(default_factory=dict)
    min_keys: int | None = Field(default=None, ge=0)
    min_replicas: int | None = Field(default=None, ge=0)
    min_cache_hit_ratio: float | None = Field(default=None, gt=0, le=1)
    max_save_age_h: float | None = Field(default=None, gt=0)
    ca_bundle: FileInWorkingDirectory | None = None

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"must start with redis://, rediss:// or unix://, got {redact_text(value)!r}"
            )
        return value
