"""The fixtures checks ask for: one observation fixture per probe result.

A check names a target fixture (`http_service`, parametrized by the plugin) and an
observation fixture (`http_response`). `OBSERVERS` maps each observation fixture to the
target fixture it reads and to the probe function that makes it ("module:function", imported
on first use so that a run only imports the clients it needs). The plugin uses the same map to
start every needed probe at once before the checks run.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from vigil.observe import Observations, Observer
from vigil.targets import Target

OBSERVERS: dict[str, tuple[str, str]] = {
    "http_response": ("http_service", "vigil.probes.http:observe_health"),
    "http_components": ("http_service", "vigil.probes.http:observe_components"),
}

OBSERVATIONS_KEY = pytest.StashKey[Observations]()
_resolved: dict[str, Observer] = {}


def observer(name: str) -> Observer:
    """The probe function behind an observation fixture."""
    if name not in _resolved:
        module, function = OBSERVERS[name][1].split(":")
        _resolved[name] = getattr(importlib.import_module(module), function)
    return _resolved[name]


def observe(request: pytest.FixtureRequest, name: str, target: Target) -> Any:
    observations = request.config.stash[OBSERVATIONS_KEY]
    return observations.get(name, observer(name), target)


@pytest.fixture
def http_response(request: pytest.FixtureRequest, http_service: Target) -> Any:
    return observe(request, "http_response", http_service)


@pytest.fixture
def http_components(request: pytest.FixtureRequest, http_service: Target) -> Any:
    return observe(request, "http_components", http_service)
