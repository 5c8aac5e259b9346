"""Running the checks: every observation they need is started at once, before the first check
asserts; a check whose observation missed the run's deadline fails before its body runs; a
check that fails is run again on a fresh observation while it has retries left."""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest
from _pytest.python import pytest_pyfunc_call as call_test_function

from vigil.expect import NotEvaluated
from vigil.family import observations
from vigil.plugin import roots
from vigil.plugin.fixtures import Missed
from vigil.plugin.state import ATTEMPTS, CHECK_KEY, DEADLINE_MISSED, CheckInfo, state_of
from vigil.session import DeadlineReached
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
    # What collection built lives to the end of the run: out of the collector's way, so that
    # the garbage collections of a 10,000-check run do not walk it again and again.
    gc.freeze()


def deadline_missed(item: pytest.Function) -> None:
    """A check whose observation missed the run's deadline fails before its body runs."""
    missed = item.stash.get(DEADLINE_MISSED, None)
    if missed is None:
        given = (value for value in item.funcargs.values() if isinstance(value, Missed))
        missed = next((value.target_id for value in given), None)
    if missed is not None:
        item.stash[DEADLINE_MISSED] = missed
        seconds = item.config.getoption("deadline")
        raise NotEvaluated(f"deadline: {missed} was not observed within the run's {seconds:g} s")


def retry_policy(config: pytest.Config, target: Target[Any]) -> tuple[int, float]:
    """(retries, delay in seconds) for a target's checks: the most specific setting wins, the
    target's own (or its parent's, for an SQL assertion), its environment file's, then
    `--retries`."""
    retries: int | None = None
    delay: float | None = None
    for owner in (target.spec, target.parent):
        if retries is None:
            retries = getattr(owner, "retries", None)
        if delay is None:
            delay = getattr(owner, "retry_delay_s", None)
    environment = target.environment.spec
    if retries is None and "retries" in environment.model_fields_set:
        retries = environment.retries
    if retries is None:
        retries = config.getoption("retries", None) or 0
    return int(retries), float(delay if delay is not None else environment.retry_delay_s)


def call_check(item: pytest.Function) -> bool | None:
    """Run a check's body; while it finds its symptom and has retries left, wait, look at
    the target again (a fresh observation, not the cached one) and run it again. A retry
    that could not finish before the run's deadline is not started. A check that fails or
    skips while its target is unreachable is blocked by the target's reachability check
    (`vigil.plugin.roots`): not evaluated, without retries of its own."""
    info = item.stash.get(CHECK_KEY, None)
    if info is None:
        return None  # not a check: pytest calls it as usual
    deadline_missed(item)
    retries, delay = retry_policy(item.config, info.target)
    attempts = 1
    try:
        while True:
            try:
                call_test_function(item)
                return True
            except pytest.skip.Exception:
                roots.blocked(item, info)  # folded under the root, still a skip
                raise
            except (AssertionError, pytest.fail.Exception) as failure:  # a symptom, not a crash
                if isinstance(failure, NotEvaluated) and DEADLINE_MISSED in item.stash:
                    raise
                root = roots.blocked(item, info)
                if root is not None:
                    raise NotEvaluated(f"{root.target.name} unreachable") from None
                if attempts > retries or not _observe_again(item, info, delay):
                    raise
                attempts += 1
    finally:
        item.stash[ATTEMPTS] = attempts


def _observe_again(item: pytest.Function, info: CheckInfo, delay_s: float) -> bool:
    """Replace the check's observations with fresh ones; False when the deadline forbids."""
    session = state_of(item.config).session
    if session is None or not info.observations:
        return False
    ends = time.time() + delay_s + info.target.timeout_s
    if session.deadline_at is not None and ends > session.deadline_at:
        return False
    time.sleep(delay_s)
    declared = observations()
    for name in info.observations:
        observation = declared[name][1]
        session.forget(observation, info.target)
        try:
            item.funcargs[name] = session.result(observation, info.target)
        except DeadlineReached:
            return False
    return True
