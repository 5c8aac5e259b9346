"""The `vigil` command: the catalog, environment files and the sandbox, outside pytest.

vigil runbook coverage [--env NAME ...]   each entry and the checks that cover it
vigil runbook show ID                     one entry, as the checks render it
vigil runbook markdown                    the whole catalog as Markdown (docs/runbook.md)
vigil env check [NAME|PATH ...]           validate environment files (default: all)
vigil sandbox up [--scenario S] | down | status
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections import defaultdict
from pathlib import Path

import yaml

from vigil import sandbox
from vigil.environment import catalog_problems, find_environment_files, load_environment
from vigil.errors import ConfigError, VigilError
from vigil.families.http.spec import KIND_ENTRY
from vigil.families.prometheus.presets import PRESETS
from vigil.redact import redact_url
from vigil.runbook import DEFAULT_CATALOG, RunbookEntry, load_catalog
from vigil.sources import coverage_lines

# The project: the working directory when it holds the suite (an installed package, as in the
# container image), else the checkout this package lives in.
ROOT = (
    Path.cwd() if (Path.cwd() / "checks" / "runbook.yaml").exists() else DEFAULT_CATALOG.parents[1]
)
CHECKS = ROOT / "checks"
CATALOG = CHECKS / "runbook.yaml"
ENVIRONMENTS = ROOT / "environments"


def checks_by_entry(directory: Path = CHECKS) -> dict[str, list[str]]:
    """Map entry id -> the check functions marked `@pytest.mark.runbook("id")`, read statically."""
    found: dict[str, list[str]] = defaultdict(list)
    for module in sorted(directory.glob("test_*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
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
                    found[str(decorator.args[0].value)].append(f"{module.name}::{node.name}")
    return found


def _environment_paths(names: list[str]) -> list[Path]:
    if not names:
        return sorted(ENVIRONMENTS.glob("*.yaml"))
    return [Path(n) if n.endswith((".yaml", ".yml")) else ENVIRONMENTS / f"{n}.yaml" for n in names]


def named_in_environments(paths: list[Path]) -> dict[str, list[str]]:
    """Entries named by `runbook:` in environment files (services, assertions, rules, preset
    tiers), read as plain YAML so that unset variables do not matter here."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            continue
        named: list[tuple[str, object]] = []
        for service in (raw.get("http") or {}).get("services") or []:
            where = f"service {service.get('name')}"
            named.append((where, service.get("runbook") or KIND_ENTRY.get(service.get("kind"))))
            named += [(f"{where} HTTP {code}", e) for code, e in _statuses(service).items()]
        for database in raw.get("postgres") or []:
            for assertion in database.get("assertions") or []:
                named.append((f"assertion {assertion.get('name')}", assertion.get("runbook")))
        for page in raw.get("status_pages") or []:
            named.append((f"status page {page.get('name')}", page.get("runbook")))
        prometheus = raw.get("prometheus") or {}
        for rule in prometheus.get("rules") or []:
            named.append((f"rule {rule.get('name')}", rule.get("runbook")))
        for preset, options in (prometheus.get("presets") or {}).items():
            for tier in options if isinstance(options, list) else [options]:
                named.append((f"preset {preset}", (tier or {}).get("runbook")))
        for where, entry_id in named:
            if entry_id:
                found[str(entry_id)].append(f"{path.name}: {where}")
    return found


def _statuses(service: dict[str, object]) -> dict[object, object]:
    routes = service.get("status_runbooks")
    return routes if isinstance(routes, dict) else {}


def cmd_coverage(args: argparse.Namespace) -> int:
    catalog = load_catalog(CATALOG)
    covered = checks_by_entry()
    for preset, (_, entry_id, _) in PRESETS.items():
        covered[entry_id].append(f"prometheus preset {preset}")
    paths = _environment_paths(args.env) if args.env else sorted(ENVIRONMENTS.glob("*.yaml"))
    for entry_id, places in named_in_environments(paths).items():
        covered[entry_id] += places
    width = max(len(entry_id) for entry_id in catalog)
    print(f"{'entry':<{width}}  sev   system        checks")
    for entry in sorted(catalog.values(), key=lambda e: (e.system, e.id)):
        checks = ", ".join(covered.get(entry.id, [])) or "-- no check yet --"
        print(f"{entry.id:<{width}}  {entry.severity}  {entry.system:<12}  {checks}")
    unknown = sorted(set(covered) - set(catalog))
    done = sum(1 for entry_id in catalog if covered.get(entry_id))
    print(
        f"\n{done} of {len(catalog)} entries have a check, a preset, or an example in"
        " environments/ that names them."
    )
    for entry_id in unknown:
        print(f"error: {', '.join(covered[entry_id])} name unknown entry {entry_id!r}")
    for line in coverage_lines(ROOT / "docs" / "runbook-sources.md", catalog):
        print(line)
    return 1 if unknown else 0


def entry_markdown(entry: RunbookEntry) -> str:
    lines = [
        f"## {entry.id}",
        "",
        f"**{entry.title}** — {entry.severity}, {entry.system}",
        "",
        "Symptoms:",
        "",
    ]
    lines += [f"- {s}" for s in entry.symptoms]
    if entry.diagnosis:
        lines += ["", "Look closer:", "", "```", *entry.diagnosis, "```"]
    lines += ["", "What to do:", ""] + [f"{n}. {s}" for n, s in enumerate(entry.remediation, 1)]
    return "\n".join(lines) + "\n"


def cmd_show(args: argparse.Namespace) -> int:
    entry = load_catalog(CATALOG).get(args.id)
    if entry is None:
        print(f"vigil: no runbook entry {args.id!r}", file=sys.stderr)
        return 2
    print(entry_markdown(entry))
    return 0


def cmd_markdown(args: argparse.Namespace) -> int:
    catalog = load_catalog(CATALOG)
    print("# Runbook catalog\n")
    print(
        "Generated from `checks/runbook.yaml` by `vigil runbook markdown`. Placeholders in braces"
        " are filled in by the checks for the environment and target that failed.\n"
    )
    for entry in sorted(catalog.values(), key=lambda e: (e.system, e.id)):
        print(entry_markdown(entry))
    return 0


def cmd_env_check(args: argparse.Namespace) -> int:
    """Validate files as a run would (`--env` rules, variables, catalog entries)."""
    status = 0
    running = sandbox.read_state(ROOT)
    variables = {**os.environ, **(running["variables"] if running else {})}
    try:
        paths = find_environment_files(args.names or ["all"], ENVIRONMENTS)
    except ConfigError as exc:
        print(f"vigil: {exc.problems[0]}", file=sys.stderr)
        return 2
    catalog = load_catalog(CATALOG)
    for path in paths:
        if path == ENVIRONMENTS / "sandbox.yaml" and not running:
            print(f"{path}: skipped (its variables come from the sandbox: vigil sandbox up)")
            continue
        try:
            environment = load_environment(path, variables)
            unknown = catalog_problems(environment, catalog)
            if unknown:
                raise ConfigError(str(path), unknown)
        except ConfigError as exc:
            for problem in exc.problems:
                print(f"{path}: {problem}")
            status = 1
            continue
        print(f"{path}: ok (environment {environment.name})")
    return status


def cmd_sandbox(args: argparse.Namespace) -> int:
    if args.action == "up":
        variables, started = sandbox.ensure(ROOT, args.scenario)
        state = sandbox.read_state(ROOT) or {}
        print(
            f"sandbox {'started' if started else 'already running'}: scenario"
            f" {state.get('scenario')}, pid {state.get('pid')}"
        )
        for name, value in sorted(variables.items()):
            print(f"  {name}={redact_url(value)}")
    elif args.action == "down":
        print("sandbox stopped" if sandbox.stop(ROOT) else "no sandbox was running")
    else:
        running = sandbox.read_state(ROOT)
        print(
            f"sandbox running: scenario {running['scenario']}, pid {running['pid']}"
            if running
            else "no sandbox is running"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vigil", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    runbook = commands.add_parser("runbook", help="the runbook catalog").add_subparsers(
        dest="action", required=True
    )
    coverage = runbook.add_parser("coverage", help="each entry and the checks that cover it")
    coverage.add_argument(
        "--env",
        action="append",
        default=[],
        help="also count assertions and rules in these environment files",
    )
    coverage.set_defaults(run=cmd_coverage)
    show = runbook.add_parser("show", help="one entry")
    show.add_argument("id")
    show.set_defaults(run=cmd_show)
    runbook.add_parser("markdown", help="the catalog as Markdown").set_defaults(run=cmd_markdown)
    env = commands.add_parser("env", help="environment files").add_subparsers(
        dest="action", required=True
    )
    check = env.add_parser("check", help="validate environment files")
    check.add_argument(
        "names", nargs="*", help="NAME, PATH.yaml or all, as --env takes them (default: all)"
    )
    check.set_defaults(run=cmd_env_check)
    box = commands.add_parser("sandbox", help="the local sandbox")
    box.add_argument("action", choices=["up", "down", "status"])
    box.add_argument("--scenario", choices=sandbox.SCENARIOS, default=None)
    box.set_defaults(run=cmd_sandbox)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except VigilError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
