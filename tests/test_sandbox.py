"""The embedded sandbox: `pytest checks` with no options starts it, checks it, and stops it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import SuiteRun
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


def test_default_run_uses_the_sandbox_and_stops_what_it_started(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    # Only the sandbox's state directory is moved (a developer's own sandbox may be running in
    # the project); the run is otherwise exactly `pytest checks` with no options.
    home = tmp_path / "home"
    home.mkdir()
    healthy = run_suite("--sandbox-home", str(home))
    assert healthy.returncode == 0, healthy.output
    assert "sandbox" in healthy.output and "READY" in healthy.output
    assert all(name.endswith("]") and "[sandbox/" in name for name in healthy.outcomes())
    assert sandbox.read_state(home) is None

    incident = run_suite("--sandbox-home", str(home), "--sandbox-scenario", "incident")
    assert incident.returncode == 1
    http_failures = {
        n
        for n in incident.failed()
        if n.split("[")[0]
        in {"test_health_endpoint", "test_health_body", "test_latency", "test_components_healthy"}
    }
    assert http_failures == INCIDENT_FAILURES
    assert "what to do:" in incident.output
    assert sandbox.read_state(home) is None


def test_a_running_sandbox_is_reused_and_left_running(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    # A separate state directory keeps this test apart from the one above.
    variables, started = sandbox.ensure(tmp_path, "healthy")
    try:
        assert started and sandbox.read_state(tmp_path) is not None
        again, started_again = sandbox.ensure(tmp_path, None)
        assert again == variables and not started_again
    finally:
        assert sandbox.stop(tmp_path)
    assert sandbox.read_state(tmp_path) is None
