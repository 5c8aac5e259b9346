"""Root cause first: a check whose target cannot be reached at all is blocked by the check
that carries that failure, instead of telling the same outage under its own runbook entry.

Each kind of target may declare its reachability check (`vigil.family.Reachability`): the
check (`test_ping`), the kind of target it runs on (the target itself, or the one whose
settings are the target's `parent`: an SQL assertion's database), the observation it reads
and the predicate that says "unreachable". A check of such a target that fails or skips
while that observation says unreachable is reported as `not evaluated: <target>
unreachable`, with `blocked_by` naming the reachability check, which carries the failure
(its runbook entry, its steps), once per target. Only when that check is part of the run:
otherwise nobody would carry the failure, and each check tells its own.

Runs where the checks run (an xdist worker too): every worker observes every selected
target, so the reachability check's observation is at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from vigil.family import observations, target_kinds
from vigil.plugin.state import CHECK_KEY, CheckInfo, state_of
from vigil.session import DeadlineReached
from vigil.targets import Target

BLOCKED_BY = pytest.StashKey["Root"]()


@dataclass(frozen=True)
class Root:
    """The reachability check a blocked check stands behind."""

    test_id: str  # e.g. test_ping[production/cache]
    target: Target[Any]
    item: pytest.Item

    @property
    def info(self) -> CheckInfo:
        return self.item.stash[CHECK_KEY]


def _selected(session: pytest.Session) -> dict[str, pytest.Item]:
    """The run's checks by test id (made once per run and process)."""
    state = state_of(session.config)
    if state.checks_by_id is None:
        checks = [item for item in session.items if CHECK_KEY in item.stash]
        state.checks_by_id = {item.nodeid.rpartition("::")[2]: item for item in checks}
    return state.checks_by_id


def _root_target(target: Target[Any], kind: str | None) -> Target[Any] | None:
    """The target the reachability check runs on: `target`, or the first one of `kind` whose
    settings are `target`'s parent, or its very settings (one section making both kinds: a
    cluster and its namespaces), found by identity."""
    if kind is None or kind == target.kind:
        return target
    for candidate in target.environment.targets.get(kind, []):
        if candidate.spec is target.parent or candidate.spec is target.spec:
            return candidate
    return None


def root_of(item: pytest.Item, info: CheckInfo) -> Root | None:
    """The reachability check this check would stand behind, if its kind declares one, it is
    in the run and it is another check than this one."""
    reach = target_kinds().get(info.target.kind)
    declared = reach.reaching if reach is not None else None
    if declared is None:
        return None
    target = _root_target(info.target, declared.kind)
    if target is None:
        return None
    test_id = f"{declared.check}[{target.id}]"
    found = _selected(item.session).get(test_id)
    if found is None or found is item:
        return None
    return Root(test_id, target, found)


def unreachable(item: pytest.Item, root: Root) -> bool:
    """Whether the reachability check's observation says its target cannot be reached."""
    kind = target_kinds()[root.target.kind]
    declared = kind.reaching
    assert declared is not None
    name = declared.observation or kind.observations[0].fixture
    session = state_of(item.config).session
    if session is None:
        return False
    try:
        seen = session.result(observations()[name][1], root.target)
    except DeadlineReached:
        return False  # the deadline is each check's own story
    return bool(declared.unreachable(seen))


def blocked(item: pytest.Item, info: CheckInfo) -> Root | None:
    """The root this check is blocked by: its target is unreachable, and another check of
    the run carries that failure. Remembered on the item for its record."""
    root = root_of(item, info)
    if root is None or not unreachable(item, root):
        return None
    item.stash[BLOCKED_BY] = root
    return root
