"""The scaffolding of the end-to-end suite tests of a family: real servers in known states, the
environment file that points at them, a run of `pytest checks -m FAMILY`, and what to expect
of it. Used by tests/test_postgres_suite.py and tests/test_redis_suite.py.

    platform = Platform(run_suite, tmp_path)
    server = platform.hold(some_server_context())          # stopped by platform.close()
    env = platform.environment("least", "redis", [{"name": "cache", "url": server.url()}])
    run = platform.run("redis", env)
    assert in_environment(run, "least") == expect("least", {"cache": {"test_ping": "passed"}})
    assert_secret_free(run, {password})
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.conftest import SuiteRun, write_env

T = TypeVar("T")

RUNBOOK_URL = "https://runbooks.example.com/platform"
VARS = {"namespace": "shop", "context": "test"}


def environment_text(
    section: str,
    targets: list[dict[str, Any]],
    *,
    timeout_s: float = 3,
    variables: Mapping[str, str] = VARS,
) -> str:
    """An environment file: the runbook link, `vars`, the default timeout and one section."""
    return yaml.safe_dump(
        {
            "runbook_url": RUNBOOK_URL,
            "timeout_s": timeout_s,
            "vars": dict(variables),
            section: targets,
        },
        sort_keys=False,
    )


def expect(env: str, outcomes: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """`{target: {check: outcome}}` as the test ids of a run: `{"check[env/target]": outcome}`."""
    return {
        f"{check}[{env}/{target}]": outcome
        for target, checks in outcomes.items()
        for check, outcome in checks.items()
    }


def in_environment(run: SuiteRun, env: str) -> dict[str, str]:
    """The outcomes of a run's checks on the targets of one environment."""
    return {test: outcome for test, outcome in run.outcomes().items() if f"[{env}/" in test}


def assert_secret_free(run: SuiteRun, secrets: Iterable[str]) -> None:
    """No secret in the terminal output, the JUnit XML or any report file of the run."""
    assert run.junit is not None, run.output[-3000:]
    texts = {"output": run.output, "junit": ET.tostring(run.junit, encoding="unicode")}
    if run.report_dir.exists():
        for path in sorted(run.report_dir.rglob("*")):
            if path.is_file():
                texts[str(path)] = path.read_text(errors="replace")
    assert len(texts) > 2, f"the run wrote no report in {run.report_dir}"
    for secret in secrets:
        assert secret, "an empty secret would be found everywhere"
        leaks = [where for where, text in texts.items() if secret in text]
        assert not leaks, f"a secret shows in {leaks}"


class Platform:
    """Servers held for one test, environment files in its directory, runs of the suite."""

    def __init__(self, run_suite: Callable[..., SuiteRun], directory: Path) -> None:
        self.run_suite = run_suite
        self.directory = directory
        self._stack = ExitStack()

    def hold(self, context: AbstractContextManager[T]) -> T:
        """Enter `context` (a server, a database, faulty sessions) until `close()`."""
        return self._stack.enter_context(context)

    def on_close(self, callback: Callable[[], object]) -> None:
        self._stack.callback(callback)

    def environment(
        self,
        name: str,
        section: str,
        targets: list[dict[str, Any]],
        *,
        timeout_s: float = 3,
        variables: Mapping[str, str] = VARS,
    ) -> Path:
        """Write `name.yaml` with one section of targets; its test ids read `check[name/...]`."""
        text = environment_text(section, targets, timeout_s=timeout_s, variables=variables)
        return write_env(self.directory, name, text)

    def run(
        self,
        marker: str,
        *environments: Path,
        args: Iterable[str] = (),
        variables: Mapping[str, str] | None = None,
    ) -> SuiteRun:
        """`pytest checks -m MARKER --env FILE... ARGS` in this process, with `variables`
        (what the files' `${...}` name) in its environment."""
        options = [option for path in environments for option in ("--env", str(path))]
        return self.run_suite("-m", marker, *options, *args, env=dict(variables or {}))

    def close(self) -> None:
        """Stop everything held, last held first."""
        self._stack.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
