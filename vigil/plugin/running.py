"""Running the checks: every observation they need is started at once, before the first check
asserts; a check whose observation missed the run's deadline fails before its body runs."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.expect import NotEvaluated
from vigil.family import observations
from vigil.plugin.state import CHECK_KEY, DEADLINE_MISSED, state_of
from vigil.targets import Target


def prefetch(session: pytest.Session) -> None:
    """Start every probe the selected checks need. An xdist worker does not know in advance
    which checks it will be handed, so each worker observes every selected target: the run
    stays as long as its slowest probe, at the cost of one look per worker."""
    if session.config.option.collectonly:
        return
    probe_session = state_of(session.config).session
    if probe_session is None:
        return
    declared = observations()
    wanted: list[tuple[Any, Target[Any]]] = []
    for item in session.items:
        info = item.stash.get(CHECK_KEY, None)
        if info is not None:
            wanted += [(declared[name][1], info.target) for name in info.observations]
    probe_session.observe_all(wanted)


def deadline_missed(item: pytest.Function) -> None:
    """A check whose observation missed the run's deadline fails before its body runs."""
    missed = item.stash.get(DEADLINE_MISSED, None)
    if missed is not None:
        seconds = item.config.getoption("deadline")
        raise NotEvaluated(f"deadline: {missed} was not observed within the run's {seconds:g} s")
