"""Collection rules, black-box in a scratch project: every check names a known runbook entry.
The scratch suites run in this process (collection and options need no process of their own)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_in_process

ENV = "http:\n  services:\n    - name: api\n      url: http://127.0.0.1:9/health\n"


def scratch_suite(pytester: pytest.Pytester, check: str) -> None:
    pytester.makeconftest('pytest_plugins = ["vigil.plugin"]')
    pytester.mkdir("checks")
    pytester.mkdir("environments")
    (pytester.path / "environments" / "one.yaml").write_text(ENV)
    (pytester.path / "checks" / "test_x.py").write_text("import pytest\n\n" + check)


def test_unknown_runbook_entry_is_a_collection_error(pytester: pytest.Pytester) -> None:
    scratch_suite(
        pytester, '@pytest.mark.runbook("no-such-entry")\ndef test_x(http_service):\n    pass\n'
    )
    result = run_in_process(pytester, "checks", "--env", "one")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*unknown runbook entry 'no-such-entry'*"])


def test_check_without_runbook_entry_is_a_collection_error(pytester: pytest.Pytester) -> None:
    scratch_suite(pytester, "def test_x(http_service):\n    pass\n")
    result = run_in_process(pytester, "checks", "--env", "one")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*a check must name its runbook entry*"])


def test_unknown_env_name_is_a_usage_error(pytester: pytest.Pytester) -> None:
    scratch_suite(
        pytester, '@pytest.mark.runbook("http-service-down")\ndef test_x(http_service):\n    pass\n'
    )
    result = run_in_process(pytester, "checks", "--env", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--env nope: there is no*nope.yaml (known: one)*"])
    assert "Traceback" not in result.stderr.str()


def test_bad_fail_on_value(pytester: pytest.Pytester) -> None:
    scratch_suite(pytester, "")
    result = run_in_process(pytester, "checks", "--env", "one", "--fail-on", "sev5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--fail-on 'sev5': unknown severity 'sev5': use sev1, sev2, sev3 or sev4 (*"]
    )
    assert "Traceback" not in result.stderr.str()


def test_check_names_are_unique_across_modules() -> None:
    """Result ids are `check[environment/target]`: two modules with one name would collide."""
    import ast
    from collections import Counter

    names = Counter(
        node.name
        for module in (Path(__file__).resolve().parent.parent / "checks").glob("test_*.py")
        for node in ast.parse(module.read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    )
    assert [name for name, count in names.items() if count > 1] == []


def test_collecting_only_never_starts_the_sandbox(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """`pytest checks --co` names every sandbox check from stand-in values: nothing starts."""
    home = tmp_path / "home"
    home.mkdir()
    result = run_in_process(
        pytester, str(ROOT / "checks"), f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml"),
        "--co", "-q", "-p", "no:cacheprovider", f"--sandbox-home={home}", "--strict-markers",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*test_health_endpoint?sandbox/payments?*"])
    assert not (home / ".vigil").exists()  # no sandbox state: nothing was started
    assert "sandbox: " not in result.stderr.str()


def test_the_plugin_registers_its_own_markers(pytester: pytest.Pytester) -> None:
    """No `markers =` in any configuration file: `--strict-markers` is clean wherever the
    plugin is installed (it is loaded here by its entry point, not by a conftest)."""
    assert "markers" not in (ROOT / "pyproject.toml").read_text()
    pytester.mkdir("checks")
    (pytester.path / "environments").mkdir()
    (pytester.path / "environments" / "one.yaml").write_text(ENV)
    (pytester.path / "checks" / "test_x.py").write_text(
        "import pytest\n\n"
        '@pytest.mark.runbook("http-service-down")\n@pytest.mark.requires("url")\n'
        "@pytest.mark.sev1\n@pytest.mark.http\n@pytest.mark.data\n"
        "def test_x(http_service):\n    pass\n"
    )
    result = run_in_process(
        pytester, "checks", "--env", "one", "--strict-markers", "--co", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*test_x?one/api?*"])


def test_a_family_clashing_with_a_builtin_one_is_refused() -> None:
    from vigil.families.http import FAMILY as HTTP
    from vigil.family import FamilyError, families, register_family

    clash = dataclasses.replace(HTTP, name="web")  # its section and fixtures are http's
    with pytest.raises(FamilyError, match=r"family web: its section 'http' is already"):
        register_family(clash)
    with pytest.raises(FamilyError, match=r"family http: its name 'http' is already"):
        register_family(dataclasses.replace(HTTP, section="web"))
    assert [f.name for f in families()].count("http") == 1
