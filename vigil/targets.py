"""Targets: the things a check looks at, one per environment and configured item.

A check asks for a target by fixture name (`http_service`, `database`, ...). The plugin
parametrizes that fixture with `targets_for(kind, environments)`; each target knows its
environment, its name (the second half of the test id `env/name`), its settings, the values
its remediation templates can use, and its severity overrides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from vigil.environment import Environment, PostgresTarget
from vigil.redact import redact_url

# The entries a target's own `runbook:` may replace: each family's catch-all symptom.
GENERIC_ENTRIES = {
    "http-service-down",
    "third-party-outage",
    "data-assertion-failed",
    "prometheus-rule-breached",
}


@dataclass(frozen=True)
class Target:
    """One thing to check in one environment."""

    kind: str
    environment: Environment
    name: str
    spec: Any
    parent: Any = None  # e.g. the database an SQL assertion runs on
    values: dict[str, str] = field(default_factory=dict, compare=False)
    defaults: dict[str, str] = field(default_factory=dict, compare=False)  # below the file's vars
    notes: tuple[str, ...] = ()  # shown in every report of the target's checks, passing or not

    @property
    def id(self) -> str:
        return f"{self.environment.name}/{self.name}"

    def __repr__(self) -> str:
        # Reports (Allure parameters, pytest's own output) show targets by repr: never the
        # settings, which hold DSNs, URLs with passwords and header tokens.
        return self.id

    @property
    def timeout_s(self) -> float:
        own = getattr(self.spec, "timeout_s", None) or getattr(self.parent, "timeout_s", None)
        return float(own or self.environment.spec.timeout_s)

    def runbook_for(self, check_entry: str) -> str:
        """The entry a check on this target belongs to: the check's own, unless the target
        names one with `runbook:` and the check's entry is its family's catch-all (an HTTP
        service down -> authentication-service-down, a provider's outage -> cdn-unavailable,
        an assertion or rule -> the symptom it measures)."""
        own = getattr(self.spec, "runbook", None)
        return str(own) if own and check_entry in GENERIC_ENTRIES else check_entry

    def severity_for(self, entry_id: str, default: str) -> str:
        """The severity of a check on this target: an override from the file, else `default`."""
        for owner in (self.spec, self.parent):
            override = getattr(owner, "severity", None)
            if isinstance(override, str):
                return override
            if isinstance(override, dict) and entry_id in override:
                return str(override[entry_id])
        return default

    def template_values(self) -> dict[str, str]:
        """Values for remediation templates: the environment's vars, then the target's own."""
        spec = self.environment.spec
        values = {"env": self.environment.name, "target": self.name, **self.defaults}
        if spec.runbook_url:
            values["runbook_url"] = spec.runbook_url
        values.update(spec.vars)
        values.update(self.values)
        return values


def _http(env: Environment) -> Iterator[Target]:
    for service in env.spec.http.services if env.spec.http else []:
        yield Target(
            "http_service",
            env,
            service.name,
            service,
            values={
                "url": redact_url(service.url),
                "method": service.method,
                "detailed_url": redact_url(service.detailed_url or ""),
                "service": service.name,
            },
            defaults={"deployment": service.name},
            notes=() if service.verify else ("TLS verification is off for this service",),
        )


def _database_values(database: PostgresTarget) -> dict[str, str]:
    values = {"dsn_redacted": redact_url(database.dsn), "database": database.name}
    if "://" in database.dsn:
        parts = urlsplit(database.dsn)
        values.update(
            host=parts.hostname or "", port=str(parts.port or 5432), database=parts.path.strip("/")
        )
    return values


def _postgres(env: Environment) -> Iterator[Target]:
    for database in env.spec.postgres or []:
        values = _database_values(database)
        yield Target(
            "database",
            env,
            database.name,
            database,
            values=values,
            notes=_sslmode_note(database.dsn),
        )


def _sslmode_note(dsn: str) -> tuple[str, ...]:
    """libpq checks the server's certificate only with sslmode verify-ca or verify-full."""
    found = re.search(r"sslmode\s*=\s*([\w-]+)", dsn)
    mode = found.group(1) if found else "prefer"
    if mode in ("verify-ca", "verify-full"):
        return ()
    default = "" if found else ", libpq's default"
    return (f"the database's TLS certificate is not verified (sslmode={mode}{default})",)


def _sql_assertions(env: Environment) -> Iterator[Target]:
    for database in env.spec.postgres or []:
        for assertion in database.assertions:
            values = _database_values(database) | {"query_name": assertion.name}
            name = f"{database.name}/{assertion.name}"
            yield Target("sql_assertion", env, name, assertion, parent=database, values=values)


def _redis(env: Environment) -> Iterator[Target]:
    for server in env.spec.redis or []:
        parts = urlsplit(server.url)
        values = {
            "redis_url_redacted": redact_url(server.url),
            "host": parts.hostname or "",
            "port": str(parts.port or 6379),
        }
        insecure = "ssl_cert_reqs=none" in server.url.lower()
        notes = ("TLS verification is off (ssl_cert_reqs=none)",) if insecure else ()
        yield Target("redis_server", env, server.name, server, values=values, notes=notes)


def _namespaces(env: Environment) -> Iterator[Target]:
    section = env.spec.kubernetes
    for namespace in section.namespaces if section else []:
        values = {"namespace": namespace}
        if section and section.context:  # else `vars.context`, if any, stays in force
            values["context"] = section.context
        yield Target("k8s_namespace", env, namespace, section, values=values)


def _clusters(env: Environment) -> Iterator[Target]:
    section = env.spec.kubernetes
    if section:
        name = section.context or ("in-cluster" if section.in_cluster else "cluster")
        values = {"context": section.context} if section.context else {}
        yield Target("k8s_cluster", env, name, section, values=values)


def _certificates(env: Environment) -> Iterator[Target]:
    for endpoint in env.spec.tls or []:
        values = {
            "host": endpoint.host,
            "port": str(endpoint.port),
            "server_name": endpoint.server_name or endpoint.host,
        }
        yield Target("certificate", env, endpoint.display_name, endpoint, values=values)


def _prometheus(env: Environment) -> Iterator[Target]:
    section = env.spec.prometheus
    if section:
        values = {"prometheus_url": redact_url(section.url)}
        yield Target("prometheus_server", env, "prometheus", section, values=values)


def _prometheus_rules(env: Environment) -> Iterator[Target]:
    """The section's own rules, then one per enabled preset (each naming its runbook entry)."""
    section = env.spec.prometheus
    if section is None:
        return
    for rule in [*section.rules, *section.preset_rules()]:
        values = {"prometheus_url": redact_url(section.url), "query": rule.query, "rule": rule.name}
        yield Target("prometheus_rule", env, rule.name, rule, parent=section, values=values)


def _status_pages(env: Environment) -> Iterator[Target]:
    for page in env.spec.status_pages or []:
        values = {"provider": page.name, "status_url": redact_url(page.api_url)}
        yield Target("status_page", env, page.name, page, values=values)


TARGET_KINDS: dict[str, Callable[[Environment], Iterable[Target]]] = {
    "http_service": _http,
    "database": _postgres,
    "sql_assertion": _sql_assertions,
    "redis_server": _redis,
    "k8s_namespace": _namespaces,
    "k8s_cluster": _clusters,
    "certificate": _certificates,
    "prometheus_server": _prometheus,
    "prometheus_rule": _prometheus_rules,
    "status_page": _status_pages,
}


def targets_for(kind: str, environments: Iterable[Environment]) -> list[Target]:
    """Every target of one kind across the environments, in file order."""
    return [target for env in environments for target in TARGET_KINDS[kind](env)]


# The system marker of each kind of target: the family of the probe that looks at it.
KIND_SYSTEM = {
    "http_service": "http",
    "database": "postgres",
    "sql_assertion": "postgres",
    "redis_server": "redis",
    "k8s_namespace": "kubernetes",
    "k8s_cluster": "kubernetes",
    "certificate": "tls",
    "prometheus_server": "prometheus",
    "prometheus_rule": "prometheus",
    "status_page": "dependencies",
}

SECTION_OF_KIND = {
    "http_service": "http.services",
    "database": "postgres",
    "sql_assertion": "postgres.assertions",
    "redis_server": "redis",
    "k8s_cluster": "kubernetes",
    "certificate": "tls",
    "prometheus_rule": "prometheus.rules/presets",
    "status_page": "status_pages",
}


def unknown_entries(environment: Environment, known: Collection[str]) -> list[str]:
    """Problems, one per `runbook:` or severity-override key naming an entry not in the
    catalog, so a typo is reported with its environment instead of stopping every run."""
    problems = []
    for kind, section in SECTION_OF_KIND.items():
        for target in TARGET_KINDS[kind](environment):
            where = f"{section} {target.name!r}"
            own = getattr(target.spec, "runbook", None)
            if own and own not in known:
                problems.append(f"{where}: runbook: no entry {own!r} in the catalog")
            overrides = getattr(target.spec, "severity", None)
            for entry_id in overrides if isinstance(overrides, dict) else ():
                if entry_id not in known:
                    problems.append(f"{where}: severity: no entry {entry_id!r} in the catalog")
    return list(dict.fromkeys(problems))
