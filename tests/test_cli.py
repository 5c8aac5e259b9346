"""The `vigil` command where a new user meets it first: --version, a closed pipe, "did you
mean", messages in the file's own words, severity aliases, and `vigil env check` finding what
a run would only find out later (missing files, shared names, unset variables in CI)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.cli import main
from vigil.severity import Severity

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project (pytest configuration, environments/) as the working directory."""
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntestpaths = ['checks']\n")
    (tmp_path / "environments").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "SANDBOX_GATEWAY_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def env_file(project: Path, name: str, text: str) -> Path:
    path = project / "environments" / f"{name}.yaml"
    path.write_text(text)
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert re.fullmatch(r"vigil \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_a_usage_error_is_a_status_not_an_exception(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "nonsense"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly() -> None:
    """`vigil runbook coverage | head -1`, with the reader gone before anything is written:
    no traceback, no 'Exception ignored', the status a pipe-stopped tool has."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE
    try:
        result = subprocess.run(
            [sys.executable, "-m", "vigil.cli", "runbook", "coverage"],
            cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141


def test_head_reads_the_first_line() -> None:
    result = subprocess.run(
        f"set -o pipefail; {sys.executable} -m vigil.cli runbook coverage | head -1",
        shell=True, executable="/bin/bash", cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.startswith("entry ") and result.stdout.count("\n") == 1
    assert "Traceback" not in result.stderr and "Exception" not in result.stderr


def test_did_you_mean_an_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "show", "http-servce-down"]) == 2
    assert capsys.readouterr().err == (
        "vigil: no runbook entry 'http-servce-down' (did you mean http-service-down?)\n"
    )


def test_did_you_mean_a_key_and_a_section(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file(
        project,
        "staging",
        "htp:\n  services: []\nhttp:\n  services:\n"
        "    - {name: a, url: 'http://127.0.0.1:9/h', expect_stauts: [200]}\n",
    )
    assert main(["env", "check", "staging"]) == 1
    out = capsys.readouterr().out
    assert "staging.yaml: htp: unknown key; did you mean http?" in out
    assert (
        "staging.yaml: http.services[0].expect_stauts: unknown key; did you mean expect_status?"
        in out
    )


def test_did_you_mean_an_environment_name(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file(project, "staging", "vars: {a: b}\n")
    assert main(["env", "check", "stagign"]) == 2
    assert "stagign: there is no" in (err := capsys.readouterr().err)
    assert "did you mean staging? known: staging" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "severity: [1]",
            "severity: expected one of 'sev1', 'sev2', 'sev3' or 'sev4', or a mapping",
        ),
        (
            "severity: {http-service-down: sev9}",
            "severity.http-service-down: unknown severity 'sev9'",
        ),
        ("timeout_s: soon", "timeout_s: expected a number (got 'soon')"),
        ("expect_status: 200", "expect_status: expected a list (got 200)"),
        ("max_latency_ms: -5", "max_latency_ms: must be greater than 0 (got -5)"),
    ],
)
def test_messages_are_in_the_files_own_words(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    env_file(
        project,
        "one",
        f"http:\n  services:\n    - name: a\n      url: http://127.0.0.1:9/h\n      {text}\n",
    )
    assert main(["env", "check", "one"]) == 1
    out = capsys.readouterr().out
    assert expected in out, out
    for internal in ("dict[", "literal[", "function-", "str-enum", "Input should", "pydantic"):
        assert internal not in out, out


def readme_aliases() -> dict[str, list[str]]:
    """The README's severity table: each level and the names the source runbooks use."""
    table = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(r"\| `(sev\d)` \| [^|]+ \| ([^|]+) \|", line)
        if match:
            table[match.group(1)] = [a.strip() for a in match.group(2).split(",")]
    assert set(table) == {"sev1", "sev2", "sev3", "sev4"}
    return table


@pytest.mark.parametrize(
    ("level", "alias"),
    [(level, alias) for level, names in readme_aliases().items() for alias in names],
)
def test_every_alias_in_the_readme_is_accepted(
    project: Path, capsys: pytest.CaptureFixture[str], level: str, alias: str
) -> None:
    assert Severity.parse(alias) == Severity(level)
    env_file(
        project,
        "one",
        f"http:\n  services:\n    - {{name: a, url: 'http://127.0.0.1:9/h', severity: {alias}}}\n",
    )
    assert main(["env", "check", "one"]) == 0, capsys.readouterr().out


def test_env_check_finds_missing_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "environments" / "present-ca.pem").write_text("not checked here")
    env_file(
        project,
        "files",
        "kubernetes: {snapshot: dump.yaml, namespaces: [shop]}\n"
        "http:\n  services:\n"
        "    - {name: a, url: 'https://127.0.0.1:9/h', ca_bundle: /nonexistent/ca.pem}\n"
        "    - {name: b, url: 'https://127.0.0.1:9/h',"
        f" ca_bundle: {project}/environments/present-ca.pem}}\n",
    )
    assert main(["env", "check", "files"]) == 1
    out = capsys.readouterr().out
    assert out.count(f"snapshot: no file {project}/environments/dump.yaml") == 1
    assert "http.services 'a': ca_bundle: no file /nonexistent/ca.pem" in out
    assert "'b'" not in out
    (project / "environments" / "dump.yaml").write_text("apiVersion: v1\nkind: List\nitems: []\n")
    env_file(project, "files", "kubernetes: {snapshot: dump.yaml, namespaces: [shop]}\n")
    assert main(["env", "check", "files"]) == 0
    assert "files.yaml: ok (environment files)" in capsys.readouterr().out


def test_env_check_reports_shared_names_and_skips_what_is_not_an_environment(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file(project, "blue", "name: production\n")
    env_file(project, "green", "name: production\n")
    env_file(project, "staging", "vars: {a: b}\n")
    env_file(project, "cluster-dump", "apiVersion: v1\nkind: List\nitems: []\n")
    assert main(["env", "check"]) == 1
    out = capsys.readouterr().out
    assert f"{project}/environments/blue.yaml: name: 'production' is also the name of" in out
    assert f"{project}/environments/green.yaml: name: 'production' is also the name of" in out
    assert "staging.yaml: ok (environment staging)" in out
    assert "cluster-dump.yaml: skipped, not an environment file (apiVersion/kind at the top" in out


def test_env_check_without_secrets(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env_file(
        project,
        "production",
        "postgres:\n  - {name: main, dsn: '${DATABASE_URL}'}\n"
        "http:\n  services:\n    - {name: a, url: 'http://127.0.0.1:9/h', expect_stauts: [200]}\n",
    )
    assert main(["env", "check", "production"]) == 1
    assert "environment variable DATABASE_URL is not set" in capsys.readouterr().out
    assert main(["env", "check", "--no-secrets", "production"]) == 1  # the typo still counts
    out = capsys.readouterr().out
    assert "production.yaml: postgres[0].dsn: ${DATABASE_URL} is not set here (not checked)" in out
    assert "expect_stauts: unknown key; did you mean expect_status?" in out
    env_file(project, "production", "postgres:\n  - {name: main, dsn: '${DATABASE_URL}'}\n")
    assert main(["env", "check", "--no-secrets", "production"]) == 0
    out = capsys.readouterr().out
    assert "not set here" in out and "production.yaml: ok (environment production)" in out
    assert main(["env", "check", "--no-secrets", str(ROOT / "environments" / "sandbox.yaml")]) == 0
    assert "ok as far as it can be checked without those variables" in capsys.readouterr().out


def test_init_writes_a_starter_and_keeps_what_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    team = tmp_path / "team"
    assert main(["init", str(team)]) == 0
    written = capsys.readouterr().out
    assert f"wrote {team}/checks/test_http.py" in written
    stub = (team / "checks" / "test_kubernetes_secrets.py").read_text()
    assert "from vigil.checks.test_kubernetes_secrets import *" in stub
    assert (team / "environments" / "sandbox.yaml").read_text() == (
        ROOT / "environments" / "sandbox.yaml"
    ).read_text()
    (team / "README.md").write_text("ours\n")
    assert main(["init", str(team)]) == 0
    assert f"kept  {team}/README.md (it exists)" in capsys.readouterr().out
    assert (team / "README.md").read_text() == "ours\n"


def test_did_you_mean_an_entry_named_in_a_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file(
        project,
        "one",
        "http:\n  services:\n    - name: auth\n      url: http://127.0.0.1:9/h\n"
        "      runbook: authentication-servce-down\n"
        "      severity: {http-hight-latency: sev3}\n",
    )
    assert main(["env", "check", "one"]) == 1
    out = capsys.readouterr().out
    assert "runbook: no entry 'authentication-servce-down' in the catalog (did you mean" in out
    assert "authentication-service-down?)" in out
    assert "(did you mean http-high-latency?)" in out
