"""The `vigil` command: the catalog, environment files, a starter repository and the sandbox.

vigil init DIR                            a team's own repository, ready to run
vigil runbook coverage [--env NAME ...]   each entry and the checks that cover it
vigil runbook show ID                     one entry, merged with the team's overlays
vigil runbook markdown                    the whole catalog as Markdown (docs/runbook.md)
vigil env check [NAME|PATH ...]           validate environment files (default: all)
vigil env check --no-secrets              ... without the ${VAR}s set (a CI lint job)
vigil incident [--report-dir DIR] [--env NAME] [--resolved]   the incident hand-off
vigil watch [pytest args] --every SECONDS re-run until every check passes
vigil sandbox up [--scenario S] | down | status

It works in the project around the working directory (this repository or a team's, found as
pytest finds its configuration: `vigil.project`), with the team's families and overlays.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from vigil import incident, sandbox, watch
from vigil.coverage import checks_by_entry as checks_by_entry  # tests read it here
from vigil.coverage import named_in_environments
from vigil.environment import (
    Environment,
    NotSetHere,
    catalog_problems,
    find_environment_files,
    load_environment,
    missing_files,
)
from vigil.errors import ConfigError, VigilError
from vigil.families.prometheus.presets import PRESETS
from vigil.project import Project, find_project, load_team_code
from vigil.redact import redact_url
from vigil.runbook import DEFAULT_CATALOG, RunbookEntry, suggest_entry
from vigil.silences import MAX_DAYS, too_far
from vigil.sources import coverage_lines
from vigil.validation import printable


def vigil_version() -> str:
    try:
        return version("vigil")
    except PackageNotFoundError:  # a checkout on sys.path, not installed
        from vigil import __version__

        return __version__


def project() -> Project:
    """The project around the working directory, with its families registered."""
    found = find_project()
    load_team_code(found)
    return found


def cmd_coverage(args: argparse.Namespace) -> int:
    here = project()
    catalog = here.catalog().entries
    covered = checks_by_entry(here.suite)
    for preset, (_, entry_id, _) in PRESETS.items():
        covered[entry_id].append(f"prometheus preset {preset}")
    try:
        paths = find_environment_files(args.env, here.environments) if args.env else []
    except ConfigError as exc:
        print(f"vigil: {exc.problems[0]}", file=sys.stderr)
        return 2
    if not args.env and here.environments.is_dir():
        paths = sorted(here.environments.glob("*.yaml"))
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
        print(
            f"error: {', '.join(covered[entry_id])} name unknown entry {entry_id!r}"
            f"{suggest_entry(entry_id, catalog)}"
        )
    for line in coverage_lines(here.root / "docs" / "runbook-sources.md", catalog):
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
    catalog = project().catalog()
    entry = catalog.entries.get(args.id)
    if entry is None:
        hint = suggest_entry(args.id, catalog.entries)
        print(f"vigil: no runbook entry {args.id!r}{hint}", file=sys.stderr)
        return 2
    print(entry_markdown(entry))
    print("Where each field comes from:\n")
    origins = catalog.origins.get(entry.id, {})
    for name in RunbookEntry.model_fields:
        source = origins.get(name)
        if source is None:
            where = "(not given: the default)"
        elif Path(source) == DEFAULT_CATALOG:
            where = "built-in catalog"
        else:
            where = f"{_shown(Path(source))} (overlay)"
        print(f"- {name}: {where}")
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cmd_markdown(args: argparse.Namespace) -> int:
    catalog = project().catalog().entries
    print("# Runbook catalog\n")
    print(
        "Generated from `checks/runbook.yaml` by `vigil runbook markdown`. Placeholders in braces"
        " are filled in by the checks for the environment and target that failed.\n"
    )
    for entry in sorted(catalog.values(), key=lambda e: (e.system, e.id)):
        print(entry_markdown(entry))
    return 0


def cmd_env_check(args: argparse.Namespace) -> int:
    """Validate files as a run would (`--env` rules, variables, catalog entries), and more:
    the files they name exist, and no two of them share a `name:`."""
    here = project()
    running = sandbox.read_state(here.root)
    variables = {**os.environ, **(running["variables"] if running else {})}
    skipped: list[str] = []
    try:
        paths = find_environment_files(args.names or ["all"], here.environments, skipped)
    except ConfigError as exc:
        print(f"vigil: {exc.problems[0]}", file=sys.stderr)
        return 2
    for note in skipped:
        print(note)
    catalog = here.catalog().entries
    status = 0
    loaded: dict[Path, Environment] = {}
    for path in paths:
        if path == here.environments / "sandbox.yaml" and not running and not args.no_secrets:
            print(f"{path}: skipped (its variables come from the sandbox: vigil sandbox up)")
            continue
        unset: dict[str, str] | None = {} if args.no_secrets else None
        try:
            environment = load_environment(path, variables, unset=unset)
            problems = catalog_problems(environment, catalog) + missing_files(environment)
            now = datetime.now(UTC)
            problems += too_far(environment.spec.silences, now, args.max_silence_days)
            if problems:
                raise ConfigError(str(path), problems)
        except NotSetHere as exc:
            _print_unset(path, exc.unset)
            print(f"{path}: ok as far as it can be checked without those variables")
            continue
        except ConfigError as exc:
            _print_unset(path, unset or {})
            for problem in exc.problems:
                print(f"{path}: {problem}")
            status = 1
            continue
        _print_unset(path, unset or {})
        loaded[path] = environment
    for path, environment in loaded.items():
        others = [str(p) for p, e in loaded.items() if e.name == environment.name and p != path]
        if others:
            print(f"{path}: name: {environment.name!r} is also the name of {', '.join(others)}")
            status = 1
        else:
            print(f"{path}: ok (environment {environment.name})")
    return status


def _print_unset(path: Path, unset: dict[str, str]) -> None:
    for where, name in unset.items():
        print(printable(f"{path}: {where}: ${{{name}}} is not set here (not checked)"))


def cmd_sandbox(args: argparse.Namespace) -> int:
    root = find_project().root
    if args.action == "up":
        variables, started = sandbox.ensure(root, args.scenario)
        state = sandbox.read_state(root) or {}
        print(
            f"sandbox {'started' if started else 'already running'}: scenario"
            f" {state.get('scenario')}, pid {state.get('pid')}"
        )
        for name, value in sorted(variables.items()):
            print(f"  {name}={redact_url(value)}")
    elif args.action == "down":
        print("sandbox stopped" if sandbox.stop(root) else "no sandbox was running")
    else:
        running = sandbox.read_state(root)
        print(
            f"sandbox running: scenario {running['scenario']}, pid {running['pid']}"
            if running
            else "no sandbox is running"
        )
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from vigil.starter import write_starter

    directory = Path(args.directory)
    written, kept = write_starter(directory)
    for path in written:
        print(f"wrote {path}")
    for path in kept:
        print(f"kept  {path} (it exists)")
    print(
        f"\nNext: cd {directory} && python -m pip install -e . && pytest checks --env example"
        "\n(README.md in it says more.)"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"vigil {vigil_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="write a starter repository for a team")
    init.add_argument("directory", help="where to write it (created if need be)")
    init.set_defaults(run=cmd_init)
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
    show = runbook.add_parser("show", help="one entry, and where each field comes from")
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
    check.add_argument(
        "--no-secrets",
        action="store_true",
        help="check the structure with ${VAR}s unset: each is reported as not set here",
    )
    check.add_argument(
        "--max-silence-days",
        type=float,
        default=MAX_DAYS,
        metavar="DAYS",
        help=f"refuse a silence whose until: is further out than this (default: {MAX_DAYS})",
    )
    check.set_defaults(run=cmd_env_check)
    incident.add_command(commands)
    watch.add_command(commands)
    box = commands.add_parser("sandbox", help="the local sandbox")
    box.add_argument("action", choices=["up", "down", "status"])
    box.add_argument("--scenario", choices=sandbox.SCENARIOS, default=None)
    box.set_defaults(run=cmd_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status is returned, never raised (argparse's included)."""
    given = sys.argv[1:] if argv is None else argv
    try:
        try:
            args = parser().parse_args(argv) if given[:1] != ["watch"] else None
        except SystemExit as exc:  # --version, --help, a usage error
            return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
        try:
            # `watch` takes pytest's arguments as they are: argparse would refuse them.
            status = watch.main(given[1:]) if args is None else int(args.run(args))
        except VigilError as exc:
            print(f"vigil: {exc}", file=sys.stderr)
            status = 2
        sys.stdout.flush()  # a reader that went away is found here, not at exit
        return status
    except BrokenPipeError:
        # `vigil runbook coverage | head -1`: the reader has what it wanted. Stop quietly, as
        # Unix tools do, and keep the interpreter from complaining when it flushes at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the pipe stopped


if __name__ == "__main__":
    sys.exit(main())
