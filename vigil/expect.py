"""What checks use to fail: a message with numbers, evidence, and values for the runbook.

A check calls `fail("94 of 100 connections in use (max 80%)", evidence=[...], pids="1,2")`.
The plugin adds the runbook entry and renders its remediation with the target's values plus
the keyword values given here (so a step can name the pod or the pids that were found).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn, Protocol, TypeVar

import pytest


class CheckFailed(pytest.fail.Exception):  # type: ignore[name-defined,misc]
    """A symptom was observed: the target is unhealthy. Shown as its message alone (the test id
    and the runbook section say where), never as a traceback."""

    def __init__(
        self, message: str, evidence: Iterable[str] = (), values: dict[str, str] | None = None
    ):
        super().__init__(message, pytrace=False)
        self.message = message
        self.evidence = list(evidence)
        self.values = dict(values or {})


class NotEvaluated(CheckFailed):
    """The check could not look: the target was unreachable or the probe failed."""


class _Observed(Protocol):
    @property
    def error(self) -> str | None: ...


def fail(message: str, *, evidence: Iterable[str] = (), **values: object) -> NoReturn:
    """Fail the current check with an observed-vs-expected message."""
    __tracebackhide__ = True
    raise CheckFailed(message, evidence, {k: str(v) for k, v in values.items()})


def require(observation: _Observed, what: str) -> None:
    """Fail with the probe's reason when `observation` could not be made."""
    __tracebackhide__ = True
    if observation.error:
        raise NotEvaluated(f"{what}: {observation.error}")


def percent(value: float) -> str:
    """0.9412 -> '94.1%'."""
    return f"{value * 100:.1f}%".replace(".0%", "%")


T = TypeVar("T")


def setting(value: T | None, name: str) -> T:
    """A setting the check is collected for (`@pytest.mark.requires(name)`), typed as given."""
    __tracebackhide__ = True
    if value is None:  # only when a check forgot its `requires` marker
        raise NotEvaluated(f"the check needs the setting {name!r}, which this target lacks")
    return value
