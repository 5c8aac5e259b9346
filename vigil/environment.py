"""The environment model: one YAML file per environment, read once into immutable objects.

`load_environment(path, variables)` expands `${VAR}` and `${VAR:-default}` from `variables`
(the caller passes the process environment; this module never reads it), validates the
result against the v1 contract and returns an `Environment`. Every problem is reported as a
`ConfigError` naming the file and the key path (`http.services[2].url: ...`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from vigil.errors import ConfigError
from vigil.prometheus_presets import expand_presets
from vigil.redact import redact_text

Severity = Literal["sev1", "sev2", "sev3", "sev4"]
SeverityOverride = Severity | dict[str, Severity]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {redact_text(value)!r}")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Target(_Model):
    """Settings every target shares: a per-target timeout and a severity override.

    `severity: sev1` overrides every check of the target; a mapping overrides per runbook
    entry id, e.g. `{database-connection-usage-high: sev2}`.
    """

    severity: SeverityOverride | None = None
    timeout_s: float | None = Field(default=None, gt=0)


class HttpService(_Target):
    name: str
    url: HttpUrl
    method: str = "GET"
    expect_status: list[int] | None = None
    expect_json: dict[str, Any] | None = None
    max_latency_ms: float | None = Field(default=None, gt=0)
    detailed_url: HttpUrl | None = None
    ca_bundle: str | None = None
    verify: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    runbook: str | None = None  # entry for this service being down (default http-service-down)

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class HttpSection(_Model):
    services: list[HttpService] = Field(default_factory=list)


class _Bounded(_Target):
    """A query returning one number, judged against `max`, `min` or both."""

    name: str
    query: str
    max: float | None = None
    min: float | None = None
    runbook: str | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> _Bounded:
        if self.max is None and self.min is None:
            raise ValueError("give max, min or both")
        return self


class SqlAssertion(_Bounded):
    """A read-only SQL query returning one number, with bounds."""


class PostgresTarget(_Target):
    name: str
    dsn: str
    role: Literal["primary", "replica"] | None = None
    max_connection_usage: float = Field(default=0.8, gt=0, le=1)
    critical_connection_usage: float = Field(default=0.95, gt=0, le=1)
    long_query_s: float = Field(default=300, gt=0)
    idle_in_transaction_s: float = Field(default=600, gt=0)
    lock_wait_s: float = Field(default=60, ge=0)
    max_replica_lag_s: float = Field(default=5, gt=0)
    max_mean_statement_ms: float | None = Field(default=None, gt=0)
    assertions: list[SqlAssertion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tiers_in_order(self) -> PostgresTarget:
        if self.critical_connection_usage < self.max_connection_usage:
            raise ValueError(
                f"critical_connection_usage ({self.critical_connection_usage:g}) is below"
                f" max_connection_usage ({self.max_connection_usage:g})"
            )
        return self


class RedisTarget(_Target):
    name: str
    url: str
    role: Literal["primary", "replica"] | None = None
    max_memory_usage: float = Field(default=0.9, gt=0, le=1)
    max_latency_ms: float | None = Field(default=None, gt=0)
    max_clients_usage: float = Field(default=0.9, gt=0, le=1)
    queues: dict[str, int] = Field(default_factory=dict)
    min_keys: int | None = Field(default=None, ge=0)
    min_replicas: int | None = Field(default=None, ge=0)
    min_cache_hit_ratio: float | None = Field(default=None, gt=0, le=1)
    max_save_age_h: float | None = Field(default=None, gt=0)
    ca_bundle: str | None = None

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"must start with redis://, rediss:// or unix://, got {redact_text(value)!r}"
            )
        return value


class KubernetesSection(_Target):
    """Where the cluster is (kubeconfig + context, in_cluster, or a snapshot file), which
    namespaces to check, and the thresholds; see docs/kubernetes.md."""

    context: str | None = None
    kubeconfig: str | None = None
    in_cluster: bool = False
    snapshot: str | None = None
    namespaces: list[str] = Field(default_factory=list)
    max_restarts: int = Field(default=5, ge=0)
    pending_grace_s: float = Field(default=300, ge=0)
    event_window_min: float = Field(default=30, gt=0)
    required_secrets: dict[str, list[str]] = Field(default_factory=dict)
    shared_secret_keys: list[str] = Field(default_factory=list)
    warn_days: float = Field(default=30, ge=0)
    critical_days: float = Field(default=7, ge=0)
    logs: bool = False

    @property
    def shared_keys(self) -> list[str]:
        """Keys whose value must be the same in every secret holding them: the ones listed in
        `shared_secret_keys`, and any key required in more than one secret."""
        required = Counter(key for keys in self.required_secrets.values() for key in set(keys))
        shared = set(self.shared_secret_keys) | {k for k, n in required.items() if n > 1}
        return sorted(shared)

    @model_validator(mode="after")
    def _one_source(self) -> KubernetesSection:
        sources = [s for s in ("context", "kubeconfig", "snapshot") if getattr(self, s)]
        if self.in_cluster and sources:
            raise ValueError(f"in_cluster cannot be combined with {', '.join(sources)}")
        if self.snapshot and (self.context or self.kubeconfig):
            raise ValueError("snapshot cannot be combined with context or kubeconfig")
        if self.critical_days > self.warn_days:
            raise ValueError(
                f"critical_days ({self.critical_days:g}) is above warn_days ({self.warn_days:g})"
            )
        return self


class TlsTarget(_Target):
    host: str
    port: int = Field(default=443, gt=0, lt=65536)
    name: str | None = None
    warn_days: float = Field(default=30, ge=0)
    critical_days: float = Field(default=7, ge=0)
    ca_bundle: str | None = None
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


class PrometheusRule(_Bounded):
    """An instant PromQL query whose every series must stay within `min`/`max`."""

    allow_empty: bool = False
    unit: Literal["ratio", "seconds", "per_second", "count"] | None = None


class PrometheusSection(_Target):
    url: HttpUrl
    rules: list[PrometheusRule] = Field(default_factory=list)
    presets: dict[str, Any] = Field(default_factory=dict)  # see vigil/prometheus_presets.py
    headers: dict[str, str] = Field(default_factory=dict)
    ca_bundle: str | None = None

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


class StatusPage(_Target):
    """A provider's status page in the Statuspage v2 format (summary.json or status.json)."""

    name: str
    url: HttpUrl
    components: list[str] | None = None
    runbook: str | None = None  # entry for this provider's outage (default third-party-outage)

    @property
    def api_url(self) -> str:
        """The JSON document to read: the URL itself, or a page's `/api/v2/summary.json`."""
        if self.url.split("?")[0].endswith(".json"):
            return self.url
        return self.url.rstrip("/") + "/api/v2/summary.json"


class EnvironmentSpec(_Model):
    """The v1 environment file, as written (after variable expansion)."""

    name: str | None = None
    runbook_url: str | None = None
    vars: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=5, gt=0)
    http: HttpSection | None = None
    postgres: list[PostgresTarget] | None = None
    redis: list[RedisTarget] | None = None
    kubernetes: KubernetesSection | None = None
    tls: list[TlsTarget] | None = None
    prometheus: PrometheusSection | None = None
    status_pages: list[StatusPage] | None = None

    @field_validator("vars", mode="before")
    @classmethod
    def _vars_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            # `key:` with no value is empty, not the text "None"
            return {k: "" if v is None else str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> EnvironmentSpec:
        groups: dict[str, list[str]] = {
            "http.services": [s.name for s in self.http.services] if self.http else [],
            "postgres": [p.name for p in self.postgres or []],
            "redis": [r.name for r in self.redis or []],
            "tls": [t.display_name for t in self.tls or []],
            "prometheus.rules": [r.name for r in self.prometheus.rules] if self.prometheus else [],
            "status_pages": [s.name for s in self.status_pages or []],
        }
        for section, names in groups.items():
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{section}: name {name!r} is used twice")
                seen.add(name)
        return self


class Environment(_Model):
    """A loaded environment: its name, its source file and its validated settings."""

    name: str
    source: str
    spec: EnvironmentSpec

    def link(self, entry_id: str) -> str | None:
        """The runbook link for an entry, `{runbook_url}#{entry id}`, if a base URL is set."""
        if not self.spec.runbook_url:
            return None
        return f"{self.spec.runbook_url.rstrip('#')}#{entry_id}"


def expand_variables(
    node: Any, variables: Mapping[str, str], path: str = ""
) -> tuple[Any, list[str]]:
    """Expand `${VAR}` and `${VAR:-default}` in every string of a YAML tree.

    Returns the expanded tree and the list of problems (one per unset variable, with its
    key path). A value that is exactly one `${VAR}` keeps its text type; YAML typing is not
    re-applied, so numbers and booleans must be written literally or coerced by the model.
    """
    problems: list[str] = []
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            out[key], sub = expand_variables(value, variables, _join(path, str(key)))
            problems += sub
        return out, problems
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            item, sub = expand_variables(value, variables, f"{path}[{index}]")
            items.append(item)
            problems += sub
        return items, problems
    if isinstance(node, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in variables and variables[name] != "":
                return variables[name]
            if default is not None:
                return default
            problems.append(
                f"{path or '(top)'}: environment variable {name} is not set"
                f" (set it, or write ${{{name}:-default}})"
            )
            return match.group(0)

        return _VARIABLE.sub(substitute, node), problems
    return node, problems


def load_environment(path: Path, variables: Mapping[str, str]) -> Environment:
    """Read, expand and validate one environment file; raise `ConfigError` on any problem."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"{where}not valid YAML: {problem}"]) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [f"(top): expected a mapping of sections, got {_kind(raw)}"])
    expanded, problems = expand_variables(raw, variables)
    if problems:
        raise ConfigError(source, problems)
    try:
        spec = EnvironmentSpec.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(error) for error in exc.errors()]) from None
    name = spec.name or path.stem
    return Environment(name=name, source=source, spec=spec)


def _describe(error: Any) -> str:
    location = ""
    for part in error["loc"]:
        if isinstance(part, int):
            location += f"[{part}]"
        elif part in ("str", "dict[str,str]") or str(part).startswith(("literal[", "function-")):
            continue  # union branches are pydantic's bookkeeping, not the user's keys
        else:
            location = _join(location, str(part))
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key (check the spelling; see the environment file reference)"
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = error["msg"]
        if kind not in ("value_error", "assertion_error") and "input" in error:
            message += f" (got {_show(error['input'])})"
        message = message.removeprefix("Value error, ")
    return f"{location or '(top)'}: {message}"


def _show(value: Any) -> str:
    if isinstance(value, dict):  # a mapping where a value belongs may hold any secret
        return f"a mapping with keys {', '.join(map(str, value))}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    text = redact_text(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
