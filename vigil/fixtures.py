"""The fixtures checks ask for: one observation fixture per probe result.

A check names a target fixture (`http_service`, parametrized by the plugin) and an
observation fixture (`http_response`). `OBSERVERS` maps each observation fixture to the
target fixture it reads and to the probe function that makes it ("module:function", imported
on first use so that a run only imports the clients it needs). The plugin uses the same map to
start every needed probe at once before the checks run.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest

from vigil.observe import DeadlineReached, Observations, Observer
from vigil.targets import Target

OBSERVERS: dict[str, tuple[str, str]] = {
    "http_response": ("http_service", "vigil.probes.http:observe_health"),
    "http_components": ("http_service", "vigil.probes.http:observe_components"),
    "pg_status": ("database", "vigil.probes.postgres:observe_database"),
    "pg_assertion": ("sql_assertion", "vigil.probes.postgres:observe_assertion"),
    "redis_status": ("redis_server", "vigil.probes.redis:observe_server"),
    "k8s_objects": ("k8s_namespace", "vigil.probes.kubernetes:observe_namespace"),
    "k8s_cluster_state": ("k8s_cluster", "vigil.probes.kubernetes:observe_cluster"),
    "tls_certificate": ("certificate", "vigil.probes.tls:observe_certificate"),
    "prometheus_health": ("prometheus_server", "vigil.probes.prometheus:observe_server"),
    "prometheus_result": ("prometheus_rule", "vigil.probes.prometheus:observe_rule"),
    "status_summary": ("status_page", "vigil.probes.status_pages:observe_page"),
}

OBSERVATIONS_KEY = pytest.StashKey[Observations]()
DEADLINE_MISSED = pytest.StashKey[str]()
_resolved: dict[str, Observer] = {}


def observer(name: str) -> Observer:
    """The probe function behind an observation fixture."""
    if name not in _resolved:
        module, function = OBSERVERS[name][1].split(":")
        _resolved[name] = getattr(importlib.import_module(module), function)
    return _resolved[name]


def close_probes() -> None:
    """Let every probe module that was used release its connections (its `close()`)."""
    for module in {spec.split(":")[0] for _, spec in OBSERVERS.values()}:
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, "close"):
            loaded.close()


def observe(request: pytest.FixtureRequest, name: str, target: Target) -> Any:
    """The observation, or None when the run's deadline passed first (the plugin then fails
    the check as not evaluated before its body runs)."""
    observations = request.config.stash[OBSERVATIONS_KEY]
    try:
        return observations.get(name, observer(name), target)
    except DeadlineReached:
        request.node.stash[DEADLINE_MISSED] = target.id
        return None


@pytest.fixture
def http_response(request: pytest.FixtureRequest, http_service: Target) -> Any:
    return observe(request, "http_response", http_service)


@pytest.fixture
def http_components(request: pytest.FixtureRequest, http_service: Target) -> Any:
    return observe(request, "http_components", http_service)


@pytest.fixture
def pg_status(request: pytest.FixtureRequest, database: Target) -> Any:
    return observe(request, "pg_status", database)


@pytest.fixture
def pg_assertion(request: pytest.FixtureRequest, sql_assertion: Target) -> Any:
    return observe(request, "pg_assertion", sql_assertion)


@pytest.fixture
def redis_status(request: pytest.FixtureRequest, redis_server: Target) -> Any:
    return observe(request, "redis_status", redis_server)


@pytest.fixture
def k8s_objects(request: pytest.FixtureRequest, k8s_namespace: Target) -> Any:
    return observe(request, "k8s_objects", k8s_namespace)


@pytest.fixture
def k8s_cluster_state(request: pytest.FixtureRequest, k8s_cluster: Target) -> Any:
    return observe(request, "k8s_cluster_state", k8s_cluster)


@pytest.fixture
def tls_certificate(request: pytest.FixtureRequest, certificate: Target) -> Any:
    return observe(request, "tls_certificate", certificate)


@pytest.fixture
def prometheus_health(request: pytest.FixtureRequest, prometheus_server: Target) -> Any:
    return observe(request, "prometheus_health", prometheus_server)


@pytest.fixture
def prometheus_result(request: pytest.FixtureRequest, prometheus_rule: Target) -> Any:
    return observe(request, "prometheus_result", prometheus_rule)


@pytest.fixture
def status_summary(request: pytest.FixtureRequest, status_page: Target) -> Any:
    return observe(request, "status_summary", status_page)
