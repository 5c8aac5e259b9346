"""Collection: every check x every target of the selected environments, with its markers.

A check names a target fixture (`http_service`, ...) and its runbook entry; it is
parametrized with the targets of that kind (ids `env/target`), each parameter carrying the
severity and system markers, so `-m sev1` and `-m postgres` are exact. Checks run most
severe first. Broken environment files become `environment[NAME]` items, first in the run
whatever `-m` or `-k` selected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vigil.errors import ConfigError
from vigil.family import family_of_kind, observations, target_kinds
from vigil.plugin import allure
from vigil.plugin.state import CHECK_KEY, CheckInfo, RunState, state_of
from vigil.runbook import RunbookEntry
from vigil.targets import Target


def generate_tests(metafunc: pytest.Metafunc) -> None:
    kinds = [name for name in metafunc.fixturenames if name in target_kinds()]
    if not kinds:
        return
    state = state_of(metafunc.config)
    kind = kinds[0]
    entry_id = _entry_id(metafunc.definition, state)
    targets = [t for env in state.environments for t in env.targets.get(kind, [])]
    for required in metafunc.definition.iter_markers("requires"):
        targets = [t for t in targets if _meets(t, *required.args)]
    system = family_of_kind()[kind].name
    params = []
    made: dict[str, pytest.MarkDecorator] = {}  # pytest.mark.NAME reads the ini each time
    for target in targets:
        info = check_info(target, entry_id, state.catalog)
        # The entry's system and the probe's family: a Prometheus rule about pod memory is
        # selected by -m prometheus as well as -m kubernetes.
        names = dict.fromkeys([str(info.severity), info.entry.system, system])
        marks = [made.get(n) or made.setdefault(n, getattr(pytest.mark, n)) for n in names]
        params.append(pytest.param(target, marks=marks, id=target.id))
    metafunc.parametrize(kind, params)


def _entry_id(definition: Any, state: RunState) -> str:
    marker = definition.get_closest_marker("runbook")
    if marker is None or not marker.args:
        pytest.fail(
            f"{definition.nodeid}: a check must name its runbook entry"
            " with @pytest.mark.runbook('entry-id')",
            pytrace=False,
        )
    entry_id = str(marker.args[0])
    if entry_id not in state.catalog:
        pytest.fail(
            f"{definition.nodeid}: unknown runbook entry {entry_id!r} (not in the catalog)",
            pytrace=False,
        )
    return entry_id


def check_info(
    target: Target[Any], check_entry: str, catalog: dict[str, RunbookEntry]
) -> CheckInfo:
    """The entry and severity of one check on one target (the file was checked against the
    catalog when it was loaded, so the entry exists)."""
    entry = catalog[target.runbook_for(check_entry)]
    return CheckInfo(entry, target.severity_for(entry.id, entry.severity), target)


def _meets(target: Target[Any], setting: str, *value: object) -> bool:
    """`requires("setting")`: the setting is given; `requires("setting", v)`: it equals v."""
    actual = getattr(target.spec, setting, None)
    return actual == value[0] if value else actual not in (None, [], {})


@pytest.hookimpl(tryfirst=True)
def modify_items(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = state_of(config)
    kinds = target_kinds()
    watched = observations()
    allure_on = bool(config.getoption("allure_report_dir", None))
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        target = next((params[k] for k in kinds if k in params), None)
        if isinstance(target, Target):
            marker = item.get_closest_marker("runbook")
            info = check_info(target, str(marker.args[0]) if marker else "", state.catalog)
            names = tuple(n for n in getattr(item, "fixturenames", ()) if n in watched)
            info = CheckInfo(info.entry, info.severity, info.target, names)
            if allure_on:
                allure.label(item, info)
            item.stash[CHECK_KEY] = info
            kept.append(item)
        elif any(k in params for k in kinds):
            dropped.append(item)  # a check with no targets in the selected environments
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    # Most severe first: in an incident the first failures on screen are the ones that matter.
    items[:] = sorted(kept, key=_severity_order)


def _severity_order(item: pytest.Item) -> int:
    info = item.stash.get(CHECK_KEY, None)
    return info.severity.rank if info else 0


class EnvironmentProblem(pytest.Item):
    """Stands for an environment file that could not be loaded, so every report shows it."""

    def __init__(self, *, problem: ConfigError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problem = problem

    def runtest(self) -> None:
        raise self.problem

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return "\n".join(f"{self.problem.source}: {p}" for p in self.problem.problems)

    def reportinfo(self) -> tuple[str, int, str]:
        return self.problem.source, 0, f"environment file {self.problem.source}"


class ProblemItems:
    """Adds the broken environment files after -m and -k have selected, so whatever was
    selected they are reported, first."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, items: list[pytest.Item]
    ) -> None:
        items[:0] = [
            EnvironmentProblem.from_parent(
                session,
                name=f"environment[{Path(p.source).stem}]",
                nodeid=f"{p.source}::environment[{Path(p.source).stem}]",
                problem=p,
            )
            for p in self.state.problems
        ]
