"""A team's own family, declared with `vigil.api` in a scratch repository exactly as
docs/extending.md shows it, run in this process: its checks are collected with their markers,
its probe runs on the probe session with the same total timeout, its text is masked at the
record boundary, its runbook entries come from the team's overlay, and registering it again
in a second run in the same process works."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BUSY_FACTOR, STARTUP_S, run_in_process
from tests.servers import SilentPort, free_port
from tests.team_example import BannerServer, write_example
from vigil.cli import main
from vigil.family import families

GREETING = "SSH-2.0-greeting-kept-secret"  # a value from ${VAR}: masked wherever it appears
TIMEOUT_S = 1.0


@pytest.fixture
def relay() -> Iterator[BannerServer]:
    server = BannerServer(b"220 relay.example ESMTP ready\r\n")
    yield server
    server.close()


@pytest.fixture
def team_repo(pytester: pytest.Pytester, relay: BannerServer, silent_port: SilentPort) -> Path:
    """A team's repository: the docs' family, checks and overlay; an environment of ports."""
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\npythonpath = ["."]\ntestpaths = ["checks"]\n'
    )
    write_example(pytester.path)
    (pytester.path / "environments").mkdir()
    (pytester.path / "environments" / "ports.yaml").write_text(
        f"timeout_s: {TIMEOUT_S}\n"
        "tcp_ports:\n"
        f"  - {{name: relay, host: 127.0.0.1, port: {relay.port}, banner: '220'}}\n"
        f"  - {{name: impostor, host: 127.0.0.1, port: {relay.port}, banner: '${{GREETING}}'}}\n"
        f"  - {{name: silent, host: 127.0.0.1, port: {silent_port.port}, banner: '220'}}\n"
        f"  - {{name: closed, host: 127.0.0.1, port: {free_port()}}}\n"
    )
    return pytester.path


def run_team_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # No conftest loads the plugin: the installed entry point (pytest11) does.
    return run_in_process(
        pytester, "checks", "--env", "ports", "--strict-markers", "-p", "no:cacheprovider",
        "--report-dir", str(pytester.path / "reports"), "-rA", *args,
    )  # fmt: skip


def test_a_team_family_runs_like_a_builtin_one(
    team_repo: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREETING", GREETING)
    started = time.monotonic()
    result = run_team_suite(pytester)
    seconds = time.monotonic() - started
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output, output[-3000:]
    for outcome, check in [
        ("PASSED", "test_port_accepts_connections[ports/relay]"),
        ("PASSED", "test_port_greets_with_banner[ports/relay]"),
        ("FAILED", "test_port_greets_with_banner[ports/impostor]"),
        ("FAILED", "test_port_accepts_connections[ports/closed]"),
        ("FAILED", "test_port_greets_with_banner[ports/silent]"),
    ]:
        if outcome == "PASSED":
            assert f"PASSED checks/test_tcp_port.py::{check}" in output, check
        else:  # Vigil's short summary: the message first, then the test id
            assert any(
                line.startswith("FAILED ") and line.endswith(f" - {check}")
                for line in output.splitlines()
            ), check
    # The overlay's entry and its remediation, rendered for the target that failed.
    assert "tcp-port-closed - A TCP service does not accept connections (sev2)" in output
    closed_port = output.split("[ports/closed]", 1)[1]
    assert "Check that the process listening on 127.0.0.1:" in closed_port
    # The session cut the silent port at the target's total time, as for any family.
    assert f"no complete answer within {TIMEOUT_S:g} s (timeout_s)" in output
    assert seconds < BUSY_FACTOR * TIMEOUT_S + STARTUP_S
    # The greeting came from ${GREETING}: masked in the failure, whatever the family.
    assert GREETING not in output and "greets with '220 relay.example ESMTP ready'" in output
    report = (pytester.path / "reports" / "readiness.md").read_text()
    assert "impostor" in report and GREETING not in report


def test_markers_select_the_team_family_and_runs_repeat_in_one_process(
    team_repo: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-m tcp` and `-m sev3` select by the family's marker and its entries' severity; a
    second run in this process imports the conftest again and registers the family anew."""
    monkeypatch.setenv("GREETING", GREETING)
    by_system = run_team_suite(pytester, "-m", "tcp and sev3")
    by_system.assert_outcomes(passed=1, failed=2)  # the three banner checks (sev3)
    again = run_team_suite(pytester, "-m", "sev2")
    again.assert_outcomes(passed=2, failed=2)  # the four port checks (sev2): closed, silent
    assert "tcp" not in {family.name for family in families()}  # forgotten after each run


def test_the_command_sees_the_team_family_and_overlay(
    team_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(team_repo)
    assert main(["runbook", "show", "tcp-port-closed"]) == 0
    shown = capsys.readouterr().out
    assert "## tcp-port-closed" in shown and "- remediation: runbooks/tcp.yaml (overlay)" in shown
    assert main(["runbook", "coverage"]) == 0
    coverage = capsys.readouterr().out
    assert "tcp-port-closed" in coverage and "test_tcp_port.py::test_port_accepts_connections" in (
        coverage
    )
    monkeypatch.setenv("GREETING", GREETING)
    assert main(["env", "check", "ports"]) == 0
    assert "ports.yaml: ok (environment ports)" in capsys.readouterr().out
    (team_repo / "environments" / "typo.yaml").write_text(
        "tcp_ports:\n  - {name: a, host: 127.0.0.1, port: 25, bannr: '220'}\n"
    )
    assert main(["env", "check", "typo"]) == 1
    assert "typo.yaml: tcp_ports[0].bannr: unknown key; did you mean banner?" in (
        capsys.readouterr().out
    )


def test_a_family_from_an_installed_package(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, relay: BannerServer
) -> None:
    """A package declaring the family under the entry point group `vigil.families` needs no
    conftest: the run and the `vigil` command load it from the installed metadata."""
    import vigil.family
    from tests.team_example import example_files

    site = pytester.mkdir("site")  # an installed package: its code and its metadata
    (site / "families").mkdir()
    for name in ("families/__init__.py", "families/tcp_port.py"):
        (site / name).write_text(example_files()[name])
    info = site / "team_families-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: team-families\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[vigil.families]\ntcp = families.tcp_port:FAMILY\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(vigil.family, "_plugged", None)  # read the entry points afresh
    repo = pytester.mkdir("repo")
    (repo / "checks").mkdir()
    (repo / "checks" / "test_tcp_port.py").write_text(example_files()["checks/test_tcp_port.py"])
    (repo / "runbooks").mkdir()
    (repo / "runbooks" / "tcp.yaml").write_text(example_files()["runbooks/tcp.yaml"])
    (repo / "environments").mkdir()
    (repo / "environments" / "ports.yaml").write_text(
        f"tcp_ports:\n  - {{name: relay, host: 127.0.0.1, port: {relay.port}, banner: '220'}}\n"
    )
    (repo / "pytest.ini").write_text("[pytest]\n")
    monkeypatch.chdir(repo)
    result = run_in_process(pytester, "checks", "--env", "ports", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert "tcp" in {family.name for family in families()}  # installed: not forgotten
    assert main(["runbook", "show", "tcp-unexpected-banner"]) == 0
