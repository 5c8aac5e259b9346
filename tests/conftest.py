"""Fixtures for the project's own tests: real servers, and running the suite as a user would,
in this process (`run_suite`, `run_in_process`) or in a process of its own (`suite_run`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from tests.servers import Endpoint, HttpServer, SilentPort

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester"]

# Time budgets (issue "tests that hold on a busy machine"): a run may take three times the
# bound it protects (a timeout, a deadline), as on a busy 2-core machine shared with CI, plus
# its start-up there: configuration, collection and the reports in this process; the
# interpreter and its imports as well for a process of its own (about 3 s on an idle machine).
BUSY_FACTOR = 3
STARTUP_S = 4.0
PROCESS_STARTUP_S = 10.0


@pytest.fixture
def http_server() -> Iterator[Callable[..., HttpServer]]:
    started: list[HttpServer] = []

    def start(routes: dict[str, Endpoint], ssl_context: object = None) -> HttpServer:
        server = HttpServer(routes, ssl_context)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def silent_port() -> Iterator[SilentPort]:
    port = SilentPort()
    yield port
    port.close()


@dataclass
class SuiteRun:
    returncode: int
    output: str
    junit: ET.Element | None
    seconds: float
    report_dir: Path
    startup_s: float = PROCESS_STARTUP_S  # what the run may spend besides probing
    junit_path: Path | None = None

    def budget(self, bound_s: float) -> float:
        """The longest this run may take when what it protects is `bound_s` seconds."""
        return BUSY_FACTOR * bound_s + self.startup_s

    def outcome(self, test_id: str) -> str:
        """'passed', 'failed', 'error' or 'skipped' for one test id from the JUnit XML."""
        assert self.junit is not None, self.output
        for case in self.junit.iter("testcase"):
            if f"{case.get('name')}" == test_id:
                for kind in ("failure", "error", "skipped"):
                    if case.find(kind) is not None:
                        return {"failure": "failed"}.get(kind, kind)
                return "passed"
        raise AssertionError(f"{test_id} not in the JUnit XML:\n{self.output[-3000:]}")

    def outcomes(self) -> dict[str, str]:
        assert self.junit is not None, self.output
        return {
            str(case.get("name")): self.outcome(str(case.get("name")))
            for case in self.junit.iter("testcase")
        }

    def failed(self) -> set[str]:
        return {name for name, outcome in self.outcomes().items() if outcome in ("failed", "error")}


def suite_run(
    directory: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    prefix: Sequence[str] = (),
    report_dir: Path | None = None,
    junit_logging: str = "no",
) -> SuiteRun:
    """Run `pytest checks ARGS` in a process of its own from the project root, as a user
    would: the one runner for tests about the process (its exit, its time, signals, the
    sandbox it starts, everything it writes); `prefix` wraps the command, e.g. to run it in a
    network namespace; `report_dir` may be shared by several runs (history.jsonl grows)."""
    common, junit, report_dir = suite_args(
        directory, report_dir=report_dir, junit_logging=junit_logging
    )
    command = [*prefix, sys.executable, "-m", "pytest", "checks", *common, *args]
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    seconds = time.monotonic() - started
    tree = ET.parse(junit).getroot() if junit.exists() else None
    output = result.stdout + result.stderr
    return SuiteRun(result.returncode, output, tree, seconds, report_dir, junit_path=junit)


def suite_args(
    directory: Path, *, report_dir: Path | None = None, junit_logging: str = "no"
) -> tuple[list[str], Path, Path]:
    """The arguments every test run of the suite takes, its JUnit file and report directory."""
    number = len(list(directory.glob("junit-*")))
    junit = directory / f"junit-{number}.xml"
    report_dir = report_dir or directory / f"reports-{number}"
    args = [
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        f"--report-dir={report_dir}",
        "-o",
        f"junit_logging={junit_logging}",
    ]
    return args, junit, report_dir


# Library modules the in-process runs imported: kept for the whole test process.
KEPT_MODULES: dict[str, ModuleType] = {}


class KeepLibraries:
    """Keeps the library modules an in-process run imported, for the rest of the process.

    Pytester forgets every module imported during a run, and again at the end of the test.
    A library imported lazily during a run (httpx imports httpcore at its first request and
    maps httpcore's exceptions once) would then be imported afresh later, while the modules
    kept from before still hold the first copy's classes: a refused connection would escape
    as a crash. A real process imports each library once; so does this one, but for the
    runs' own test and conftest modules, which are forgotten as pytester means them to be."""

    def __init__(self, *scratch: Path) -> None:
        self.scratch = tuple(path.resolve() for path in scratch)

    def pytest_unconfigure(self) -> None:  # the run's last hook, before pytester forgets
        for name, module in list(sys.modules.items()):
            if name not in KEPT_MODULES and not self._scratch(module):
                KEPT_MODULES[name] = module

    def _scratch(self, module: ModuleType) -> bool:
        where = getattr(module, "__file__", None)
        if not where:
            return False
        path = Path(where).resolve()
        return path.name == "conftest.py" or any(path.is_relative_to(s) for s in self.scratch)


def restore_kept_modules() -> None:
    for name, module in KEPT_MODULES.items():
        sys.modules.setdefault(name, module)


@pytest.fixture(autouse=True)
def _libraries_stay_imported() -> Iterator[None]:
    """Set up before `pytester`, torn down after it: puts back what it forgot."""
    yield
    restore_kept_modules()


def run_in_process(
    pytester: pytest.Pytester, *args: str, plugins: Sequence[object] = ()
) -> pytest.RunResult:
    """`pytester.runpytest_inprocess(*args)`, keeping the libraries it imported
    (`KeepLibraries`): the in-process runs of the checks, a scratch suite or an option."""
    restore_kept_modules()
    try:
        keeper = KeepLibraries(ROOT / "checks", pytester.path)
        return pytester.runpytest_inprocess(*args, plugins=[*plugins, keeper])
    finally:
        restore_kept_modules()


@pytest.fixture
def run_suite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., SuiteRun]:
    """`pytest checks ARGS` run in this process (pytester), as a user would run it, with
    `env` added to the process environment; `prefix` (a network namespace, say) needs a
    process of its own and gets one (`suite_run`)."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        prefix: Sequence[str] = (),
        unset: Sequence[str] = (),
    ) -> SuiteRun:
        if prefix:
            return suite_run(pytester.path, *args, env=env, timeout=timeout, prefix=prefix)
        common, junit, report_dir = suite_args(pytester.path)
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            for name in unset:
                patch.delenv(name, raising=False)
            started = time.monotonic()
            result = run_in_process(
                pytester, str(ROOT / "checks"), f"--rootdir={ROOT}",
                "-c", str(ROOT / "pyproject.toml"), *common, *args,
            )  # fmt: skip
            seconds = time.monotonic() - started
        output = result.stdout.str() + "\n" + result.stderr.str()
        tree = ET.parse(junit).getroot() if junit.exists() else None
        # Under -n the checks run in worker processes, each with its own start-up.
        startup = PROCESS_STARTUP_S if "-n" in args else STARTUP_S
        return SuiteRun(int(result.ret), output, tree, seconds, report_dir, startup, junit)

    return run


def write_env(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path
