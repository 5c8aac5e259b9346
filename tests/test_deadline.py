"""Bounded runs: hanging targets fail on time, and `--deadline` bounds the whole run.

Every target here accepts connections and never answers. Time budgets follow the rule of
`SuiteRun.budget`: three times the bound the test protects, plus the run's start-up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SuiteRun, suite_run, write_env
from tests.servers import SilentPort

TIMEOUT_S = 2
DEADLINE_S = 2


@pytest.fixture
def silent_ports() -> Iterator[Callable[[int], list[SilentPort]]]:
    opened: list[SilentPort] = []

    def open_ports(count: int) -> list[SilentPort]:
        ports = [SilentPort() for _ in range(count)]
        opened.extend(ports)
        return ports

    yield open_ports
    for port in opened:
        port.close()


def _hanging_env(tmp_path: Path, ports: list[SilentPort], timeout_s: float) -> Path:
    services = "".join(
        f"    - name: s{i}\n      url: http://127.0.0.1:{p.port}/health\n"
        f"      expect_json: {{status: ok}}\n      max_latency_ms: 100\n"
        for i, p in enumerate(ports)
    )
    return write_env(tmp_path, "hung", f"timeout_s: {timeout_s}\nhttp:\n  services:\n{services}")


def without_routes(outcomes: dict[str, str]) -> dict[str, str]:
    """The outcomes but each service's status routes (tests/test_http_semantics.py)."""
    return {k: v for k, v in outcomes.items() if not k.startswith("test_status_routed[")}


def test_every_target_hanging_ends_within_the_timeout(
    run_suite: Callable[..., SuiteRun],
    tmp_path: Path,
    silent_ports: Callable[[int], list[SilentPort]],
) -> None:
    run = run_suite("--env", str(_hanging_env(tmp_path, silent_ports(12), TIMEOUT_S)))
    assert run.seconds < run.budget(TIMEOUT_S), run.seconds  # one timeout, not twelve
    outcomes = without_routes(run.outcomes())
    assert len(outcomes) == 36 and set(outcomes.values()) == {"failed"}, outcomes
    # Root cause first: each service's health check tells it, its 2 other checks behind it.
    assert run.output.count(f"no complete response within {TIMEOUT_S} s from 127.0.0.1:") >= 12
    assert run.output.count("(+2 not evaluated behind it)") == 12
    assert "what to do:" in run.output


def test_deadline_fails_what_was_not_evaluated(
    tmp_path: Path, silent_ports: Callable[[int], list[SilentPort]]
) -> None:
    """The process itself ends in time (nothing holds its exit), so it gets one of its own."""
    env = _hanging_env(tmp_path, silent_ports(3), 60)
    run = suite_run(tmp_path, "--env", str(env), "--deadline", str(DEADLINE_S))
    assert run.seconds < run.budget(DEADLINE_S), run.seconds  # not the targets' 60 s
    outcomes = without_routes(run.outcomes())
    assert len(outcomes) == 9 and set(outcomes.values()) == {"failed"}, outcomes
    reason = f"was not observed within the run's {DEADLINE_S} s"
    assert run.output.count("deadline: hung/s") >= 9 and reason in run.output, run.output
    assert "not evaluated: deadline" in run.output
    results = (run.report_dir / "results.json").read_text()
    assert results.count('"evaluated": false') == 9 + 3  # and each service's 429 route
    data = json.loads(results)  # a run cut by its deadline saw nothing: partial, never READY
    assert data["partial_reasons"] == ["--deadline: 12 checks not observed in time"]
    assert data["environments"][0]["verdict"] == "PARTIAL"
    assert all(check["change"] is None for check in data["checks"])  # not observations


def test_deadline_must_be_positive(run_suite: Callable[..., SuiteRun], tmp_path: Path) -> None:
    run = run_suite("--env", str(write_env(tmp_path, "e", "")), "--deadline", "soon")
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "--deadline 'soon': give a number of seconds above 0" in run.output
