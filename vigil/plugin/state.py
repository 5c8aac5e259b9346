"""What the plugin knows for the whole run, kept in pytest's stash under named keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from vigil.environment import Environment
from vigil.errors import ConfigError
from vigil.runbook import RunbookEntry
from vigil.severity import Severity
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.plugin.collector import ResultCollector
    from vigil.redact import Redactor
    from vigil.reports.results import RunResults
    from vigil.session import Probes


@dataclass
class RunState:
    """What the plugin knows for the whole run."""

    suite_run: bool = False
    environments: list[Environment] = field(default_factory=list)
    problems: list[ConfigError] = field(default_factory=list)
    catalog: dict[str, RunbookEntry] = field(default_factory=dict)
    sandbox_started: bool = False
    sandbox_variables: dict[str, str] | None = None
    deadline_at: float | None = None  # time.time(), shared with xdist workers
    session: Probes | None = None
    redactor: Redactor | None = None
    collector: ResultCollector | None = None
    run: RunResults | None = None
    report_paths: list[str] = field(default_factory=list)
    report_error: str | None = None
    tbstyle: str = "auto"  # --tb as the user gave it (configure turns "auto" into "short")
    exit_status: int | None = None  # the run's final exit status, after the --fail-on gate
    checks_by_id: dict[str, pytest.Item] | None = None  # the run's checks, for root cause first
    notified: list[dict[str, str]] = field(default_factory=list)  # each notifier's status


@dataclass(frozen=True)
class CheckInfo:
    """A collected check: its runbook entry, its severity on this target, the target."""

    entry: RunbookEntry
    severity: Severity
    target: Target[object]
    observations: tuple[str, ...] = ()  # the observation fixtures it reads


STATE_KEY = pytest.StashKey[RunState]()
CHECK_KEY = pytest.StashKey[CheckInfo]()
DEADLINE_MISSED = pytest.StashKey[str]()
ATTEMPTS = pytest.StashKey[int]()  # observations a check took (retries)


def state_of(config: pytest.Config) -> RunState:
    return config.stash[STATE_KEY]


def is_check(item: pytest.Item) -> bool:
    return CHECK_KEY in item.stash
