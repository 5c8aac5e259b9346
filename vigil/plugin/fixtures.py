"""The observation fixtures checks ask for, generated from the family declarations.

For every observation a family declares (`http_response` of `http_service`, ...) this module
makes a fixture that takes the target fixture and returns the probe session's observation
of that target, made at most once per run. `register(config)` adds them all to pytest as one
plugin. When the run's deadline passes before an observation arrives, the fixture gives
`Missed`, and the check fails as "not evaluated: deadline" before its body runs.
"""

from __future__ import annotations

import inspect
import types
from typing import Any

import pytest

from vigil.family import Observation, observations
from vigil.plugin.state import state_of
from vigil.session import DeadlineReached
from vigil.targets import Target


class Missed:
    """What an observation fixture gives when the run's deadline passed before the
    observation arrived; the check then fails as "not evaluated: deadline" before its body
    runs (`vigil.plugin.running.deadline_missed`)."""

    __slots__ = ("target_id",)

    def __init__(self, target_id: str) -> None:
        self.target_id = target_id


def _fixture(config: pytest.Config, observation: Observation[Any], kind: str) -> Any:
    # No `request` argument: pytest builds a fixture definition for it at every use, which
    # cost 15% of a 10,000-check run.
    def fixture(**targets: Target[Any]) -> Any:
        target = targets[kind]
        session = state_of(config).session
        assert session is not None, "the probe session is made when the suite is configured"
        try:
            return session.result(observation, target)
        except DeadlineReached:
            return Missed(target.id)

    # pytest reads a fixture's arguments from its signature: (<target fixture>).
    parameters = [inspect.Parameter(kind, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    fixture.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    fixture.__name__ = fixture.__qualname__ = observation.fixture
    fixture.__doc__ = f"What the probe observed of the `{kind}` target (`{observation.fixture}`)."
    return pytest.fixture(name=observation.fixture)(fixture)


def register(config: pytest.Config) -> None:
    """Add one fixture per declared observation (built-in and team families alike)."""
    holder = types.ModuleType("vigil.plugin.generated_fixtures")
    for name, (kind, observation) in observations().items():
        setattr(holder, name, _fixture(config, observation, kind.fixture))
    config.pluginmanager.register(holder, "vigil-observation-fixtures")
