"""The embedded sandbox: `pytest checks` with no options starts it, checks it, and stops it;
`--collect-only` names its checks without starting it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import SuiteRun, suite_run
from vigil import sandbox

# What the incident scenario breaks, and nothing else.
INCIDENT_FAILURES = {
    "test_health_endpoint[sandbox/payments]",
    "test_health_body[sandbox/payments]",
    "test_health_endpoint[sandbox/search]",
    "test_health_endpoint[sandbox/media]",
    "test_latency[sandbox/analytics]",
    "test_components_healthy[sandbox/gateway]",
}
HTTP_CHECKS = {
    "test_health_endpoint",
    "test_health_body",
    "test_latency",
    "test_components_healthy",
}


def test_default_run_uses_the_sandbox_and_stops_what_it_started(tmp_path: Path) -> None:
    """About the process and the sandbox it starts, so in a process of its own. Only the
    sandbox's state directory is moved (a developer's own sandbox may be running in the
    project); the run is otherwise exactly `pytest checks` with no options."""
    home = tmp_path / "home"
    home.mkdir()
    healthy = suite_run(tmp_path, "--sandbox-home", str(home))
    assert healthy.returncode == 0, healthy.output[-6000:]
    assert "vigil: sandbox started for this run" in healthy.output
    assert "READY" in healthy.output and "NOT READY" not in healthy.output
    assert all(name.endswith("]") and "[sandbox/" in name for name in healthy.outcomes())
    assert sandbox.read_state(home) is None

    incident = suite_run(tmp_path, "--sandbox-home", str(home), "--sandbox-scenario", "incident")
    assert incident.returncode == 1, incident.output[-6000:]
    http_failures = {n for n in incident.failed() if n.split("[")[0] in HTTP_CHECKS}
    assert http_failures == INCIDENT_FAILURES, incident.output[-6000:]
    assert "what to do:" in incident.output
    assert sandbox.read_state(home) is None


def test_collect_only_names_the_checks_without_starting_the_sandbox(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    run = run_suite("--sandbox-home", str(home), "--collect-only", "-q")
    assert run.returncode == 0, run.output
    assert "test_health_endpoint[sandbox/gateway]" in run.output
    assert "test_database_reachable[sandbox/" in run.output
    assert not sandbox.state_dir(home).exists()  # nothing was started, not even locked


def test_a_running_sandbox_is_reused_and_left_running(tmp_path: Path) -> None:
    # A separate state directory keeps this test apart from the ones above.
    variables, started = sandbox.ensure(tmp_path, "healthy")
    try:
        assert started and sandbox.read_state(tmp_path) is not None
        again, started_again = sandbox.ensure(tmp_path, None)
        assert again == variables and not started_again
    finally:
        assert sandbox.stop(tmp_path)
    assert sandbox.read_state(tmp_path) is None


def test_a_sandbox_home_that_does_not_exist_yet_is_created(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    assert sandbox.stop(home) is False
    assert (home / ".vigil" / "sandbox.lock").exists()
