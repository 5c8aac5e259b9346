"""Which checks and environment files name each runbook entry, read statically (no import of
the checks, no variables needed): what `vigil runbook coverage` counts."""

from __future__ import annotations

import ast
import importlib.util
from collections import defaultdict
from pathlib import Path
from typing import Any

from vigil.families.http.spec import KIND_ENTRY
from vigil.runbook import DEFAULT_CATALOG
from vigil.yamlfile import YamlProblem, read_yaml


def checks_by_entry(directory: Path = DEFAULT_CATALOG.parent) -> dict[str, list[str]]:
    """Map entry id -> the check functions marked `@pytest.mark.runbook("id")`, read statically
    from `directory/test_*.py`, following `from vigil.checks.test_x import *` (the modules
    `vigil init` writes) to the module they collect."""
    found: dict[str, list[str]] = defaultdict(list)
    for module in sorted(directory.glob("test_*.py")):
        for source in _sources(module):
            for entry_id, function in _runbook_marks(source):
                found[entry_id].append(f"{module.name}::{function}")
    return found


def _sources(module: Path) -> list[Path]:
    """A check module and the modules it imports every name of."""
    sources = [module]
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.names[0].name == "*":
            try:
                spec = importlib.util.find_spec(node.module)
            except (ImportError, ValueError):
                continue
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                sources.append(Path(spec.origin))
    return sources


def _runbook_marks(source: Path) -> list[tuple[str, str]]:
    marks = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "runbook"
                and decorator.args
                and isinstance(decorator.args[0], ast.Constant)
            ):
                marks.append((str(decorator.args[0].value), node.name))
    return marks


def named_in_environments(paths: list[Path]) -> dict[str, list[str]]:
    """Entries named by `runbook:` in environment files (services, assertions, rules, preset
    tiers), read as plain YAML so that unset variables do not matter here; a file that cannot
    be read names nothing (`vigil env check` says why)."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        try:
            raw = read_yaml(path)
        except YamlProblem:
            continue
        if isinstance(raw, dict):
            for where, entry_id in _named(raw):
                found[entry_id].append(f"{path.name}: {where}")
    return found


def _named(raw: dict[object, object]) -> list[tuple[str, str]]:
    def items(value: object) -> list[dict[object, object]]:
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

    def section(value: object) -> dict[object, object]:
        return value if isinstance(value, dict) else {}

    named: list[tuple[str, object]] = []
    for service in items(section(raw.get("http")).get("services")):
        where = f"service {service.get('name')}"
        named.append((where, service.get("runbook") or KIND_ENTRY.get(str(service.get("kind")))))
        named += [(f"{where} HTTP {code}", e) for code, e in _statuses(service).items()]
    for database in items(raw.get("postgres")):
        for assertion in items(database.get("assertions")):
            named.append((f"assertion {assertion.get('name')}", assertion.get("runbook")))
    for page in items(raw.get("status_pages")):
        named.append((f"status page {page.get('name')}", page.get("runbook")))
    prometheus = section(raw.get("prometheus"))
    for rule in items(prometheus.get("rules")):
        named.append((f"rule {rule.get('name')}", rule.get("runbook")))
    for preset, options in section(prometheus.get("presets")).items():
        for tier in options if isinstance(options, list) else [options]:
            named.append((f"preset {preset}", section(tier).get("runbook")))
    return [(where, str(entry_id)) for where, entry_id in named if entry_id]


def _statuses(service: dict[Any, Any]) -> dict[object, object]:
    routes = service.get("status_runbooks")
    return routes if isinstance(routes, dict) else {}
