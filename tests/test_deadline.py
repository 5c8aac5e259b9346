"""Bounded runs: hanging targets fail on time, and `--deadline` bounds the whole run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import SuiteRun, write_env
from tests.servers import SilentPort


def _hanging_env(tmp_path: Path, ports: list[SilentPort], timeout_s: float) -> Path:
    services = "".join(
        f"    - name: s{i}\n      url: http://127.0.0.1:{p.port}/health\n"
        f"      expect_json: {{status: ok}}\n      max_latency_ms: 100\n"
        for i, p in enumerate(ports)
    )
    return write_env(tmp_path, "hung", f"timeout_s: {timeout_s}\nhttp:\n  services:\n{services}")


def test_every_target_hanging_ends_within_the_timeout(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    ports = [SilentPort() for _ in range(12)]
    try:
        run = run_suite("--env", str(_hanging_env(tmp_path, ports, 2)))
    finally:
        for port in ports:
            port.close()
    assert run.seconds < 10, run.seconds
    outcomes = run.outcomes()
    assert len(outcomes) == 36 and set(outcomes.values()) == {"failed"}
    assert run.output.count("no complete response within 2 s") >= 36
    assert "what to do:" in run.output


def test_deadline_fails_what_was_not_evaluated(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    ports = [SilentPort() for _ in range(3)]
    try:
        run = run_suite("--env", str(_hanging_env(tmp_path, ports, 60)), "--deadline", "2")
    finally:
        for port in ports:
            port.close()
    assert run.seconds < 8, run.seconds
    outcomes = run.outcomes()
    assert len(outcomes) == 9 and set(outcomes.values()) == {"failed"}, outcomes
    assert run.output.count("deadline: hung/s") >= 9
    assert "not evaluated: deadline" in run.output
    results = (run.report_dir / "results.json").read_text()
    assert results.count('"evaluated": false') == 9


def test_deadline_must_be_positive(run_suite: Callable[..., SuiteRun], tmp_path: Path) -> None:
    run = run_suite("--env", str(write_env(tmp_path, "e", "")), "--deadline", "soon")
    assert (
        run.returncode == 4 and "--deadline 'soon': give a number of seconds above 0" in run.output
    )
