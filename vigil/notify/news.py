"""What an environment has to announce to one notifier: new failures, resolved ones, and
every failure still firing, measured against what that notifier was last told.

A run knows what changed since its previous observation (`change`), but a notifier may have
missed a run (it was down, the run was partial, a silence started): so each notifier's own
memory of what it announced as firing, per environment, is kept beside the reports
(`notified.json`), and updated only when its messages were delivered. Then:

- `firing`: the environment's failures that alert: failing, not silenced, not blocked behind
  an unreachable target (its reachability check fires for it), at or above the notifier's
  minimum severity;
- `new`: firing and not announced before;
- `resolved`: announced before and observed this run without firing (passing, silenced,
  blocked, or below the minimum severity now);
- `still`: firing and announced before.

A check this run did not observe (left out, cut by the deadline) keeps what was announced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.record import CheckRecord, Outcome
from vigil.reports.files import write_atomically
from vigil.reports.results import EnvironmentSummary, RunResults

STATE_FILE = "notified.json"


@dataclass
class News:
    """One environment's news for one notifier."""

    environment: EnvironmentSummary
    run: RunResults
    firing: list[CheckRecord] = field(default_factory=list)
    new: list[CheckRecord] = field(default_factory=list)
    resolved: list[CheckRecord] = field(default_factory=list)
    still: list[CheckRecord] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.new or self.resolved)

    def announced_after(self, before: set[str]) -> list[str]:
        """What this notifier will have announced as firing once the news is delivered."""
        observed = {c.id for c in self.run.checks if _observed(c)}
        return sorted((before - observed) | {c.id for c in self.firing})


def _observed(record: CheckRecord) -> bool:
    return record.outcome != Outcome.SKIPPED and not record.deadline_missed


def news_for(
    run: RunResults,
    environment: EnvironmentSummary,
    announced: set[str],
    alerts: Callable[[CheckRecord], bool] = lambda record: True,
) -> News:
    """The environment's news against what was `announced`; `alerts` narrows what fires
    (PagerDuty's minimum severity)."""
    own = [c for c in run.checks if c.environment == environment.name]
    firing = [c for c in own if c.counted and alerts(c)]
    firing_ids = {c.id for c in firing}
    news = News(environment, run, firing)
    news.new = [c for c in firing if c.id not in announced]
    news.still = [c for c in firing if c.id in announced]
    news.resolved = [
        c for c in own if c.id in announced and c.id not in firing_ids and _observed(c)
    ]
    return news


def read_state(path: Path) -> dict[str, dict[str, list[str]]]:
    """{notifier: {environment: [check ids announced as firing]}}; empty when unreadable."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    state: dict[str, dict[str, list[str]]] = {}
    for notifier, by_environment in data.items():
        if isinstance(by_environment, dict):
            state[str(notifier)] = {
                str(env): [str(i) for i in ids]
                for env, ids in by_environment.items()
                if isinstance(ids, list)
            }
    return state


def write_state(path: Path, state: dict[str, dict[str, list[str]]]) -> None:
    write_atomically(path, json.dumps(state, indent=2, sort_keys=True) + "\n")
