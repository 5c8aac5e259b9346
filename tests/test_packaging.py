"""What an installed Vigil promises: the public API (pinned here), the plugin's entry point,
and the built-in checks and catalog shipped as `vigil.checks` (in this checkout, checks/)."""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

import pytest

import vigil.api
from tests.conftest import run_in_process
from vigil.runbook import DEFAULT_CATALOG

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = {
    "ENTRY_POINT_GROUP", "CatalogError", "CheckFailed", "ConfigError", "Environment", "Family",
    "FamilyError", "FileInWorkingDirectory", "FileNextToEnvironment", "HttpUrl", "Model",
    "NotEvaluated", "Observation", "ProbeSession", "ServiceAddress", "Severity", "SeverityLevel",
    "Target", "TargetKind", "TargetSettings", "VigilError", "fail", "own_budget", "percent",
    "register_family", "require", "setting",
}  # fmt: skip


def test_the_public_api_is_pinned_and_documented() -> None:
    assert set(vigil.api.__all__) == PUBLIC
    assert all(hasattr(vigil.api, name) for name in PUBLIC)
    documented = (ROOT / "docs" / "extending.md").read_text()
    assert [name for name in sorted(PUBLIC) if f"`{name}" not in documented] == []


def test_the_default_catalog_is_the_shipped_checks_own() -> None:
    assert DEFAULT_CATALOG == ROOT / "checks" / "runbook.yaml"
    import vigil.checks

    assert Path(vigil.checks.__file__).parent == ROOT / "checks"


def test_the_plugin_is_an_entry_point_named_like_its_module() -> None:
    points = distribution("vigil").entry_points
    plugins = [p for p in points if p.group == "pytest11"]
    assert [(p.name, p.value) for p in plugins] == [("vigil.plugin", "vigil.plugin")]
    assert [(p.name, p.value) for p in points if p.group == "console_scripts"] == [
        ("vigil", "vigil.cli:main")
    ]


def test_a_conftest_naming_the_plugin_does_not_load_it_twice(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["vigil.plugin"]')
    pytester.makepyfile(
        test_once="""
        def test_once(pytestconfig):
            import vigil.plugin
            manager = pytestconfig.pluginmanager
            assert [p for p in manager.get_plugins() if p is vigil.plugin] == [vigil.plugin]
            assert manager.get_plugin("vigil.plugin") is vigil.plugin
        """
    )
    run_in_process(pytester, "-p", "no:cacheprovider").assert_outcomes(passed=1)
