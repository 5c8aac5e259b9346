"""What the readable reports (readiness.md, readiness.html) show, in the order an on-call
engineer reads it: what changed, one row per environment and target, then the findings.

A finding is one runbook entry failing on one target, with its failing checks and its steps
once (not once per check). Findings are ordered by severity, then unreachable targets before
reachable ones (a service that does not answer before a slow one), then by age (the oldest
failure first: it is the likeliest cause), then by system, user-facing systems first.

Root cause first: the checks an unreachable target's reachability check stands for
(`blocked_by`) are no findings of their own; they are listed under that check's finding.
Silenced failures are no findings either: they are listed apart, with their silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from vigil.record import Change, CheckRecord, Outcome
from vigil.reports.results import RunResults
from vigil.severity import Severity

# Ties within a severity: what users see first, what they depend on next, warnings last.
SYSTEM_ORDER = ("http", "kubernetes", "postgres", "redis", "data", "prometheus", "dependencies")
LAST_SYSTEMS = ("tls",)
_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


def system_rank(system: str | None) -> int:
    if system in SYSTEM_ORDER:
        return SYSTEM_ORDER.index(system)
    if system in LAST_SYSTEMS:
        return len(SYSTEM_ORDER) + 1 + LAST_SYSTEMS.index(system)
    return len(SYSTEM_ORDER)  # a team's own family: after the known ones, before warnings


def target_of(record: CheckRecord) -> str:
    """The target a record counts towards in the per-target view: an SQL assertion
    (`main/payouts-stuck-pending`) towards its database (`main`)."""
    return record.target.split("/", 1)[0] if record.target else record.environment


def unfilled(texts: list[str]) -> list[str]:
    """The placeholders left unfilled in rendered steps (no value in `vars:` or the target)."""
    return list(dict.fromkeys(name for text in texts for name in _PLACEHOLDER.findall(text)))


def split_placeholders(text: str) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_placeholder) so writers can mark the unfilled ones."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > position:
            pieces.append((text[position : match.start()], False))
        pieces.append((match.group(0), True))
        position = match.end()
    if position < len(text):
        pieces.append((text[position:], False))
    return pieces


# A remediation step is prose with commands in it ("roll back: kubectl rollout undo ..., then
# ..."); writers show the commands as code. A command runs from its program's name to the
# first ", ", "; ", ". " or closing parenthesis outside quotes and brackets, or to the end.
_COMMAND = re.compile(
    r"(?<![\w/.-])(?:kubectl|psql|curl|redis-cli|openssl|helm|promtool|pg_dump|dig|vigil|pytest)\s"
)


def split_commands(text: str) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_command)."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in _COMMAND.finditer(text):
        if match.start() < position:
            continue  # inside the previous command
        end = _command_end(text, match.start())
        if match.start() > position:
            pieces.append((text[position : match.start()], False))
        pieces.append((text[match.start() : end], True))
        position = end
    if position < len(text):
        pieces.append((text[position:], False))
    return pieces


# What can end a command or change how its end is found: a quote, a bracket, or ", ", "; ",
# ". " and a final "." (the end, outside quotes and brackets).
_COMMAND_STOP = re.compile(r"""['"()\[\]{}]|[,;.] |\.\Z""")


def _command_end(text: str, start: int) -> int:
    """Where the command starting at `start` ends; it jumps from stop to stop (a report of
    1,000 failing targets cuts some 12,000 steps)."""
    depth, index = 0, start
    while (stop := _COMMAND_STOP.search(text, index)) is not None:
        index = stop.start()
        char = text[index]
        if char in "'\"":
            closing = text.find(char, index + 1)
            if closing < 0:
                return len(text)
            index = closing + 1
        elif char in "([{":
            depth, index = depth + 1, index + 1
        elif char in ")]}":
            if depth == 0:
                return index
            depth, index = depth - 1, index + 1
        elif depth == 0:
            return index
        else:
            index += 1
    return len(text)


@dataclass
class Finding:
    """One runbook entry failing on one target: its checks, and its steps once."""

    environment: str
    target: str
    checks: list[CheckRecord]
    blocked: list[CheckRecord] = field(default_factory=list)  # not evaluated behind it

    @property
    def first(self) -> CheckRecord:
        return self.checks[0]

    @property
    def severity(self) -> Severity | None:
        return self.first.severity

    @property
    def reachable(self) -> bool:
        return all(c.reachable for c in self.checks)

    @property
    def failing_since(self) -> str | None:
        return min((c.failing_since for c in self.checks if c.failing_since), default=None)

    @property
    def remediation(self) -> list[str]:
        return self.first.remediation

    @property
    def diagnosis(self) -> list[str]:
        return list(dict.fromkeys(step for c in self.checks for step in c.diagnosis))

    @property
    def unfilled(self) -> list[str]:
        return unfilled([*self.remediation, *self.diagnosis])

    @property
    def change(self) -> Change | None:
        """NEW if any of its checks is new, else STILL if any is still failing."""
        changes = {c.change for c in self.checks}
        return next((c for c in (Change.NEW, Change.STILL) if c in changes), None)


@dataclass
class TargetRow:
    """One environment x target: its systems' status, worst severity, and since when."""

    environment: str
    target: str
    checks: list[CheckRecord] = field(default_factory=list)

    @property
    def failing(self) -> list[CheckRecord]:
        """Its failing checks that count (a silenced one does not)."""
        return [c for c in self.checks if c.actionable]

    @property
    def worst(self) -> Severity | None:
        ranked = [c.severity for c in self.failing if c.severity]
        return min(ranked, key=lambda s: s.rank) if ranked else None

    @property
    def reachable(self) -> bool:
        return all(c.reachable for c in self.failing)

    @property
    def failing_since(self) -> str | None:
        return min((c.failing_since for c in self.failing if c.failing_since), default=None)

    @property
    def status(self) -> str:
        if self.failing and all(c.blocked_by for c in self.failing):
            return "not evaluated"  # behind another target's reachability check (a rule's)
        if self.failing:
            return "unreachable" if not self.reachable else "failing"
        if any(c.silenced and c.failing for c in self.checks):
            return "silenced"
        if any(c.flaky for c in self.checks):
            return "flaky"
        if all(c.outcome == Outcome.SKIPPED for c in self.checks):
            return "skipped"
        return "ok"

    def systems(self) -> list[tuple[str, int, int]]:
        """(system, failing checks, checks) per system of the target."""
        seen: dict[str, list[int]] = {}
        for check in self.checks:
            counts = seen.setdefault(check.system or "other", [0, 0])
            counts[0] += check.actionable
            counts[1] += 1
        return [(name, failing, total) for name, (failing, total) in seen.items()]


def _order(
    severity: Severity | None, reachable: bool, since: str | None, system: str | None
) -> Any:
    return (
        severity.rank if severity else 0,
        reachable,  # False (unreachable) first
        since or "~",  # the oldest failure first; an unknown age last
        system_rank(system),
    )


def reading_order(records: list[CheckRecord]) -> list[CheckRecord]:
    """Failing checks in the order to read them (see the module's docstring)."""
    return sorted(
        records,
        key=lambda c: (
            *_order(c.severity, c.reachable, c.failing_since, c.system),
            c.environment,
            c.id,
        ),
    )


def findings(run: RunResults) -> list[Finding]:
    """The failing checks grouped by environment, target and runbook entry, in reading order
    (broken environment files are not findings: they are their environment's BROKEN row)."""
    broken = {e.name for e in run.environments if e.problems}
    grouped: dict[tuple[str, str, str], list[CheckRecord]] = {}
    behind: dict[str, list[CheckRecord]] = {}
    for check in run.checks:
        if check.blocked_by and (check.actionable or check.outcome == Outcome.SKIPPED):
            behind.setdefault(check.blocked_by, []).append(check)
        elif check.actionable and not (
            check.environment in broken and check.check == "environment"
        ):
            key = (check.environment, check.target, check.runbook or check.id)
            grouped.setdefault(key, []).append(check)
    found = []
    for (environment, target, _), checks in grouped.items():
        checks.sort(key=lambda c: (c.severity.rank if c.severity else 0, c.id))
        blocked = [b for c in checks for b in behind.get(c.id, [])]
        found.append(Finding(environment, target, checks, sorted(blocked, key=lambda c: c.id)))
    found.sort(
        key=lambda f: (
            *_order(f.severity, f.reachable, f.failing_since, f.first.system),
            f.environment,
            f.target,
            f.first.runbook or "",
        )
    )
    return found


def target_rows(run: RunResults) -> list[TargetRow]:
    """One row per environment and target, failing ones first in reading order, then the
    rest by name."""
    broken = {e.name for e in run.environments if e.problems}
    rows: dict[tuple[str, str], TargetRow] = {}
    for check in run.checks:
        if check.environment in broken and check.check == "environment":
            continue
        key = (check.environment, target_of(check))
        rows.setdefault(key, TargetRow(*key)).checks.append(check)

    def order(row: TargetRow) -> Any:
        if not row.failing:
            return (1, (), row.environment, row.target)
        worst = min(row.failing, key=lambda c: system_rank(c.system))
        return (0, _order(row.worst, row.reachable, row.failing_since, worst.system),
                row.environment, row.target)  # fmt: skip

    return sorted(rows.values(), key=order)


def silenced(run: RunResults) -> list[CheckRecord]:
    """Failing checks a silence in force matched, in reading order."""
    return reading_order([c for c in run.checks if c.failing and c.silenced])


def changed(run: RunResults) -> dict[str, list[CheckRecord]]:
    """What changed since the last run, in the order to read it: new failures, resolved,
    still failing (oldest first), flapping, and passes that needed a retry. Silenced failures
    and the checks blocked behind an unreachable target are not news of their own."""
    told = [c for c in run.checks if c.counted]
    return {
        "new": reading_order([c for c in told if c.change == Change.NEW]),
        "resolved": reading_order([c for c in run.checks if c.change == Change.RESOLVED]),
        "still": reading_order([c for c in told if c.change == Change.STILL]),
        "flapping": reading_order([c for c in run.checks if c.flapping]),
        "flaky": reading_order([c for c in run.checks if c.flaky]),
    }


@dataclass(frozen=True)
class TrendPoint:
    time: str
    failing: int
    verdict: str  # "" when the run did not include the environment
    partial: bool


def trend(history: list[dict[str, Any]], environment: str, last: int = 30) -> list[TrendPoint]:
    """The environment's failing checks in the last `last` runs that included it."""
    points: list[TrendPoint] = []
    for line in reversed(history):  # the newest first, and only as far back as needed
        if len(points) == last:
            break
        if environment not in line.get("environments", []):
            continue
        prefix = f"[{environment}/"
        failing = sum(
            1
            for test_id in line.get("failed", [])
            if prefix in str(test_id) or str(test_id).endswith(f"[{environment}]")
        )
        verdict = str(line.get("verdicts", {}).get(environment, ""))
        if not verdict:
            verdict = "NOT READY" if environment in line.get("not_ready", []) else "READY"
        points.append(
            TrendPoint(str(line.get("time", "")), failing, verdict, bool(line.get("partial")))
        )
    return points[::-1]
