"""`readiness.md`: for pull requests and chat. It answers "what now?" first: the verdicts,
what changed since the last run, the failing targets, then each finding with its steps
(long remediation folded under <details>), its diagnosis commands as code and its evidence.
Passing checks are counted, not listed.

Every text that came from a target (messages, evidence, names) is escaped or fenced here, so
that it cannot open a heading, a list, a link or HTML, nor close a code fence: inline text
goes through `text()` or `code()`, blocks through `fence()`.
"""

from __future__ import annotations

import re
from typing import Any

from vigil.record import CheckRecord
from vigil.reports.changes import age, failing_for
from vigil.reports.results import RunResults
from vigil.reports.view import (
    Finding,
    TargetRow,
    changed,
    findings,
    silenced,
    split_commands,
    split_placeholders,
    target_rows,
    trend,
)
from vigil.severity import SEVERITIES

FOLD_STEPS = 3  # more steps than this are folded under <details>
SHOWN_CHANGES = 10  # per kind of change; the rest are counted
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#&{}!])")
_LINE_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-+=])")


def text(value: str) -> str:
    """Inline Markdown text: one line (white space runs become one space), every character
    that could start markup escaped, wherever the text lands on the line."""
    flat = _SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", str(value)))
    return _LINE_START.sub(lambda m: f"{m[1]}{m[2]}\\{m[3]}" if m[2] else f"{m[4]}\\{m[5]}", flat)


def code(value: str) -> str:
    """An inline code span holding `value` on one line, whatever backticks it contains."""
    flat = " ".join(str(value).split()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def fence(lines: list[str], info: str = "") -> list[str]:
    """A fenced code block that no line of `lines` can close: the fence is longer than any
    run of backticks inside."""
    body = [line for block in lines for line in str(block).split("\n")]
    longest = max((len(run) for line in body for run in re.findall(r"`{3,}", line)), default=0)
    ticks = "`" * max(3, longest + 1)
    return [f"{ticks}{info}", *body, ticks]


def step(value: str) -> str:
    """A remediation step: its commands and unfilled placeholders as code, the rest text."""
    return "".join(
        code(piece)
        if command
        else "".join(code(part) if hole else text(part) for part, hole in split_placeholders(piece))
        for piece, command in split_commands(value)
    )


def render_markdown(run: RunResults, history: list[dict[str, Any]] | None = None) -> str:
    lines = [f"# Readiness report, {text(run.started_at)}", "", _meta(run), ""]
    lines += _verdicts(run)
    lines += _trends(run, history or [])
    lines += _notes(run)
    lines += _notifications(run)
    lines += _expired(run)
    lines += _changes(run)
    rows = target_rows(run)
    lines += _targets(rows, run)
    found = findings(run)
    total = sum(len(f.checks) for f in found)
    lines += [
        f"## Failures: {total} checks, {len(found)} findings" if found else "## No failures",
        "",
    ]
    for finding in found:
        lines += _finding(finding, run.started_at)
    lines += _silenced(run)
    return "\n".join(lines).rstrip() + "\n"


def _notifications(run: RunResults) -> list[str]:
    """How each notifier went (with --notify); one that failed is said in bold."""
    if not run.notify:
        return []
    lines = ["Notifications:", ""]
    for sent in run.notify:
        status = f"**{sent['status']}**" if sent["status"] == "failed" else sent["status"]
        lines.append(
            f"- {text(sent['environment'])} {text(sent['notifier'])}: {status}"
            f" ({text(sent['detail'])})"
        )
    return [*lines, ""]


def _expired(run: RunResults) -> list[str]:
    if not run.expired_silences:
        return []
    lines = ["**Expired silences** (they silence nothing now: remove or renew them):", ""]
    lines += [
        f"- {text(s['environment'])}: {code(s['match'])} until {text(s['until'])}:"
        f" {text(s['reason'])}"
        for s in run.expired_silences
    ]
    return [*lines, ""]


def _silenced(run: RunResults) -> list[str]:
    """Failing checks a silence in force matched: not counted, not notified, still shown."""
    quiet = silenced(run)
    if not quiet:
        return []
    lines = [f"## Silenced: {len(quiet)} failing checks", ""]
    for check in quiet:
        note = check.silenced or {}
        lines.append(
            f"- {code(check.id)}: {text(check.message.split(chr(10))[0])}"
            f" (silenced until {text(note.get('until', ''))}: {text(note.get('reason', ''))})"
        )
    return [*lines, ""]


def _meta(run: RunResults) -> str:
    shown = "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in run.filters.items() if v)
    meta = f"Run took {run.duration_s:g} s; exit status {run.exit_status}."
    if shown:
        meta += f" Selected: {text(shown)}."
    if run.partial:
        meta += (
            f" **Partial run** ({text('; '.join(run.partial_reasons))}):"
            " no environment is declared READY."
        )
    return meta


def _verdicts(run: RunResults) -> list[str]:
    lines = [
        "| environment | verdict | " + " | ".join(SEVERITIES) + " | passed | failed | errors |",
        "| --- | --- | " + " | ".join("---:" for _ in SEVERITIES) + " | ---: | ---: | ---: |",
    ]
    broken = []
    for env in run.environments:
        verdict = env.verdict if env.ready else f"**{env.verdict}**"
        if env.problems:
            lines.append(f"| {text(env.name)} | {verdict} |" + " |" * (len(SEVERITIES) + 3))
            broken.append(env)
            continue
        severities = " | ".join(str(env.failed_by_severity[s]) for s in SEVERITIES)
        lines.append(
            f"| {text(env.name)} | {verdict} | {severities} | {env.counts['passed']}"
            f" | {env.counts['failed']} | {env.counts['error']} |"
        )
    lines.append("")
    for env in broken:
        lines += [
            f"**{text(env.name)}** is BROKEN: {code(env.source or '')} could not be loaded:",
            "",
        ]
        lines += [f"- {text(problem)}" for problem in env.problems]
        lines.append("")
    return lines


def _trends(run: RunResults, history: list[dict[str, Any]]) -> list[str]:
    """Per environment, its failing checks in its last runs, oldest first, on one line."""
    lines = []
    for env in run.environments:
        points = trend(history, env.name) if not env.problems else []
        if len(points) > 1:
            counts = " ".join("p" if p.partial else str(p.failing) for p in points)
            span = f"{points[0].time[:16]} to {points[-1].time[:16]}"
            lines.append(f"- {text(env.name)}: {counts} ({text(span)})")
    if not lines:
        return []
    head = "Failing checks in the last runs, oldest first (p: a partial run):"
    return [head, "", *lines, ""]


def _notes(run: RunResults) -> list[str]:
    noted = sorted({(c.environment, c.target, n) for c in run.checks for n in c.notes})
    if not noted:
        return []
    return ["Notes:", ""] + [f"- {text(f'{e} / {t}: {n}')}" for e, t, n in noted] + [""]


def _changes(run: RunResults) -> list[str]:
    kinds = changed(run)
    if run.previous_run is None:
        lines = ["No earlier run in this report directory: every failure below is new.", ""]
        kinds = {kind: kinds[kind] for kind in ("flapping", "flaky")}
    elif not any(kinds.values()):
        return [f"Nothing changed since the last run ({text(run.previous_run)}).", ""]
    else:
        lines = [f"## What changed since the last run ({text(run.previous_run)})", ""]
    titles = {
        "new": "New failures",
        "resolved": "Resolved",
        "still": "Still failing",
        "flapping": "Flapping (changed 4+ times in the last 10 runs)",
        "flaky": "Passed only on a retry",
    }
    for kind, checks in kinds.items():
        if not checks:
            continue
        lines.append(f"**{titles[kind]} ({len(checks)})**")
        lines.append("")
        for check in checks[:SHOWN_CHANGES]:
            lines.append(f"- {_change_line(kind, check, run.started_at)}")
        if len(checks) > SHOWN_CHANGES:
            lines.append(f"- and {len(checks) - SHOWN_CHANGES} more")
        lines.append("")
    return lines


def _change_line(kind: str, check: CheckRecord, now: str) -> str:
    place = f"{check.environment} / {check.target}" if check.target else check.environment
    where = f"{text(place)} {code(check.check)}"
    severity = f"{check.severity} " if check.severity else ""
    if kind == "still":
        return f"{severity}{where}: failing for {age(check.failing_since, now)}"
    if kind == "resolved":
        return f"{where} passes again"
    if kind == "flaky":
        return f"{where} passed on attempt {check.attempts}"
    return f"{severity}{where}: {text(check.message.split(chr(10))[0])}"


def _targets(rows: list[TargetRow], run: RunResults) -> list[str]:
    failing = [row for row in rows if row.failing]
    if not failing:
        return []
    lines = [
        "## Failing targets",
        "",
        "| environment | target | status | worst | failing for | systems |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in failing:
        systems = ", ".join(
            f"{name} {bad}/{total} failing" if bad else f"{name} ok"
            for name, bad, total in row.systems()
        )
        lines.append(
            f"| {text(row.environment)} | {text(row.target)} | {row.status} | {row.worst or ''}"
            f" | {failing_for(row.failing_since, run.started_at)} | {systems} |"
        )
    healthy = len(rows) - len(failing)
    lines += ["", f"{healthy} other targets have no failing check.", ""]
    return lines


def _finding(finding: Finding, now: str) -> list[str]:
    first = finding.first
    title = text(first.runbook_title or first.runbook or "no runbook entry")
    entry = (
        f"[{text(first.runbook)}]({first.runbook_url})"
        if first.runbook and first.runbook_url
        else code(first.runbook or "")
    )
    where = f"{text(finding.environment)} / {text(finding.target)}"
    heading = f"### {first.severity or 'error'}: {where}, {title}"
    lines = [heading, ""]
    since = age(finding.failing_since, now)
    status = [
        f"Runbook: {entry}" if first.runbook else "",
        "unreachable" if not finding.reachable else "",
    ]
    if finding.change:
        status.append(
            f"{finding.change} failure"
            if since in ("", "0 s")
            else f"{finding.change}, failing for {since}"
        )
    lines += [" · ".join(part for part in status if part), ""]
    for check in finding.checks:
        extra = f" ({check.attempts} attempts)" if check.attempts > 1 else ""
        if check.flapping:
            extra += " (flapping)"
        lines.append(f"- {code(check.id)}: **{text(check.message) or check.outcome}**{extra}")
    lines.append("")
    if finding.blocked:
        lines += [
            f"Not evaluated behind it ({len(finding.blocked)}):"
            f" {', '.join(code(c.id) for c in finding.blocked)}",
            "",
        ]
    steps = [f"{n}. {step(s)}" for n, s in enumerate(finding.remediation, 1)]
    commands = fence(finding.diagnosis, "sh") if finding.diagnosis else []
    if len(steps) > FOLD_STEPS:
        fold = f"What to do ({len(steps)} steps)"
        if commands:
            fold += f" and how to look closer ({len(finding.diagnosis)} commands)"
        lines += [f"First step: {step(finding.remediation[0])}", ""]
        lines += [f"<details><summary>{fold}</summary>", "", *steps, ""]
        lines += (["Look closer:", "", *commands, ""] if commands else []) + ["</details>", ""]
    else:
        if steps:
            lines += ["What to do:", "", *steps, ""]
        if commands:
            lines += ["Look closer:", "", *commands, ""]
    if finding.unfilled:
        keys = ", ".join(code(f"{name}:") for name in finding.unfilled)
        lines += [
            f"Unfilled: {', '.join(code('{' + n + '}') for n in finding.unfilled)}:"
            f" set {keys} under `vars:` in the environment file of {text(finding.environment)}.",
            "",
        ]
    evidence = list(dict.fromkeys(line for check in finding.checks for line in check.evidence))
    if evidence:
        lines += ["Evidence:", "", *fence(evidence), ""]
    return lines
