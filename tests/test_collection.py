"""Collection rules, black-box in a scratch project: every check names a known runbook entry.
The scratch suites run in this process (collection and options need no process of their own)."""

from __future__ import annotations

import pytest

from tests.conftest import run_in_process

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
    from pathlib import Path

    names = Counter(
        node.name
        for module in (Path(__file__).resolve().parent.parent / "checks").glob("test_*.py")
        for node in ast.parse(module.read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    )
    assert [name for name, count in names.items() if count > 1] == []
