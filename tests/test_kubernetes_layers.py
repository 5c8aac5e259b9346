"""Probes own I/O; checks own thresholds and messages. The Kubernetes check logic (findings,
reason lists, failure messages) lives in `vigil/kube_checks.py`, and no probe module imports
the assertion helpers or pytest."""

from __future__ import annotations

import ast
from pathlib import Path

import vigil

PROBES = Path(vigil.__file__).parent / "probes"
CHECK_ONLY = ("vigil.expect", "pytest", "vigil.kube_checks")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_probe_imports_check_logic() -> None:
    offenders = {
        path.name: sorted(name for name in imported(path) if name.startswith(CHECK_ONLY))
        for path in sorted(PROBES.glob("*.py"))
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_kubernetes_checks_take_their_helpers_from_kube_checks() -> None:
    checks = Path(vigil.__file__).parent.parent / "checks"
    for name in ("test_kubernetes.py", "test_kubernetes_secrets.py"):
        assert "vigil.kube_checks" in imported(checks / name)
    assert not (PROBES / "kube_findings.py").exists()
