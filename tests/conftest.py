"""Fixtures for the project's own tests: real servers, and running the suite in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import Endpoint, HttpServer, SilentPort

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester"]


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
) -> SuiteRun:
    """Run `pytest checks ARGS` in a process of its own from the project root, as a user
    would: the one runner for tests about the process (its exit, its time, signals, the
    sandbox it starts); `prefix` wraps the command, e.g. to run it in a network namespace."""
    common, junit, report_dir = suite_args(directory)
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
    return SuiteRun(result.returncode, result.stdout + result.stderr, tree, seconds, report_dir)


def suite_args(directory: Path) -> tuple[list[str], Path, Path]:
    """The arguments every test run of the suite takes, its JUnit file and report directory."""
    number = len(list(directory.glob("junit-*")))
    junit = directory / f"junit-{number}.xml"
    report_dir = directory / f"reports-{number}"
    args = [
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        f"--report-dir={report_dir}",
        "-o",
        "junit_logging=no",
    ]
    return args, junit, report_dir


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
    ) -> SuiteRun:
        if prefix:
            return suite_run(pytester.path, *args, env=env, timeout=timeout, prefix=prefix)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        common, junit, report_dir = suite_args(pytester.path)
        started = time.monotonic()
        result = pytester.runpytest_inprocess(
            str(ROOT / "checks"), f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml"),
            *common, *args,
        )  # fmt: skip
        seconds = time.monotonic() - started
        for name in env or {}:
            monkeypatch.delenv(name)
        output = result.stdout.str() + "\n" + result.stderr.str()
        tree = ET.parse(junit).getroot() if junit.exists() else None
        return SuiteRun(int(result.ret), output, tree, seconds, report_dir)

    return run


def write_env(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path
