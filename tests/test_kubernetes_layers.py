"""Probes own I/O; checks own thresholds and messages. The Kubernetes check logic (findings,
reason lists, failure messages) lives in `vigil/families/kubernetes/findings.py`, which the
checks import; no family module outside a `findings.py` imports it, the assertion helpers or
pytest, not even through another module; and the Kubernetes API stand-in (`vigil.kube_standin`)
serves the sandbox and the tests only: the family reads a snapshot in memory."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import vigil

VIGIL = Path(vigil.__file__).parent
ROOT = VIGIL.parent
FAMILIES = VIGIL / "families"
FINDINGS = "vigil.families.kubernetes.findings"
CHECK_ONLY = ("pytest", "_pytest", "vigil.expect", "vigil.plugin", FINDINGS)
STANDIN = "vigil.kube_standin"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def imported(path: Path) -> frozenset[str]:
    """Every module `path` imports, anywhere in it (functions and TYPE_CHECKING blocks too),
    relative imports resolved, with the names imported from a module as possible modules."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{module}" if module else base
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return frozenset(names)


@cache
def reached(start: str) -> frozenset[str]:
    """The modules importing `start` may import: its vigil modules followed, their parent
    packages included (importing a module runs its packages' `__init__`)."""
    seen: set[str] = set()
    pending = [start]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        pending += [".".join(parts[:n]) for n in range(1, len(parts))]
        path = module_file(name) if name.split(".")[0] == "vigil" else None
        if path is not None:
            pending += sorted(imported(path) - seen)
    return frozenset(n for n in seen if n.split(".")[0] != "vigil" or module_file(n))


def probe_side_modules() -> list[str]:
    """Every module of every family but the check logic (`findings.py`)."""
    return [
        module_name(path) for path in sorted(FAMILIES.rglob("*.py")) if path.name != "findings.py"
    ]


def test_the_closure_follows_imports_through_other_modules() -> None:
    # The checks reach pytest only through vigil.expect and the findings: the walk sees it.
    for check in ("test_kubernetes.py", "test_kubernetes_secrets.py"):
        path = ROOT / "checks" / check
        through = set().union(
            *(reached(name) for name in imported(path) if name.startswith("vigil"))
        )
        assert {"pytest", "vigil.expect", FINDINGS} <= through
    assert STANDIN in reached("vigil.sandbox.kubernetes")


def test_no_family_module_reaches_check_logic_or_pytest() -> None:
    modules = probe_side_modules()
    assert "vigil.families.kubernetes.probe" in modules
    assert "vigil.families.kubernetes.client" in modules
    offenders = {
        name: sorted(m for m in reached(name) if m.startswith(CHECK_ONLY)) for name in modules
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_kubernetes_family_does_not_use_the_standin() -> None:
    family = [name for name in probe_side_modules() if name.startswith("vigil.families.kubernetes")]
    assert {"vigil.families.kubernetes.probe", "vigil.families.kubernetes.snapshot"} <= set(family)
    offenders = {name: sorted(m for m in reached(name) if m.startswith(STANDIN)) for name in family}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_kubernetes_checks_take_their_helpers_from_findings() -> None:
    for name in ("test_kubernetes.py", "test_kubernetes_secrets.py"):
        assert FINDINGS in imported(ROOT / "checks" / name)
    # One home for the check logic: not the old module, not a copy beside the probe.
    assert module_file(FINDINGS) == FAMILIES / "kubernetes" / "findings.py"
    assert not (VIGIL / "kube_checks.py").exists()
    assert not (VIGIL / "probes" / "kube_findings.py").exists()
    assert [p.name for p in (FAMILIES / "kubernetes").glob("*find*.py")] == ["findings.py"]
