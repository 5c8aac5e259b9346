"""`readiness.html`: one self-contained page (inline style, no scripts, no external assets;
it opens with no network), readable from a phone to a desktop.

Order is what an on-call engineer needs: the verdict per environment (a broken environment
file as a BROKEN row with its problems listed), what changed since the last run, one row per
environment and target, then the findings (each runbook entry once per target, its steps,
its diagnosis commands as code, its evidence), the passing checks collapsed, and a trend of
failing checks per environment over the last runs, with dates on its axis.
"""

from __future__ import annotations

from html import escape
from typing import Any

from vigil.record import CheckRecord
from vigil.reports.changes import age, failing_for
from vigil.reports.chart import trends
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
)

STYLE = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1f23;background:#f6f7f9;overflow-wrap:anywhere}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:26px 0 8px}h3{font-size:15px;margin:0 0 6px}
.meta{color:#555;margin-bottom:14px}.partial{background:#fff4d6;border-left:5px solid #e0a800;padding:6px 10px;margin:8px 0}
table{border-collapse:collapse;background:#fff;width:100%}td,th{padding:6px 10px;border-bottom:1px solid #e3e5e8;text-align:left;vertical-align:top}
.ready{color:#126b2b;font-weight:600}.notready,.broken{color:#b3261e;font-weight:700}.partialv,.notchecked{color:#8a6d00;font-weight:700}
.card{background:#fff;border-left:5px solid #b3261e;border-radius:4px;padding:10px 14px;margin:10px 0}
.card.sev2{border-left-color:#d9480f}.card.sev3{border-left-color:#e0a800}.card.sev4{border-left-color:#868e96}
.id,code{font-family:ui-monospace,Menlo,monospace;font-size:12.5px}
.msg{font-weight:600;margin:4px 0}.badge{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;background:#b3261e;font-size:12px}
.badge.sev2{background:#d9480f}.badge.sev3{background:#b08900}.badge.sev4{background:#868e96}.badge.tag{background:#495057}
pre{background:#f1f3f5;padding:8px;font-size:12.5px;margin:6px 0;white-space:pre-wrap;overflow-wrap:anywhere}
.hole{background:#ffe8a3;border-radius:3px;padding:0 2px}
ol{margin:6px 0 6px 20px;padding:0}details{background:#fff;padding:8px 12px;margin:8px 0}summary{cursor:pointer}
.ok{color:#126b2b}.bad{color:#b3261e;font-weight:600}.changes li{margin:3px 0}.hint{color:#555;font-size:13px}
.trend{margin:8px 0 14px}.trend svg{width:100%;height:auto;max-width:760px;background:#fff}
.trend .b{fill:#b3261e}.trend .g{fill:#2f9e44}.trend .p{fill:#adb5bd}.trend text{font-size:10px;fill:#555}
@media (max-width:640px){
 main{padding:10px}
 table.stack thead{display:none}
 table.stack tr{display:block;border-bottom:1px solid #d0d4d9;padding:4px 0}
 table.stack td{display:block;border:0;padding:2px 8px}
 table.stack td[data-label]::before{content:attr(data-label) ": ";color:#666}
}
"""


def render_html(run: RunResults, history: list[dict[str, Any]]) -> str:
    found = findings(run)
    rows = target_rows(run)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>Readiness {escape(run.started_at)}</title><style>{STYLE}</style></head>",
        "<body><main>",
        "<h1>Readiness report</h1>",
        f"<div class='meta'>Started {escape(run.started_at)}, took {run.duration_s:g} s,"
        f" exit status {run.exit_status}. {_filters(run)}</div>",
        _partial(run),
        _verdicts(run),
        _notes(run),
        _notifications(run),
        _expired(run),
        _changes(run),
        _targets(rows, run),
        trends(run, history),
        f"<h2 id='failures'>Failures: {sum(len(f.checks) for f in found)} checks,"
        f" {len(found)} findings</h2>"
        if found
        else "<h2 id='failures'>No failures</h2>",
        *(_finding(finding, run.started_at) for finding in found),
        _silenced(run),
        _passing(run),
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _filters(run: RunResults) -> str:
    shown = "; ".join(
        f"{escape(k.replace('_', ' '))} {escape(str(v))}" for k, v in run.filters.items() if v
    )
    return f"Selected: {shown}." if shown else ""


def _partial(run: RunResults) -> str:
    if not run.partial:
        return ""
    return (
        "<div class='partial' id='partial'><b>Partial run</b>"
        f" ({escape('; '.join(run.partial_reasons))}): no environment is declared READY.</div>"
    )


_VERDICT_CLASS = {
    "READY": "ready",
    "NOT READY": "notready",
    "PARTIAL": "partialv",
    "NOT CHECKED": "notchecked",
    "BROKEN": "broken",
}


def _verdicts(run: RunResults) -> str:
    rows = []
    for env in run.environments:
        verdict = f"<span class='{_VERDICT_CLASS[env.verdict]}'>{env.verdict}</span>"
        if env.problems:
            problems = "".join(f"<li>{escape(p)}</li>" for p in env.problems)
            detail = (
                f"<code>{escape(env.source or '')}</code> could not be loaded:"
                f"<ul class='problems'>{problems}</ul>"
            )
        else:
            failing = (
                ", ".join(f"{n} {s}" for s, n in env.failed_by_severity.items() if n) or "none"
            )
            if env.unranked:
                failing += f", {env.unranked} without a severity"
            if env.blocked:
                failing += f"; not evaluated behind unreachable targets: {env.blocked}"
            if env.silenced:
                failing += f"; silenced: {env.silenced}"
            detail = f"failing: {escape(failing)}; passed: {env.counts['passed']}"
            if env.counts["skipped"]:
                detail += f"; skipped: {env.counts['skipped']}"
        rows.append(
            f"<tr><td data-label='environment'>{escape(env.name)}</td>"
            f"<td data-label='verdict'>{verdict}</td><td data-label='checks'>{detail}</td></tr>"
        )
    return (
        "<table class='stack verdicts'><thead><tr><th>environment</th><th>verdict</th>"
        f"<th>checks</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _notes(run: RunResults) -> str:
    noted = sorted({(c.environment, c.target, n) for c in run.checks for n in c.notes})
    items = "".join(f"<li>{escape(e)} / {escape(t)}: {escape(n)}</li>" for e, t, n in noted)
    return f"<div class='notes'><b>Notes</b><ul>{items}</ul></div>" if noted else ""


def _notifications(run: RunResults) -> str:
    if not run.notify:
        return ""
    items = "".join(
        f"<li>{escape(n['environment'])} {escape(n['notifier'])}: "
        + (
            f"<span class='bad'>{escape(n['status'])}</span>"
            if n["status"] == "failed"
            else escape(n["status"])
        )
        + f" ({escape(n['detail'])})</li>"
        for n in run.notify
    )
    return f"<div class='notify'><b>Notifications</b><ul>{items}</ul></div>"


def _expired(run: RunResults) -> str:
    if not run.expired_silences:
        return ""
    items = "".join(
        f"<li>{escape(s['environment'])}: <code>{escape(s['match'])}</code> until"
        f" {escape(s['until'])}: {escape(s['reason'])}</li>"
        for s in run.expired_silences
    )
    return (
        "<div class='partial expired'><b>Expired silences</b> (they silence nothing now:"
        f" remove or renew them)<ul>{items}</ul></div>"
    )


def _silenced(run: RunResults) -> str:
    quiet = silenced(run)
    if not quiet:
        return ""
    items = "".join(
        f"<li><span class='id'>{escape(c.id)}</span>: {escape(c.message.split(chr(10))[0])}"
        f" <span class='hint'>(silenced until {escape((c.silenced or {}).get('until', ''))}:"
        f" {escape((c.silenced or {}).get('reason', ''))})</span></li>"
        for c in quiet
    )
    return (
        f"<h2 id='silenced'>Silenced: {len(quiet)} failing checks</h2>"
        f"<ul class='silenced'>{items}</ul>"
    )


SHOWN_CHANGES = 10  # per kind of change; the rest are folded

_CHANGE_TITLES = {
    "new": "New failures",
    "resolved": "Resolved",
    "still": "Still failing",
    "flapping": "Flapping (changed 4+ times in the last 10 runs)",
    "flaky": "Passed only on a retry",
}


def _changes(run: RunResults) -> str:
    kinds = changed(run)
    head = "<h2 id='changes'>What changed since the last run"
    if run.previous_run is None:
        parts = [
            f"{head}</h2><p>No earlier run in this report directory: every failure is new.</p>"
        ]
        kinds = {kind: kinds[kind] for kind in ("flapping", "flaky")}
    elif not any(kinds.values()):
        return f"{head} ({escape(run.previous_run)})</h2><p>Nothing changed.</p>"
    else:
        parts = [f"{head} ({escape(run.previous_run)})</h2>"]
    for kind, checks in kinds.items():
        if not checks:
            continue
        items = [f"<li>{_change(kind, c, run.started_at)}</li>" for c in checks]
        shown, folded = items[:SHOWN_CHANGES], items[SHOWN_CHANGES:]
        more = (
            f"<details><summary>and {len(folded)} more</summary>"
            f"<ul>{''.join(folded)}</ul></details>"
            if folded
            else ""
        )
        parts.append(
            f"<div class='changes {kind}'><b>{_CHANGE_TITLES[kind]} ({len(checks)})</b>"
            f"<ul>{''.join(shown)}</ul>{more}</div>"
        )
    return "".join(parts)


def _change(kind: str, check: CheckRecord, now: str) -> str:
    place = f"{check.environment} / {check.target}" if check.target else check.environment
    where = f"{escape(place)} <span class='id'>{escape(check.check)}</span>"
    badge = _badge(check.severity) if kind in ("new", "still") else ""
    if kind == "still":
        return f"{badge}{where}: failing for {escape(age(check.failing_since, now))}"
    if kind == "resolved":
        return f"{where} passes again"
    if kind == "flaky":
        return f"{where} passed on attempt {check.attempts}"
    return f"{badge}{where}: {escape(check.message.split(chr(10))[0])}"


def _badge(severity: object) -> str:
    return (
        f"<span class='badge {escape(str(severity))}'>{escape(str(severity))}</span> "
        if severity
        else ""
    )


def _targets(rows: list[TargetRow], run: RunResults) -> str:
    """One row per environment and target; the ones with no failing check folded."""
    if not rows:
        return ""
    head = (
        "<table class='stack targets'><thead><tr><th>environment</th><th>target</th>"
        "<th>status</th><th>worst</th><th>failing for</th><th>systems</th></tr></thead><tbody>"
    )
    failing = [_target_row(row, run) for row in rows if row.failing]
    healthy = [_target_row(row, run) for row in rows if not row.failing]
    parts = ["<h2 id='targets'>Targets</h2>"]
    if failing:
        parts.append(f"{head}{''.join(failing)}</tbody></table>")
    if healthy:
        table = f"{head}{''.join(healthy)}</tbody></table>"
        parts.append(
            f"<details><summary>{len(healthy)} targets with no failing check</summary>"
            f"{table}</details>"
            if failing
            else table
        )
    return "".join(parts)


def _target_row(row: TargetRow, run: RunResults) -> str:
    systems = ", ".join(
        f"<span class='bad'>{escape(name)} {bad}/{total}</span>"
        if bad
        else f"<span class='ok'>{escape(name)} ok</span>"
        for name, bad, total in row.systems()
    )
    return (
        f"<tr><td data-label='environment'>{escape(row.environment)}</td>"
        f"<td data-label='target'><b>{escape(row.target)}</b></td>"
        f"<td data-label='status' class='{'bad' if row.failing else 'ok'}'>{row.status}</td>"
        f"<td data-label='worst'>{escape(str(row.worst or ''))}</td>"
        f"<td data-label='failing for'>{escape(failing_for(row.failing_since, run.started_at))}</td>"
        f"<td data-label='systems'>{systems}</td></tr>"
    )


def _holes(text: str) -> str:
    return "".join(
        f"<span class='hole' title='not filled: set {escape(piece[1:-1])}: under vars:'>"
        f"{escape(piece)}</span>"
        if hole
        else escape(piece)
        for piece, hole in split_placeholders(text)
    )


def _step(text: str) -> str:
    """A step of prose with its commands as code and its unfilled placeholders marked."""
    return "".join(
        f"<code>{_holes(piece)}</code>" if command else _holes(piece)
        for piece, command in split_commands(text)
    )


def _finding(finding: Finding, now: str) -> str:
    first = finding.first
    severity = escape(str(first.severity or "sev1"))
    runbook = escape(first.runbook or "no runbook entry")
    if first.runbook_url:
        runbook = f"<a href='{escape(first.runbook_url, quote=True)}'>{runbook}</a>"
    title = f", {escape(first.runbook_title)}" if first.runbook_title else ""
    tags = []
    if not finding.reachable:
        tags.append("unreachable")
    if finding.change:
        since = age(finding.failing_since, now)
        tags.append(
            f"{finding.change}" + (f", failing for {since}" if since not in ("", "0 s") else "")
        )
    checks = "".join(
        f"<li><span class='id'>{escape(c.id)}</span>"
        f"<div class='msg'>{escape(c.message or c.outcome)}</div>"
        + (f"<span class='badge tag'>{c.attempts} attempts</span>" if c.attempts > 1 else "")
        + ("<span class='badge tag'>flapping</span>" if c.flapping else "")
        + "</li>"
        for c in finding.checks
    )
    steps = "".join(f"<li>{_step(step)}</li>" for step in finding.remediation)
    parts = [
        f"<div class='card {severity}'><h3>{_badge(first.severity)}{escape(finding.environment)}"
        f" / {escape(finding.target)}{title}</h3>",
        f"<div>Runbook: {runbook}"
        + "".join(f" <span class='badge tag'>{escape(tag)}</span>" for tag in tags)
        + "</div>",
        f"<ul class='checks'>{checks}</ul>",
    ]
    if finding.blocked:
        names = ", ".join(f"<span class='id'>{escape(c.id)}</span>" for c in finding.blocked)
        parts.append(
            f"<div class='blocked'>Not evaluated behind it ({len(finding.blocked)}): {names}</div>"
        )
    if steps:
        parts.append(f"<div>What to do:</div><ol class='remediation'>{steps}</ol>")
    if finding.diagnosis:
        commands = "\n".join(_holes(command) for command in finding.diagnosis)
        parts.append(f"<div>Look closer:</div><pre class='diagnosis'><code>{commands}</code></pre>")
    if finding.unfilled:
        names = ", ".join(f"<code>{escape(n)}:</code>" for n in finding.unfilled)
        parts.append(
            f"<div class='hint'>Highlighted placeholders are not filled: set {names} under"
            f" <code>vars:</code> in the environment file of {escape(finding.environment)}.</div>"
        )
    evidence = list(dict.fromkeys(line for check in finding.checks for line in check.evidence))
    if evidence:
        parts.append(
            f"<div>Evidence:</div><pre class='evidence'>{escape(chr(10).join(evidence))}</pre>"
        )
    parts.append("</div>")
    return "".join(parts)


def _passing(run: RunResults) -> str:
    passing = [c for c in run.checks if not c.failing]
    if not passing:
        return ""
    rows = "".join(_passing_row(c) for c in passing)
    return (
        f"<details id='passing'><summary>Passing and skipped checks ({len(passing)})</summary>"
        "<table class='stack'><thead><tr><th>check</th><th>outcome</th><th>severity</th>"
        f"<th>runbook</th></tr></thead><tbody>{rows}</tbody></table></details>"
    )


def _passing_row(check: CheckRecord) -> str:
    outcome = f"flaky: passed on attempt {check.attempts}" if check.flaky else str(check.outcome)
    if check.message:
        outcome += f": {check.message}"
    return (
        f"<tr><td data-label='check' class='id'>{escape(check.id)}</td>"
        f"<td data-label='outcome' class='ok'>{escape(outcome)}</td>"
        f"<td data-label='severity'>{escape(check.severity or '')}</td>"
        f"<td data-label='runbook'>{escape(check.runbook or '')}</td></tr>"
    )
