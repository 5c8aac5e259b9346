"""Targets: the things a check looks at, one per environment and configured item.

A check asks for a target by fixture name (`http_service`, `database`, ...) and types it by
its settings, `Target[HttpService]`, so a type checker sees every setting the check reads.
Families make targets from their section of an environment file (`vigil/families/*/`); each
target knows its environment, its name (the second half of the test id `env/name`), its
settings, the values its remediation templates can use, and its severity overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from vigil.severity import Severity

if TYPE_CHECKING:
    from vigil.environment import Environment

SpecT = TypeVar("SpecT", covariant=True)


@dataclass(frozen=True, eq=False)
class Target(Generic[SpecT]):
    """One thing to check in one environment."""

    kind: str  # the target fixture's name, e.g. "http_service"
    environment: Environment
    name: str
    spec: SpecT
    parent: Any = None  # e.g. the database an SQL assertion runs on
    values: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)  # below the file's vars
    notes: tuple[str, ...] = ()  # shown in every report of the target's checks, passing or not
    catch_all: str | None = None  # the entry this target's own `runbook:` stands in for

    @property
    def id(self) -> str:
        return f"{self.environment.name}/{self.name}"

    def __repr__(self) -> str:
        # Reports (Allure parameters, pytest's own output) show targets by repr: never the
        # settings, which hold DSNs, URLs with passwords and header tokens.
        return self.id

    @property
    def timeout_s(self) -> float:
        """The total time one observation of this target may take."""
        own = getattr(self.spec, "timeout_s", None) or getattr(self.parent, "timeout_s", None)
        return float(own or self.environment.timeout_s)

    def runbook_for(self, check_entry: str) -> str:
        """The entry a check on this target belongs to: the check's own, unless the target
        names one with `runbook:` and the check's entry is its kind's catch-all (an HTTP
        service down -> authentication-service-down, a provider's outage -> cdn-unavailable,
        an assertion or rule -> the symptom it measures)."""
        own = getattr(self.spec, "runbook", None)
        return str(own) if own and check_entry == self.catch_all else check_entry

    def severity_for(self, entry_id: str, default: Severity) -> Severity:
        """The severity of a check on this target: an override from the file, else `default`."""
        for owner in (self.spec, self.parent):
            override = getattr(owner, "severity", None)
            if isinstance(override, Severity):
                return override
            if isinstance(override, dict) and entry_id in override:
                return Severity(override[entry_id])
        return default

    def template_values(self) -> dict[str, str]:
        """Values for remediation templates: the environment's vars, then the target's own."""
        environment = self.environment
        values = {"env": environment.name, "target": self.name, **self.defaults}
        if environment.spec.runbook_url:
            values["runbook_url"] = environment.spec.runbook_url
        values.update(environment.spec.vars)
        values.update(self.values)
        return values
