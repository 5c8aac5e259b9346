"""`vigil watch [pytest args] --every SECONDS`: "verify before closing", done by the suite.

Re-runs the selection every SECONDS (`pytest` in this process, one round after the other;
the sandbox, when the selection uses it, is started once and left running across rounds)
until every selected check passes, or Ctrl-C, or `--rounds N`. Each round writes the reports
as any run does (the pytest arguments' `--report-dir`), and is bounded by their `--deadline`.
It prints one line per change, with its time:

    06:07:02 watching 96 checks every 30 s: 2 failing
    06:07:02 payments test_health_endpoint failing since 06:07 (sev1): HTTP 503 from GET ...
    06:21:14 payments test_health_endpoint resolved after 14 min

and ends with the time to recover of each check that recovered. Exit status: 0 when every
check passes, 1 when it stopped with failures, 2 when a round could not run.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

USAGE = "usage: vigil watch [pytest args] --every SECONDS [--rounds N]"


def add_command(commands: Any) -> None:
    """Listed in `vigil --help`; `vigil.cli.main` hands `watch` its arguments as they are."""
    commands.add_parser(
        "watch",
        help="re-run the selection every SECONDS until every check passes (pytest args pass"
        " through: vigil watch --env production -m sev1 --every 30)",
        add_help=False,
    )


@dataclass
class Options:
    every: float
    rounds: int | None
    pytest_args: list[str]
    report_dir: Path


def parse(argv: list[str]) -> Options:
    """`--every SECONDS` and `--rounds N` are the watch's; every other argument is pytest's."""
    every: float | None = None
    rounds: int | None = None
    rest: list[str] = []
    items = iter(argv)
    for arg in items:
        name, _, inline = arg.partition("=")
        if name in ("--every", "--rounds"):
            value = inline or next(items, "")
            try:
                number = float(value)
            except ValueError:
                number = 0
            if number <= 0:
                raise ValueError(f"{name} {value!r}: give a number above 0")
            if name == "--every":
                every = number
            else:
                rounds = int(number)
        else:
            rest.append(arg)
    if every is None:
        raise ValueError(f"--every SECONDS is required ({USAGE})")
    return Options(every, rounds, rest, _report_dir(rest))


def _report_dir(args: list[str]) -> Path:
    directory = "reports"
    for index, arg in enumerate(args):
        if arg == "--report-dir" and index + 1 < len(args):
            directory = args[index + 1]
        elif arg.startswith("--report-dir="):
            directory = arg.partition("=")[2]
    return Path(directory)


@dataclass
class Watch:
    """What the rounds have seen: each check's failure, since when, and when it passed."""

    single_environment: bool = True
    failing: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> its record
    since: dict[str, str] = field(default_factory=dict)  # id -> ISO time it was first failing
    recovered: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (since, at)

    def where(self, check: dict[str, Any]) -> str:
        target = str(check.get("target") or check.get("environment"))
        return target if self.single_environment else f"{check.get('environment')}/{target}"

    def round(self, results: dict[str, Any], first: bool) -> list[str]:
        """Lines for what changed in this round (every failure, in the first)."""
        now = str(results.get("finished_at") or results.get("started_at") or "")
        clock = _clock(now)
        checks = results.get("checks", [])
        self.single_environment = len({c.get("environment") for c in checks}) <= 1
        failing = {c["id"]: c for c in checks if _alerting(c)}
        lines = []
        if first:
            lines.append(f"{clock} watching {len(checks)} checks: {len(failing)} failing")
        for test_id, check in failing.items():
            if test_id in self.failing or check.get("blocked_by"):
                continue
            since = str(check.get("failing_since") or now)
            self.since.setdefault(test_id, since)
            self.recovered.pop(test_id, None)
            message = str(check.get("message") or check.get("outcome")).split("\n")[0]
            lines.append(
                f"{clock} {self.where(check)} {check['check']} failing since"
                f" {_clock(since)[:5]} ({check.get('severity') or 'error'}): {message}"
            )
        for test_id, check in self.failing.items():
            if test_id not in failing and not check.get("blocked_by"):
                since = self.since.get(test_id, now)
                self.recovered[test_id] = (since, now)
                lines.append(
                    f"{clock} {self.where(check)} {check['check']} resolved after"
                    f" {_age(since, now)}"
                )
        self.failing = failing
        return lines

    def summary(self) -> list[str]:
        lines = []
        for test_id, (since, at) in sorted(self.recovered.items(), key=lambda i: i[1][1]):
            lines.append(
                f"recovered: {test_id} in {_age(since, at)} (failing since {_clock(since)},"
                f" passing at {_clock(at)})"
            )
        if self.recovered and not self.failing:
            start = min(since for since, _ in self.recovered.values())
            end = max(at for _, at in self.recovered.values())
            lines.append(f"time to recover: {_age(start, end)} (every selected check passes)")
        for test_id in self.failing:
            if not self.failing[test_id].get("blocked_by"):
                lines.append(f"still failing: {test_id}")
        return lines


def _alerting(check: dict[str, Any]) -> bool:
    return check.get("outcome") in ("failed", "error") and not check.get("silenced")


def _clock(moment: str) -> str:
    """The local wall-clock time, HH:MM:SS, of an ISO time."""
    try:
        return datetime.fromisoformat(moment).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return moment


def _age(since: str, now: str) -> str:
    from vigil.reports.changes import age

    return age(since, now) or "0 s"


def run_round(options: Options) -> tuple[int, dict[str, Any] | None, str]:
    """One pytest run in this process; (exit status, its results if it wrote new ones, its
    output)."""
    from vigil.plugin.rounds import run_pytest

    before = _written(options.report_dir)
    status, output = run_pytest([*options.pytest_args, "-p", "no:cacheprovider"])
    fresh = _written(options.report_dir) != before  # replaced by a rename: a new file
    return status, _read(options.report_dir) if fresh else None, output


def _written(directory: Path) -> tuple[int, int] | None:
    try:
        stat = (directory / "results.json").stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _read(directory: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((directory / "results.json").read_text())
    except (OSError, ValueError):
        return None
    return data


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(f"{USAGE}\n\n{__doc__}")
        return 0
    try:
        options = parse(argv)
    except ValueError as exc:
        print(f"vigil watch: {exc}", file=sys.stderr)
        return 2
    from vigil.project import find_project

    project = find_project()
    if not _names_checks(options.pytest_args):
        options.pytest_args.insert(0, str(project.suite))
    with _sandbox(options, project.root):
        return _loop(options)


def _names_checks(args: list[str]) -> bool:
    """Whether the arguments name check modules or directories themselves (else the suite
    is added): a `.py` file, a node id, or a directory that is no option's value."""
    for previous, arg in zip(["", *args], args, strict=False):
        if arg.startswith("-"):
            continue
        if arg.endswith(".py") or "::" in arg:
            return True
        if Path(arg).is_dir() and not previous.startswith("-"):
            return True
    return False


@contextlib.contextmanager
def _sandbox(options: Options, root: Path) -> Any:
    """Start the sandbox once for every round when the selection uses it (no `--env`, or
    `--env sandbox`), and stop it afterwards if this watch started it."""
    from vigil import sandbox

    args = options.pytest_args
    envs = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--env"]
    envs += [a.partition("=")[2] for a in args if a.startswith("--env=")]
    if envs and "sandbox" not in envs:
        yield
        return
    scenario = next(
        (args[i + 1] for i, a in enumerate(args[:-1]) if a == "--sandbox-scenario"), None
    )
    home = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--sandbox-home"), None)
    place = Path(home) if home else root
    _, started = sandbox.ensure(place, scenario)
    try:
        yield
    finally:
        if started:
            sandbox.stop(place)


def _loop(options: Options) -> int:
    seen = Watch()
    rounds = 0
    print(f"watching every {options.every:g} s (reports in {options.report_dir}); Ctrl-C stops")
    try:
        while True:
            started = time.monotonic()
            status, results, output = run_round(options)
            rounds += 1
            if status not in (0, 1) or results is None:
                print(output[-3000:])
                print(f"vigil watch: round {rounds} could not run (pytest exit status {status})")
                return 2
            for line in seen.round(results, first=rounds == 1):
                print(line, flush=True)
            if not seen.failing:
                break
            if options.rounds is not None and rounds >= options.rounds:
                print(f"stopped after {rounds} rounds")
                break
            time.sleep(max(0.0, options.every - (time.monotonic() - started)))
    except KeyboardInterrupt:
        print(f"\n{datetime.now(UTC).astimezone().strftime('%H:%M:%S')} stopped")
    for line in seen.summary():
        print(line)
    return 0 if not seen.failing else 1
