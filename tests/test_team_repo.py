"""Vigil in a team's own repository, end to end and as a new user meets it: the sdist and the
wheel are built from this checkout (the wheel from the sdist), the wheel is installed into a
fresh virtualenv, `vigil init team` writes the starter repository, docs/extending.md's family
is added to it, and `pytest checks --env ... --strict-markers` runs there against real servers
on 127.0.0.1: the built-in checks and the team's together, the team's overlay in the failures.

These tests are about processes and installed files, so they run the commands in processes
of their own. The virtualenv is built once for the module (it takes about half a minute)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import Endpoint, HttpServer, free_port
from tests.team_example import BannerServer, write_example

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["pyproject.toml", "setup.py", "README.md", "vigil", "checks"]


@dataclass
class Installed:
    venv: Path
    wheel: Path
    sdist: Path
    team: Path

    def command(
        self, *args: str, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of the virtualenv (`pytest`, `vigil`, `python`) in the team's repo."""
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "PYTHON", "VIRTUAL_ENV", "COV_"))
        }
        environ["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{environ.get('PATH', '')}"
        environ.update(env)
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=cwd or self.team,
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )


def pip_into(venv: Path) -> list[str]:
    python = str(venv / "bin" / "python")
    return [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile",
            "--disable-pip-version-check"]  # fmt: skip


def run(*command: str, cwd: Path) -> None:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("team-repo")
    source = work / "source"  # a copy: building writes build/ and *.egg-info next to the code
    source.mkdir()
    for name in SHIPPED:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, source / name)
    dist = work / "dist"
    # The sdist, then the wheel from it, with the build tools of the dev extras (offline).
    run(
        sys.executable,
        "-m",
        "build",
        "--no-isolation",
        "--outdir",
        str(dist),
        str(source),
        cwd=work,
    )
    wheel = next(dist.glob("vigil-*.whl"))
    sdist = next(dist.glob("vigil-*.tar.gz"))
    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=work)
    # This process's pip installs into the new virtualenv (--python): Vigil from the wheel,
    # its dependencies from the package index, as for any user.
    run(*pip_into(venv), str(wheel), cwd=work)
    installed = Installed(venv, wheel, sdist, work / "team")
    result = installed.command("vigil", "init", "team", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    write_example(installed.team)  # docs/extending.md's family, checks and overlay
    yield installed


def test_the_packages_carry_the_plugin_the_checks_and_the_catalog(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        declared = wheel.read(entry_points).decode()
    assert {"vigil/checks/runbook.yaml", "vigil/checks/test_http.py", "vigil/cli.py"} <= names
    assert "[pytest11]\nvigil.plugin = vigil.plugin" in declared
    assert "[console_scripts]\nvigil = vigil.cli:main" in declared
    with tarfile.open(installed.sdist) as sdist:
        members = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"checks/runbook.yaml", "checks/test_kubernetes.py", "setup.py"} <= members
    version = installed.command("vigil", "--version")
    assert version.returncode == 0 and version.stdout.strip() == "vigil 0.1.0"


def test_the_starter_repository(installed: Installed) -> None:
    team = installed.team
    for relative in ("pyproject.toml", "README.md", "checks/test_team.py", "runbooks/team.yaml",
                     "environments/example.yaml", "environments/sandbox.yaml"):  # fmt: skip
        assert (team / relative).is_file(), relative
    stub = (team / "checks" / "test_http.py").read_text()
    assert "from vigil.checks.test_http import *" in stub
    readme = (team / "README.md").read_text()
    assert "pip install -e ." in readme and "pytest checks --env example" in readme
    # The README's first command: the team's project installs (Vigil is already there).
    setup = subprocess.run(
        [*pip_into(installed.venv), "-e", "."],
        cwd=team, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stdout + setup.stderr
    # Collecting without --env uses the sandbox's file and starts nothing.
    collected = installed.command("pytest", "checks", "--co", "-q", "-p", "no:cacheprovider")
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "test_health_endpoint[sandbox/gateway]" in collected.stdout
    assert "test_health_answers_json[sandbox/gateway]" in collected.stdout
    assert not (team / ".vigil").exists()


def test_builtin_and_team_checks_run_together(installed: Installed) -> None:
    api = HttpServer({"/health": Endpoint(503, b"upstream down", content_type="text/plain")})
    relay = BannerServer(b"220 relay ready\r\n")
    try:
        environment = installed.team / "environments" / "local.yaml"
        environment.write_text(
            "timeout_s: 2\n"
            "vars: {namespace: shop, context: local}\n"
            f"http:\n  services:\n    - {{name: api, url: '{api.url('/health')}'}}\n"
            "tcp_ports:\n"
            f"  - {{name: relay, host: 127.0.0.1, port: {relay.port}, banner: '220'}}\n"
            f"  - {{name: closed, host: 127.0.0.1, port: {free_port()}}}\n"
        )
        result = installed.command(
            "pytest", "checks", "--env", "local", "--strict-markers", "-p", "no:cacheprovider",
            "-rA", "--junitxml", str(installed.team / "junit.xml"),
        )  # fmt: skip
    finally:
        api.close()
        relay.close()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-4000:]
    assert "INTERNALERROR" not in output and "Warning" not in output, output[-4000:]
    for outcome, check in [
        ("FAILED", "test_http.py::test_health_endpoint[local/api]"),  # built-in
        ("FAILED", "test_team.py::test_health_answers_json[local/api]"),  # the team's
        ("PASSED", "test_tcp_port.py::test_port_accepts_connections[local/relay]"),  # family
        ("PASSED", "test_tcp_port.py::test_port_greets_with_banner[local/relay]"),
        ("FAILED", "test_tcp_port.py::test_port_accepts_connections[local/closed]"),
    ]:
        if outcome == "PASSED":
            assert f"PASSED checks/{check}" in output, check
        else:  # Vigil's short summary: the message first, then the test id
            test_id = check.split("::")[1]
            assert any(
                line.startswith("FAILED ") and line.endswith(f" - {test_id}")
                for line in output.splitlines()
            ), check
    # The overlay replaced the built-in entry's remediation and added the team's entries.
    builtin_failure = output.split("test_health_endpoint[local/api] _", 1)[1]
    assert "Page the owner of api in local (edit runbooks/team.yaml" in builtin_failure
    assert "Make the health handler of api answer with Content-Type: application/json" in output
    assert "Check that the process listening on 127.0.0.1:" in output
    junit = (installed.team / "junit.xml").read_text()
    assert 'name="runbook" value="tcp-port-closed"' in junit


def test_the_command_in_the_team_repository(installed: Installed) -> None:
    coverage = installed.command("vigil", "runbook", "coverage")
    assert coverage.returncode == 0, coverage.stdout[-3000:] + coverage.stderr
    assert "test_team.py::test_health_answers_json" in coverage.stdout
    assert "test_http.py::test_health_endpoint" in coverage.stdout
    assert "tcp-unexpected-banner" in coverage.stdout
    show = installed.command("vigil", "runbook", "show", "http-service-down")
    assert "- remediation: runbooks/team.yaml (overlay)" in show.stdout
    assert "- title: built-in catalog" in show.stdout
    check = installed.command("vigil", "env", "check", "--no-secrets")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "sandbox.yaml: ok as far as it can be checked without those variables" in check.stdout
