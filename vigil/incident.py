"""`vigil incident`: the incident hand-off, written from what the last run already knows.

`incident.md` follows the incident document template of the source runbooks (title,
severity, start, status, timeline, impact, root cause, resolution, action items) and fills
what a run knows: the severity is the worst failing, the start the earliest `failing_since`,
the affected services and targets, the symptoms with their numbers, the first remediation
steps per runbook entry, the links; the timeline starts with what Vigil saw and leaves the
rest to fill. Then a first message for the incident channel and a first status-page update
(Investigating), each fenced, ready to paste.

`vigil incident --resolved` writes `incident-resolved.md` once the last run passes: the time
to recover (from the first failing run of the last streak to the first run that passed, read
from history.jsonl), the resolution message and the status-page update (Resolved).

Everything is read from the report directory (`results.json`, `history.jsonl`), whose text
is already masked and inert; it is escaped here for Markdown.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from vigil.reports.changes import age, split_id
from vigil.reports.history import read_history
from vigil.reports.markdown import code, fence, text

FIRST_STEPS = 3  # per runbook entry
SEVERITY_RANK = {"sev1": 1, "sev2": 2, "sev3": 3, "sev4": 4}


def add_command(commands: Any) -> None:
    """`vigil incident [--report-dir DIR] [--env NAME] [--resolved]`."""
    incident = commands.add_parser(
        "incident", help="write incident.md (or the resolved update) from the last run"
    )
    incident.add_argument("--report-dir", default="reports", metavar="DIR")
    incident.add_argument("--env", default=None, metavar="NAME", help="one environment only")
    incident.add_argument(
        "--resolved", action="store_true", help="the resolved update, with the time to recover"
    )
    incident.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    directory = Path(args.report_dir)
    try:
        results = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"vigil: no readable results.json in {directory} ({exc}): run the suite first")
        return 2
    history = read_history(directory / "history.jsonl")
    if args.resolved:
        path, document = directory / "incident-resolved.md", resolved(results, history, args.env)
    else:
        path, document = directory / "incident.md", opened(results, args.env, directory)
    if document is None:
        return 1
    path.write_text(document, encoding="utf-8")
    print(document)
    print(f"wrote {path}")
    return 0


# --- reading results.json --------------------------------------------------------------------


def failing(results: dict[str, Any], environment: str | None) -> list[dict[str, Any]]:
    """The failures that count: failed or error, not silenced, of `environment` if given."""
    return [
        c
        for c in results.get("checks", [])
        if c.get("outcome") in ("failed", "error")
        and not c.get("silenced")
        and (environment is None or c.get("environment") == environment)
    ]


def _rank(check: dict[str, Any]) -> int:
    return SEVERITY_RANK.get(str(check.get("severity")), 0)  # no severity: a broken file, first


def _clock(moment: str | None) -> str:
    """`2026-11-22T06:33:10+00:00` -> `2026-11-22 06:33 UTC`."""
    if not moment:
        return "unknown"
    try:
        return datetime.fromisoformat(moment).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return moment


def _target(check: dict[str, Any]) -> str:
    return str(check.get("target") or check.get("environment") or "").split("/", 1)[0]


def _services(roots: list[dict[str, Any]]) -> list[str]:
    """What users know by name: the HTTP services among the affected targets."""
    return list(dict.fromkeys(_target(c) for c in roots if c.get("system") == "http"))


# --- the incident document ------------------------------------------------------------------


def opened(results: dict[str, Any], environment: str | None, directory: Path) -> str | None:
    """incident.md for the last run's failures; None (after saying why) when nothing fails."""
    found = failing(results, environment)
    if not found:
        where = f" in {environment}" if environment else ""
        print(f"vigil: nothing fails{where} in the last run ({results.get('started_at')}):"
              " no incident to open (after one, use --resolved)")  # fmt: skip
        return None
    roots = sorted((c for c in found if not c.get("blocked_by")), key=lambda c: (_rank(c), c["id"]))
    behind = {c["blocked_by"]: 0 for c in found if c.get("blocked_by")}
    for check in found:
        if check.get("blocked_by"):
            behind[check["blocked_by"]] += 1
    worst = roots[0]
    severity = str(worst.get("severity") or "sev1").upper()
    start = min((c["failing_since"] for c in found if c.get("failing_since")), default=None)
    now = str(results.get("started_at") or "")
    environments = sorted({str(c.get("environment")) for c in roots})
    targets = list(dict.fromkeys(_target(c) for c in roots))
    title = f"{worst.get('runbook_title') or worst['check']}: {', '.join(targets[:4])}" + (
        f" and {len(targets) - 4} more" if len(targets) > 4 else ""
    )
    title += f" ({', '.join(environments)})"
    lines = [
        f"# Incident: {text(title)}",
        "",
        f"**Severity:** {severity}  ",
        f"**Started:** {_clock(start)} (failing for {age(start, now) or 'unknown'})  ",
        "**Status:** Investigating  ",
        f"**Detected by:** Vigil, run of {_clock(now)}",
        "",
        "## Timeline",
        "",
        f"- {_clock(start)[11:]} - first failing run: {text(worst['id'])}",
        f"- {_clock(now)[11:]} - Vigil: {len(roots)} symptoms on {len(targets)} targets",
        "- HH:MM - ",
        "",
        "## Impact",
        "",
        *_impact(roots, now),
        "",
        "## Symptoms observed",
        "",
        *_symptoms(roots, behind, now),
        "",
        "## First steps",
        "",
        *_first_steps(roots),
        "## Links",
        "",
        *_links(roots, directory),
        "",
        "## Root Cause",
        "",
        "To be determined.",
        "",
        "## Resolution",
        "",
        "[Steps taken]",
        "",
        "## Action Items",
        "",
        "- [ ] ",
        "",
        "## First internal message (paste in the incident channel)",
        "",
        *fence(_internal(severity, title, environments, start, now, roots, behind)),
        "",
        "## First status-page update (Investigating)",
        "",
        *fence(_investigating(roots, now)),
    ]
    return "\n".join(lines) + "\n"


def _impact(roots: list[dict[str, Any]], now: str) -> list[str]:
    by_target: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for check in roots:
        by_target.setdefault((str(check.get("environment")), _target(check)), []).append(check)
    lines = []
    for (environment, target), checks in by_target.items():
        systems = ", ".join(dict.fromkeys(str(c.get("system") or "?") for c in checks))
        worst = min(checks, key=_rank)
        since = min((c["failing_since"] for c in checks if c.get("failing_since")), default=None)
        state = "unreachable" if any(c.get("reachable") is False for c in checks) else "failing"
        lines.append(
            f"- {text(target)} ({text(environment)}, {text(systems)}): {state},"
            f" worst {worst.get('severity') or 'error'}, failing for {age(since, now) or '?'}"
        )
    return lines


def _symptoms(roots: list[dict[str, Any]], behind: dict[str, int], now: str) -> list[str]:
    lines = []
    for check in roots:
        message = str(check.get("message") or check.get("outcome")).split("\n")[0]
        extra = (
            f"; {behind[check['id']]} other checks not evaluated behind it"
            if behind.get(check["id"])
            else ""
        )
        since = age(check.get("failing_since"), now)
        lines.append(
            f"- {check.get('severity') or 'error'} {text(_target(check))} {code(check['check'])}:"
            f" {text(message)} (failing for {since or '?'}{extra})"
        )
    return lines


def _first_steps(roots: list[dict[str, Any]]) -> list[str]:
    by_entry: dict[str, list[dict[str, Any]]] = {}
    for check in roots:
        by_entry.setdefault(str(check.get("runbook") or check["id"]), []).append(check)
    lines = []
    for entry, checks in by_entry.items():
        first = checks[0]
        targets = ", ".join(dict.fromkeys(_target(c) for c in checks))
        heading = f"### {text(entry)}: {text(first.get('runbook_title') or '')} ({targets})"
        lines += [heading, ""]
        steps = list(first.get("remediation") or [])[:FIRST_STEPS]
        lines += [f"{n}. {text(step)}" for n, step in enumerate(steps, 1)]
        more = len(first.get("remediation") or []) - len(steps)
        if more > 0:
            lines.append(f"\n({more} more steps in the runbook entry and in readiness.md)")
        lines.append("")
    return lines


def _links(roots: list[dict[str, Any]], directory: Path) -> list[str]:
    urls = dict.fromkeys(
        (str(c["runbook"]), str(c["runbook_url"])) for c in roots if c.get("runbook_url")
    )
    lines = [f"- Runbook {text(entry)}: {url}" for entry, url in urls]
    lines.append(f"- Readiness report: {directory / 'readiness.html'}")
    return lines


def _internal(
    severity: str,
    title: str,
    environments: list[str],
    start: str | None,
    now: str,
    roots: list[dict[str, Any]],
    behind: dict[str, int],
) -> list[str]:
    symptoms = [
        f"- {c.get('severity') or 'error'} {_target(c)} {c['check']}:"
        f" {str(c.get('message') or '').split(chr(10))[0]}"
        for c in roots[:5]
    ]
    if len(roots) > 5:
        symptoms.append(f"- and {len(roots) - 5} more")
    blocked = sum(behind.values())
    steps = roots[0].get("remediation") or []
    return [
        f"@channel {severity} incident: {title}",
        "Status: Investigating",
        f"Environment: {', '.join(environments)}",
        f"Started: {_clock(start)} (failing for {age(start, now) or '?'})",
        f"Impact: {', '.join(dict.fromkeys(_target(c) for c in roots))}"
        + (f" ({blocked} more checks not evaluated behind unreachable targets)" if blocked else ""),
        "Symptoms:",
        *symptoms,
        f"First step: {steps[0] if steps else 'see the runbook'}",
        "Lead: @<incident commander>",
        "Next update in 15 minutes.",
    ]


def _investigating(roots: list[dict[str, Any]], now: str) -> list[str]:
    services = _services(roots)
    affected = ", ".join(services) if services else "some of our services"
    return [
        f"**Investigating** ({_clock(now)[11:]})",
        f"We are investigating problems affecting {affected}. Some users may experience"
        " errors or slow responses. We will provide an update in 15 minutes.",
    ]


# --- the resolved update -------------------------------------------------------------------


def resolved(
    results: dict[str, Any], history: list[dict[str, Any]], environment: str | None
) -> str | None:
    """The resolved update once the last run passes; None (after saying why) otherwise."""
    still = failing(results, environment)
    if still:
        example = still[0]["id"]
        print(f"vigil: {len(still)} checks still fail in the last run"
              f" ({results.get('started_at')}), e.g. {example}: not resolved yet")  # fmt: skip
        return None
    # A silenced failure goes on failing in the history; it is no part of the incident.
    quiet = {str(c["id"]) for c in results.get("checks", []) if c.get("silenced")}
    streak = _last_streak(history, environment, quiet)
    if streak is None:
        print("vigil: no failing run in history.jsonl: nothing to resolve")
        return None
    started, recovered, ids = streak
    duration = age(started, recovered)
    targets = list(dict.fromkeys(split_id(i)[1].split("/", 1)[-1].split("/")[0] for i in ids))
    where = environment or ", ".join(sorted({split_id(i)[1].split("/", 1)[0] for i in ids}))
    lines = [
        f"# Incident resolved: {text(', '.join(targets[:4]))} ({text(where)})",
        "",
        "**Status:** Resolved  ",
        f"**Started:** {_clock(started)}  ",
        f"**Recovered:** {_clock(recovered)} (first run with every check passing)  ",
        f"**Time to recover:** {duration}",
        "",
        f"Checks that failed ({len(ids)}): {', '.join(code(i) for i in ids[:20])}"
        + (f" and {len(ids) - 20} more" if len(ids) > 20 else ""),
        "",
        "## Resolution message (paste in the incident channel)",
        "",
        *fence(
            [
                f"Incident resolved: {', '.join(targets)} ({where})",
                f"Resolution time: {_clock(recovered)}",
                f"Duration: {duration}",
                "Verified: every selected Vigil check passes again.",
                "Post-mortem: <date>",
            ]
        ),
        "",
        "## Status-page update (Resolved)",
        "",
        *fence(
            [
                f"**Resolved** ({_clock(recovered)[11:]})",
                "The issue has been resolved and all services are operating normally. We will"
                " conduct a post-mortem to prevent future occurrences.",
            ]
        ),
    ]
    return "\n".join(lines) + "\n"


def _failed_in(line: dict[str, Any], environment: str | None, quiet: set[str]) -> list[str]:
    ids = [str(i) for i in line.get("failed", []) if str(i) not in quiet]
    if environment is None:
        return ids
    return [
        i
        for i in ids
        if split_id(i)[1].split("/", 1)[0] == environment or i.endswith(f"[{environment}]")
    ]


def _last_streak(
    history: list[dict[str, Any]], environment: str | None, quiet: set[str]
) -> tuple[str, str, list[str]] | None:
    """(first failing run, first passing run after it, ids that failed) of the last streak
    of runs with failures, or None when no run failed."""
    runs = [
        line
        for line in history
        if environment is None or environment in line.get("environments", [])
    ]
    end = next(
        (i for i in range(len(runs) - 1, -1, -1) if _failed_in(runs[i], environment, quiet)), None
    )
    if end is None or end + 1 >= len(runs):
        return None
    start = end
    while start > 0 and _failed_in(runs[start - 1], environment, quiet):
        start -= 1
    ids = list(
        dict.fromkeys(
            i for line in runs[start : end + 1] for i in _failed_in(line, environment, quiet)
        )
    )
    return str(runs[start].get("time")), str(runs[end + 1].get("time")), ids
