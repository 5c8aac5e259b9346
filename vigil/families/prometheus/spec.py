"""Settings of the Prometheus family: `prometheus:` in an environment file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from vigil.families.prometheus.presets import expand_presets
from vigil.settings import Bounded, FileInWorkingDirectory, HttpUrl, TargetSettings


class PrometheusRule(Bounded):
    """An instant PromQL query whose every series must stay within `min`/`max`."""

    allow_empty: bool = False
    unit: Literal["ratio", "seconds", "per_second", "count"] | None = None


class PrometheusSection(TargetSettings):
    url: HttpUrl
    rules: list[PrometheusRule] = Field(default_factory=list)
    presets: dict[str, Any] = Field(default_factory=dict)  # see presets.py
    headers: dict[str, str] = Field(default_factory=dict)
    ca_bundle: FileInWorkingDirectory | None = None

    @field_validator("presets")
    @classmethod
    def _valid_presets(cls, value: dict[str, Any]) -> dict[str, Any]:
        expand_presets(value)
        return value

    @model_validator(mode="after")
    def _unique_rule_names(self) -> PrometheusSection:
        seen = {rule.name for rule in self.rules}
        for rule in expand_presets(self.presets):
            if rule["name"] in seen:
                raise ValueError(
                    f"presets: rule name {rule['name']!r} is used twice (give the preset a name)"
                )
            seen.add(rule["name"])
        return self

    def preset_rules(self) -> list[PrometheusRule]:
        """The rules the enabled presets stand for, after the section's own rules."""
        return [PrometheusRule.model_validate(rule) for rule in expand_presets(self.presets)]
