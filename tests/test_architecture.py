"""The layering rules of docs/architecture.md, pinned: report writers and probes know nothing
of pytest, no module keeps a connection pool or a lock of its own, families stay apart from
the plugin, the reports and the sandbox."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIGIL = ROOT / "vigil"
SHARED_STATE_CALLS = {
    "Lock",
    "RLock",
    "Semaphore",
    "BoundedSemaphore",
    "Condition",
    "Client",
    "AsyncClient",
    "ThreadPoolExecutor",
    "ConnectionPool",
    "PoolManager",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_report_writers_and_probes_do_not_import_pytest() -> None:
    """Checked in a fresh interpreter: importing them must not pull pytest in."""
    modules = [_module_name(p) for p in sorted((VIGIL / "reports").glob("*.py"))]
    modules += [_module_name(p) for p in sorted(VIGIL.glob("families/*/*.py"))]
    modules = [m for m in modules if not m.endswith(".findings")]  # check logic: uses expect
    modules += ["vigil.session", "vigil.environment", "vigil.record", "vigil.runbook"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    assert 'pytest' not in sys.modules and '_pytest' not in sys.modules, name\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_no_module_keeps_a_pool_or_lock_of_its_own() -> None:
    """Connections, locks and threads belong to the probe session, not to modules."""
    offenders = []
    for path in sorted(VIGIL.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            if isinstance(value, ast.Call):
                called = value.func
                name = (
                    called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
                )
                if name in SHARED_STATE_CALLS:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}()")
    assert offenders == []


def test_families_stay_apart_from_plugin_reports_and_sandbox() -> None:
    forbidden = ("vigil.plugin", "vigil.reports", "vigil.sandbox", "vigil.kube_standin", "pytest")
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted(VIGIL.glob("families/*/*.py"))
        if path.name != "findings.py"
        for name in _imports(path)
        if name.startswith(forbidden)
    ]
    assert offenders == []


def test_reports_and_session_import_no_family_and_no_plugin() -> None:
    paths = [*sorted((VIGIL / "reports").glob("*.py")), VIGIL / "session.py"]
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in paths
        for name in _imports(path)
        if name.startswith(("vigil.plugin", "vigil.families", "pytest", "_pytest"))
    ]
    assert offenders == []


def test_pytest_wiring_lives_in_the_plugin_package() -> None:
    """Outside vigil/plugin/, only what checks call to fail may know pytest."""
    allowed = {"vigil/expect.py", "vigil/families/kubernetes/findings.py"}
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted(VIGIL.rglob("*.py"))
        if "plugin" not in path.relative_to(VIGIL).parts
        and str(path.relative_to(ROOT)) not in allowed
        and any(name.split(".")[0] in ("pytest", "_pytest") for name in _imports(path))
    ]
    assert offenders == []
