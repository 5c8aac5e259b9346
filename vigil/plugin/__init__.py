"""The pytest plugin: Vigil's one place of pytest wiring. The hooks below only delegate:

- options.py     command-line and ini options
- configure.py   the run: catalog, environments, sandbox, probe session, markers, fixtures
- collection.py  checks x targets, severity and system markers, broken files as items
- fixtures.py    observation fixtures generated from the family declarations
- running.py     observations started at once; the run's deadline; retries
- failure.py     each check's record; a failure with its runbook block and evidence
- collector.py   the records gathered on the controller; whether the run was partial
- finish.py      the --fail-on gate, memory of earlier runs, the report files, metrics
- terminal.py    failures at the user's --tb, flaky passes, a linear failure summary, the last words
- allure.py      Allure labels, attachments and the run's categories and environment
"""

from __future__ import annotations

from typing import Any

import pytest

from vigil.plugin import collection, configure, failure, finish, running, terminal
from vigil.plugin.collector import ResultCollector
from vigil.plugin.options import pytest_addoption
from vigil.plugin.state import STATE_KEY
from vigil.redact import Redactor

__all__ = ["pytest_addoption"]


def pytest_configure(config: pytest.Config) -> None:
    tbstyle = str(config.getoption("tbstyle", "auto"))  # before configure picks a default
    configure.configure(config)
    state = config.stash[STATE_KEY]
    state.tbstyle = tbstyle
    config.pluginmanager.register(collection.ProblemItems(state), "vigil-problem-items")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(), "vigil-xdist")
    if state.suite_run and not hasattr(config, "workerinput"):
        state.collector = ResultCollector(state.redactor or Redactor(), tbstyle)
        config.pluginmanager.register(state.collector, "vigil-results")
        config.pluginmanager.register(terminal.QuietPhases(config), "vigil-quiet-phases")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say, before anything runs, what is being checked and where the sandbox came from."""
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.suite_run:
        return []
    names = ", ".join(e.name for e in state.environments) or "none"
    lines = [f"vigil: environments: {names}"]
    if state.sandbox_variables is not None:
        if config.option.collectonly and not state.sandbox_started:
            how = "not started (collecting only)"
        else:
            how = (
                "started for this run" if state.sandbox_started else "already running, left running"
            )
        lines.append(f"vigil: sandbox {how}")
    if state.deadline_at:
        lines.append(f"vigil: deadline {config.getoption('deadline'):g} s")
    return lines


class XdistHooks:
    """Hooks that exist only when pytest-xdist is installed and enabled."""

    def pytest_configure_node(self, node: Any) -> None:
        """Hand the sandbox's variables to workers so they load identical environments."""
        state = node.config.stash[STATE_KEY]
        node.workerinput["vigil_variables"] = state.sandbox_variables or {}
        node.workerinput["vigil_deadline_at"] = state.deadline_at


def pytest_unconfigure(config: pytest.Config) -> None:
    configure.unconfigure(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.config.stash[STATE_KEY].suite_run:
        collection.generate_tests(metafunc)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if config.stash[STATE_KEY].suite_run:
        collection.modify_items(session, config, items)


@pytest.hookimpl(tryfirst=True)  # before xdist's worker loop, which takes over the run
def pytest_runtestloop(session: pytest.Session) -> None:
    running.prefetch(session)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    return running.call_check(pyfuncitem)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    failure.setup_properties(item)


# Innermost: the record (and the cleaned exception message) is ready before other plugins'
# wrappers, Allure's among them, read the report.
@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    failure.make_record(item, report, call)
    return report


@pytest.hookimpl(trylast=True)  # after the collector, xdist's sender and the terminal
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    failure.drop_record(report)


@pytest.hookimpl(tryfirst=True)  # a silenced failure is SILENCED before pytest calls it XFAIL
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    return terminal.teststatus(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    finish.sessionfinish(session, exitstatus)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    finish.terminal_summary(terminalreporter, exitstatus, config)
