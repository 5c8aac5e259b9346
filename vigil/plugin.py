"""pytest wiring: options, environments x targets, runbook markers, remediation, prefetch.

Only wiring lives here. Environment files are read by `vigil.environment`, the catalog by
`vigil.runbook`, targets come from `vigil.targets`, probes run through `vigil.observe`; the
observation fixtures are in `vigil.fixtures`, the gate and the reports in `vigil.outcome`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from _pytest._code.code import ExceptionChainRepr, ExceptionRepr

from vigil import fixtures, outcome, sandbox
from vigil.environment import load_environment
from vigil.errors import CatalogError, ConfigError, VigilError
from vigil.expect import CheckFailed, NotEvaluated
from vigil.fixtures import OBSERVATIONS_KEY, OBSERVERS, observer
from vigil.observe import Observations
from vigil.redact import redact_text
from vigil.reports import allure
from vigil.reports.results import ResultCollector
from vigil.runbook import (
    DEFAULT_CATALOG,
    SEVERITIES,
    RunbookEntry,
    load_catalog,
    render,
    severity_rank,
)
from vigil.state import CHECK_KEY, STATE_KEY, VARIABLES_KEY, CheckInfo, RunState
from vigil.targets import KIND_SYSTEM, TARGET_KINDS, Target, targets_for, unknown_entries

# --- options -------------------------------------------------------------------------------


def _severity_option(value: str) -> str:
    if value not in SEVERITIES:
        raise pytest.UsageError(f"--fail-on {value!r}: use one of {', '.join(SEVERITIES)}")
    return value


def _seconds_option(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if seconds <= 0:
        raise pytest.UsageError(f"--deadline {value!r}: give a number of seconds above 0")
    return seconds


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vigil", "Vigil smoke and readiness checks")
    group.addoption(
        "--env",
        action="append",
        default=[],
        metavar="NAME|PATH.yaml|all",
        help="environment to check: environments/NAME.yaml, a YAML file, or 'all' (repeatable;"
        " default: sandbox)",
    )
    group.addoption(
        "--fail-on",
        type=_severity_option,
        default=None,
        metavar="sevN",
        help="exit non-zero only if a check of this severity or a more severe one failed",
    )
    group.addoption(
        "--deadline",
        type=_seconds_option,
        default=None,
        metavar="SECONDS",
        help="bound the whole run: checks not evaluated by then fail as 'not evaluated: deadline'",
    )
    group.addoption(
        "--probe-concurrency",
        type=int,
        default=256,
        metavar="N",
        help="probes in flight at once (default 256; 1 observes one target at a time)",
    )
    group.addoption(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="write readiness.md, readiness.html, results.json and history.jsonl here"
        " (default: reports/)",
    )
    group.addoption(
        "--pushgateway",
        default=None,
        metavar="URL",
        help="push per-environment readiness metrics to this Prometheus Pushgateway",
    )
    group.addoption(
        "--sandbox-home",
        default=None,
        metavar="DIR",
        help="where the sandbox keeps its state, DIR/.vigil/ (default: the project root)",
    )
    group.addoption(
        "--sandbox-scenario",
        choices=sandbox.SCENARIOS,
        default=None,
        help="scenario of the local sandbox when it is started (default: healthy)",
    )


# --- configuration -------------------------------------------------------------------------


def resolve_environment_paths(args: list[str], directory: Path) -> list[Path]:
    """Turn `--env` values into files: NAME, PATH.yaml or 'all'; default is the sandbox."""
    paths: list[Path] = []
    for arg in args or ["sandbox"]:
        if arg == "all":
            found = sorted(
                p for p in directory.glob("*.yaml") if not p.name.endswith(".example.yaml")
            )
            if not found:
                raise pytest.UsageError(f"--env all: no environment files in {directory}")
            paths += found
        elif arg.endswith((".yaml", ".yml")) or os.sep in arg:
            paths.append(Path(arg).resolve())
        else:
            path = directory / f"{arg}.yaml"
            if not path.exists():
                known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml"))) or "none"
                raise pytest.UsageError(f"--env {arg}: there is no {path} (known: {known})")
            paths.append(path)
    return list(dict.fromkeys(paths))


def _is_suite_run(config: pytest.Config) -> bool:
    """True when the run collects from the suite directory (checks/), not only tests/."""
    suite = (config.rootpath / "checks").resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0])
        path = (path if path.is_absolute() else Path(config.invocation_params.dir) / path).resolve()
        if path == suite or suite in path.parents:
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    # Client libraries log request URLs at INFO (query tokens included); keep them quiet.
    for name in ("httpx", "httpcore", "urllib3", "kubernetes"):
        logging.getLogger(name).setLevel(logging.WARNING)
    state = RunState()
    config.stash[STATE_KEY] = state
    if not config.pluginmanager.is_registered(outcome):
        config.pluginmanager.register(outcome, "vigil-outcome")
    config.pluginmanager.register(ProblemItems(state), "vigil-problem-items")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(), "vigil-xdist")
    if not config.pluginmanager.is_registered(fixtures):
        config.pluginmanager.register(fixtures, "vigil-fixtures")
    worker_input = getattr(config, "workerinput", None)
    deadline = config.getoption("deadline", None)
    if worker_input is not None:
        state.deadline_at = worker_input.get("vigil_deadline_at")
    elif deadline:
        state.deadline_at = time.time() + deadline
    concurrency = max(1, config.getoption("probe_concurrency", 256))
    config.stash[OBSERVATIONS_KEY] = Observations(concurrency, deadline_at=state.deadline_at)
    if config.getoption("tbstyle") == "auto":
        config.option.tbstyle = "short"
    state.suite_run = _is_suite_run(config)
    if not state.suite_run:
        return
    if not hasattr(config, "workerinput"):
        state.collector = ResultCollector()
        config.pluginmanager.register(state.collector, "vigil-results")
    catalog = config.rootpath / "checks" / "runbook.yaml"
    try:
        state.catalog = load_catalog(catalog if catalog.exists() else DEFAULT_CATALOG)
    except CatalogError as exc:
        raise pytest.UsageError(str(exc)) from None
    directory = config.rootpath / "environments"
    paths = resolve_environment_paths(config.getoption("env"), directory)
    variables = dict(os.environ)
    if worker_input is not None:
        variables.update(worker_input.get("vigil_variables", {}))
    elif any(p == directory / "sandbox.yaml" for p in paths):
        try:
            sandbox_vars, state.sandbox_started = sandbox.ensure(
                _sandbox_home(config), config.getoption("sandbox_scenario")
            )
        except VigilError as exc:
            raise pytest.UsageError(f"sandbox: {exc}") from None
        variables.update(sandbox_vars)
        config.stash[VARIABLES_KEY] = sandbox_vars
    names: dict[str, str] = {}
    for path in paths:
        try:
            environment = load_environment(path, variables)
        except ConfigError as exc:
            state.problems.append(exc)
            continue
        unknown = unknown_entries(environment, state.catalog)
        if unknown:
            state.problems.append(ConfigError(str(path), unknown))
            continue
        if environment.name in names:
            raise pytest.UsageError(
                f"{path}: environment name {environment.name!r} is also used by"
                f" {names[environment.name]}"
            )
        names[environment.name] = str(path)
        state.environments.append(environment)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say, before anything runs, what is being checked and where the sandbox came from."""
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.suite_run:
        return []
    names = ", ".join(e.name for e in state.environments) or "none"
    lines = [f"vigil: environments: {names}"]
    if VARIABLES_KEY in config.stash:
        how = "started for this run" if state.sandbox_started else "already running, left running"
        lines.append(f"vigil: sandbox {how}")
    if state.deadline_at:
        lines.append(f"vigil: deadline {config.getoption('deadline'):g} s")
    return lines


class XdistHooks:
    """Hooks that exist only when pytest-xdist is installed and enabled."""

    def pytest_configure_node(self, node: Any) -> None:
        """Hand the sandbox's variables to workers so they load identical environments."""
        node.workerinput["vigil_variables"] = node.config.stash.get(VARIABLES_KEY, {})
        node.workerinput["vigil_deadline_at"] = node.config.stash[STATE_KEY].deadline_at


def pytest_unconfigure(config: pytest.Config) -> None:
    if OBSERVATIONS_KEY in config.stash:
        config.stash[OBSERVATIONS_KEY].close()
    fixtures.close_probes()
    state = config.stash.get(STATE_KEY, None)
    if state and state.sandbox_started:
        sandbox.stop(_sandbox_home(config))


def _sandbox_home(config: pytest.Config) -> Path:
    return Path(config.getoption("sandbox_home") or config.rootpath)


# --- collection ----------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    kinds = [name for name in metafunc.fixturenames if name in TARGET_KINDS]
    if not kinds:
        return
    state = metafunc.config.stash[STATE_KEY]
    kind = kinds[0]
    marker = metafunc.definition.get_closest_marker("runbook")
    if marker is None or not marker.args:
        pytest.fail(
            f"{metafunc.definition.nodeid}: a check must name its runbook entry"
            " with @pytest.mark.runbook('entry-id')",
            pytrace=False,
        )
    targets = targets_for(kind, state.environments)
    for required in metafunc.definition.iter_markers("requires"):
        targets = [t for t in targets if _meets(t, *required.args)]
    if marker.args[0] not in state.catalog:
        pytest.fail(
            f"{metafunc.definition.nodeid}: unknown runbook entry {marker.args[0]!r}"
            " (not in checks/runbook.yaml)",
            pytrace=False,
        )
    params = []
    for target in targets:
        info = check_info(target, marker.args[0], state.catalog)
        # The entry's system and the probe's family: a Prometheus rule about pod memory is
        # selected by -m prometheus as well as -m kubernetes.
        names = dict.fromkeys([info.severity, info.entry.system, KIND_SYSTEM[target.kind]])
        marks = [getattr(pytest.mark, name) for name in names]
        params.append(pytest.param(target, marks=marks, id=target.id))
    metafunc.parametrize(kind, params)


def check_info(target: Target, check_entry: str, catalog: dict[str, RunbookEntry]) -> CheckInfo:
    """The entry and severity of one check on one target (the file was checked against the
    catalog when it was loaded, so the entry exists)."""
    entry = catalog[target.runbook_for(check_entry)]
    return CheckInfo(entry, target.severity_for(entry.id, entry.severity), target)


def _meets(target: Target, setting: str, *value: object) -> bool:
    """`requires("setting")`: the setting is given; `requires("setting", v)`: it equals v."""
    actual = getattr(target.spec, setting, None)
    return actual == value[0] if value else actual not in (None, [], {})


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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    state = config.stash[STATE_KEY]
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        target = next(
            (callspec.params[k] for k in TARGET_KINDS if callspec and k in callspec.params), None
        )
        if isinstance(target, Target):
            marker = item.get_closest_marker("runbook")
            info = check_info(target, marker.args[0] if marker else "", state.catalog)
            if config.getoption("allure_report_dir", None):
                allure.label(
                    item,
                    environment=target.environment.name,
                    system=info.entry.system,
                    runbook=info.entry.id,
                    severity=info.severity,
                    link=target.environment.link(info.entry.id),
                )
            item.stash[CHECK_KEY] = info
            kept.append(item)
        elif callspec is not None and any(k in callspec.params for k in TARGET_KINDS):
            dropped.append(item)  # a check with no targets in the selected environments
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    # Most severe first: in an incident the first failures on screen are the ones that matter.
    items[:] = sorted(kept, key=_severity_order)


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


def _severity_order(item: pytest.Item) -> int:
    info = item.stash.get(CHECK_KEY, None)
    return severity_rank(info.severity) if info else 0


# --- running -------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)  # before xdist's worker loop, which takes over the run
def pytest_runtestloop(session: pytest.Session) -> None:
    """Start every probe the selected checks need at once. An xdist worker does not know in
    advance which checks it will be handed, so each worker observes every selected target:
    the run stays as long as its slowest probe, at the cost of one look per worker."""
    if session.config.option.collectonly:
        return
    wanted = []
    for item in session.items:
        info = item.stash.get(CHECK_KEY, None)
        if info is None:
            continue
        for name in getattr(item, "fixturenames", ()):
            if name in OBSERVERS:
                wanted.append((name, observer(name), info.target))
    session.config.stash[OBSERVATIONS_KEY].prefetch(wanted)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    """A check whose observation missed the run's deadline fails before its body runs."""
    missed = pyfuncitem.stash.get(fixtures.DEADLINE_MISSED, None)
    if missed is not None:
        seconds = pyfuncitem.config.getoption("deadline")
        raise NotEvaluated(f"deadline: {missed} was not observed within the run's {seconds:g} s")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Label the check's reports (all phases; JUnit reads the last) with its runbook facts."""
    info = item.stash.get(CHECK_KEY, None)
    if info is None:
        return
    target, entry = info.target, info.entry
    item.user_properties += [
        ("runbook", entry.id),
        ("severity", info.severity),
        ("system", entry.system),
        ("environment", target.environment.name),
        ("target", target.name),
        ("runbook_title", entry.title),
    ]
    link = target.environment.link(entry.id)
    if link:
        item.user_properties.append(("runbook_url", link))
    item.user_properties += [("note", note) for note in target.notes]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under a failed check, show the runbook entry with its steps rendered, and the evidence."""
    report: pytest.TestReport = yield
    info = item.stash.get(CHECK_KEY, None)
    if info is None or not report.failed or call.excinfo is None:
        return report
    _mask(report.longrepr)
    values = info.target.template_values()
    evidence: list[str] = []
    if isinstance(call.excinfo.value, CheckFailed):
        values.update({k: redact_text(v) for k, v in call.excinfo.value.values.items()})
        evidence = [redact_text(line) for line in call.excinfo.value.evidence]
    remediation = [render(step, values) for step in info.entry.remediation]
    diagnosis = [render(step, values) for step in info.entry.diagnosis]
    extra = [("remediation", "\n".join(remediation))]
    if evidence:
        extra.append(("evidence", "\n".join(evidence)))
    if isinstance(call.excinfo.value, NotEvaluated):
        extra.append(("evaluated", "no"))
    report.user_properties += extra
    item.user_properties += extra
    block = runbook_text(info, remediation, diagnosis)
    if item.config.getoption("allure_report_dir", None):
        allure.describe_failure(block, remediation, evidence)
    longrepr = report.longrepr
    if isinstance(longrepr, ExceptionRepr):
        longrepr.addsection("runbook", block)
        if evidence:
            longrepr.addsection("evidence", "\n".join(evidence))
    return report


def _mask(longrepr: object) -> None:
    """Last line of defence: no failure text leaves with a URL password or a `password=`
    value in it, whatever a probe or a library put in an exception message."""
    if not isinstance(longrepr, ExceptionChainRepr):
        return
    for reprtraceback, reprcrash, _ in longrepr.chain:
        if reprcrash is not None:
            object.__setattr__(reprcrash, "message", redact_text(reprcrash.message))
        for entry in reprtraceback.reprentries:
            if hasattr(entry, "lines"):
                object.__setattr__(entry, "lines", [redact_text(line) for line in entry.lines])
    if longrepr.reprcrash is not None:
        object.__setattr__(longrepr.reprcrash, "message", redact_text(longrepr.reprcrash.message))


def runbook_text(info: CheckInfo, remediation: list[str], diagnosis: list[str]) -> str:
    """The block shown under a failure: entry, link, what to do, how to look closer."""
    entry, target = info.entry, info.target
    lines = [
        f"runbook:  {entry.id} - {entry.title} ({info.severity})",
        f"target:   {target.environment.name} / {target.name}",
    ]
    link = target.environment.link(entry.id)
    if link:
        lines.append(f"link:     {link}")
    lines.append("what to do:")
    lines += [f"  {n}. {step}" for n, step in enumerate(remediation, 1)]
    if diagnosis:
        lines.append("look closer:")
        lines += [f"  $ {step}" for step in diagnosis]
    return "\n".join(lines)
