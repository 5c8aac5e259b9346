"""What the plugin knows for the whole run, shared by its hook modules."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from vigil.environment import Environment
from vigil.errors import ConfigError
from vigil.reports.results import ResultCollector, RunResults
from vigil.runbook import RunbookEntry
from vigil.targets import Target


@dataclass
class RunState:
    """What the plugin knows for the whole run."""

    suite_run: bool = False
    environments: list[Environment] = field(default_factory=list)
    problems: list[ConfigError] = field(default_factory=list)
    catalog: dict[str, RunbookEntry] = field(default_factory=dict)
    sandbox_started: bool = False
    deadline_at: float | None = None
    collector: ResultCollector | None = None
    run: RunResults | None = None
    report_paths: list[str] = field(default_factory=list)
    report_error: str | None = None


@dataclass(frozen=True)
class CheckInfo:
    entry: RunbookEntry
    severity: str
    target: Target


STATE_KEY = pytest.StashKey[RunState]()
CHECK_KEY = pytest.StashKey[CheckInfo]()
VARIABLES_KEY = pytest.StashKey[dict[str, str]]()
