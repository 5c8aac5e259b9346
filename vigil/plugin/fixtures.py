"""The observation fixtures checks ask for, generated from the family declarations.

For every observation a family declares (`http_response` of `http_service`, ...) this module
makes a fixture that takes the target fixture and returns the probe session's observation
of that target, made at most once per run. `register(config)` adds them all to pytest as one
plugin. When the run's deadline passes before an observation arrives, the fixture returns
None and marks the check, which then fails as "not evaluated: deadline" before its body runs.
"""

from __future__ import annotations

import inspect
import types
from typing import Any

import pytest

from vigil.family import Observation, observations
from vigil.plugin.state import DEADLINE_MISSED, state_of
from vigil.session import DeadlineReached
from vigil.targets import Target


def observe(
    request: pytest.FixtureRequest, observation: Observation[Any], target: Target[Any]
) -> Any:
    """The observation, or None when the run's deadline passed first."""
    session = state_of(request.config).session
    assert session is not None, "the probe session is made when the suite is configured"
    try:
        return session.result(observation, target)
    except DeadlineReached:
        request.node.stash[DEADLINE_MISSED] = target.id
        return None


def _fixture(observation: Observation[Any], kind: str) -> Any:
    def fixture(request: pytest.FixtureRequest, **targets: Target[Any]) -> Any:
        return observe(request, observation, targets[kind])

    # pytest reads a fixture's arguments from its signature: (request, <target fixture>).
    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for name in ("request", kind)
    ]
    fixture.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    fixture.__name__ = fixture.__qualname__ = observation.fixture
    fixture.__doc__ = f"What the probe observed of the `{kind}` target (`{observation.fixture}`)."
    return pytest.fixture(name=observation.fixture)(fixture)


def register(config: pytest.Config) -> None:
    """Add one fixture per declared observation (built-in and team families alike)."""
    holder = types.ModuleType("vigil.plugin.generated_fixtures")
    for name, (kind, observation) in observations().items():
        setattr(holder, name, _fixture(observation, kind.fixture))
    config.pluginmanager.register(holder, "vigil-observation-fixtures")
