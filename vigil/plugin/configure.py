"""Configuring a run: which environments, which catalog, the sandbox, the probe session.

`pytest_configure` runs these steps in order; each is small and named. Nothing here does any
I/O against a target: probes start when the checks are about to run.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from vigil import sandbox
from vigil.environment import (
    Environment,
    catalog_problems,
    find_environment_files,
    load_environment,
)
from vigil.errors import CatalogError, ConfigError, VigilError
from vigil.family import Observation, reset_registered, target_kinds
from vigil.plugin import fixtures
from vigil.plugin.state import STATE_KEY, RunState
from vigil.redact import Redactor, mask_in_probes
from vigil.runbook import RunbookEntry, merged_catalog, overlay_files, systems
from vigil.severity import Severity
from vigil.worker import run_probes

_VARIABLE_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def configure(config: pytest.Config) -> None:
    quiet_client_loggers()
    register_markers(config)
    state = RunState()
    config.stash[STATE_KEY] = state
    state.suite_run = is_suite_run(config)
    if not state.suite_run:
        return
    keep_out_of_the_collector(config)
    if config.getoption("tbstyle") == "auto":
        config.option.tbstyle = "short"
    state.catalog = catalog(config)
    paths = environment_paths(config)
    variables = variables_for(config, state, paths)
    load_environments(state, paths, variables, public=set(state.sandbox_variables or {}))
    state.redactor = Redactor(secret for env in state.environments for secret in env.secrets)
    mask_in_probes(state.redactor)  # before the probe process forks
    state.deadline_at = deadline_at(config)
    state.session = run_probes(
        [t for env in state.environments for t in env.all_targets()],
        deadline_at=state.deadline_at,
        max_in_flight=config.getoption("probe_concurrency"),
    )
    if not config.option.collectonly:
        state.session.prepare(observations_in_use(state.environments))
    fixtures.register(config)


def observations_in_use(environments: list[Environment]) -> list[Observation[Any]]:
    """The observations of the kinds of target these environments have."""
    kinds = target_kinds()
    used = {kind for env in environments for kind, found in env.targets.items() if found}
    return [o for kind in used for o in kinds[kind].observations]


def quiet_client_loggers() -> None:
    # Client libraries log request URLs at INFO (query tokens included); keep them quiet.
    for name in ("httpx", "httpcore", "urllib3", "kubernetes"):
        logging.getLogger(name).setLevel(logging.WARNING)


def register_markers(config: pytest.Config) -> None:
    """The plugin's own markers, so `--strict-markers` is clean wherever it is installed."""
    lines = [
        "runbook(entry_id): the runbook entry a check belongs to",
        "requires(setting, value=...): collect the check only for targets with this setting",
        *(f"{s}: severity {s}, {s.meaning}" for s in Severity),
        *(f"{name}: system, {help_text}" for name, help_text in systems().items()),
    ]
    for line in lines:
        config.addinivalue_line("markers", line)


def ini_path(config: pytest.Config, name: str) -> Path:
    values: list[str] = config.getini(name)
    return Path(config.rootpath, values[0])


def is_suite_run(config: pytest.Config) -> bool:
    """True when the run collects from the suite directory (checks/), not only tests/."""
    suite = ini_path(config, "vigil_suite").resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0])
        path = (path if path.is_absolute() else Path(config.invocation_params.dir) / path).resolve()
        if path == suite or suite in path.parents:
            return True
    return False


def catalog(config: pytest.Config) -> dict[str, RunbookEntry]:
    """The built-in catalog, the families' entries, and the team's overlays by id (the ini
    option `vigil_catalog`; its default, `runbooks`, may be absent)."""
    places = [
        Path(config.rootpath, place)
        for place in config.getini("vigil_catalog")
        if place != "runbooks" or Path(config.rootpath, place).exists()
    ]
    try:
        return merged_catalog(overlay_files(places)).entries
    except CatalogError as exc:
        raise pytest.UsageError(str(exc)) from None


def resolve_environment_paths(
    args: list[str], directory: Path, skipped: list[str] | None = None
) -> list[Path]:
    """`--env` values as files (see `vigil.environment.find_environment_files`)."""
    try:
        return find_environment_files(args, directory, skipped)
    except ConfigError as exc:
        raise pytest.UsageError(f"--env {exc.problems[0]}") from None


def environment_paths(config: pytest.Config) -> list[Path]:
    skipped: list[str] = []
    paths = resolve_environment_paths(
        config.getoption("env"), ini_path(config, "vigil_environments"), skipped
    )
    if skipped and not hasattr(config, "workerinput"):
        config.pluginmanager.register(SkippedFiles(skipped), "vigil-skipped-files")
    return paths


class SkippedFiles:
    """Says, before the run, which files `--env all` passed over and why."""

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes

    def pytest_report_header(self) -> list[str]:
        return [f"vigil: {note}" for note in self.notes]


def sandbox_home(config: pytest.Config) -> Path:
    return Path(config.getoption("sandbox_home") or config.rootpath)


def variables_for(config: pytest.Config, state: RunState, paths: list[Path]) -> dict[str, str]:
    """The process environment, plus the sandbox's variables when the sandbox is selected:
    handed over by the controller to xdist workers, stand-ins when only collecting (nothing
    is started), else those of the running sandbox, started for this run if need be."""
    variables = dict(os.environ)
    worker_input: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker_input is not None:
        variables.update(worker_input.get("vigil_variables", {}))
        return variables
    sandbox_file = ini_path(config, "vigil_environments") / "sandbox.yaml"
    if not any(p == sandbox_file for p in paths):
        return variables
    if config.option.collectonly:
        running = sandbox.read_state(sandbox_home(config))
        if running:
            state.sandbox_variables = dict(running["variables"])
        else:
            names = _VARIABLE_NAME.findall(sandbox_file.read_text(encoding="utf-8"))
            state.sandbox_variables = sandbox.placeholders(names)
    else:
        try:
            state.sandbox_variables, state.sandbox_started = sandbox.ensure(
                sandbox_home(config), config.getoption("sandbox_scenario")
            )
        except VigilError as exc:
            raise pytest.UsageError(f"sandbox: {exc}") from None
    variables.update(state.sandbox_variables)
    return variables


def load_environments(
    state: RunState, paths: list[Path], variables: dict[str, str], public: set[str]
) -> None:
    """Load every file; a broken one is that file's problem, reported as its failed
    `environment[...]` check, and the others still run. Files that share a `name:` are all
    reported (which of them is meant cannot be guessed)."""
    loaded: list[Environment] = []
    for path in paths:
        try:
            environment = load_environment(path, variables, public)
            unknown = catalog_problems(environment, state.catalog)
            if unknown:
                raise ConfigError(str(path), unknown)
        except ConfigError as exc:
            state.problems.append(exc)
            continue
        except Exception as exc:  # a bug must not cost the other environments their run
            problem = f"(top): cannot be loaded ({type(exc).__name__}); this is a bug in Vigil"
            state.problems.append(ConfigError(str(path), [problem]))
            continue
        loaded.append(environment)
    for environment in loaded:
        others = [e.source for e in loaded if e.name == environment.name and e is not environment]
        if others:
            problem = f"name: {environment.name!r} is also the name of {', '.join(others)}"
            state.problems.append(ConfigError(environment.source, [problem]))
        else:
            state.environments.append(environment)


def deadline_at(config: pytest.Config) -> float | None:
    worker_input: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker_input is not None:
        return worker_input.get("vigil_deadline_at")
    seconds = config.getoption("deadline", None)
    return time.time() + seconds if seconds else None


_FROZEN_AT_EXIT: list[bool] = []


def keep_out_of_the_collector(config: pytest.Config) -> None:
    """A 10,000-check run holds half a million objects to its end; each full garbage
    collection walks them all (0.4 s), pytest's one at the end and the interpreter's at exit
    (1.6 s). `running.prefetch` freezes what collection built; it is unfrozen as the very
    last clean-up (added first, run last: after pytest's own collection), and at exit
    everything is frozen, so the interpreter frees it without walking it."""
    config.add_cleanup(gc.unfreeze)  # a pytester run in the same process collects it later
    if not _FROZEN_AT_EXIT:
        _FROZEN_AT_EXIT.append(True)
        atexit.register(gc.freeze)


def unconfigure(config: pytest.Config) -> None:
    # The families a conftest registered are this run's: a second run in one process
    # imports its conftest again and registers them anew.
    reset_registered()
    mask_in_probes(None)
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return
    if state.session is not None:
        state.session.close()
    if state.sandbox_started:
        sandbox.stop(sandbox_home(config))
