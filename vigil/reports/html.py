"""`readiness.html`: one self-contained page (no external assets, opens with no network).

Order is what an on-call engineer needs: the verdict per environment, then failures grouped by
environment and severity with the remediation open, then the passing checks collapsed, then
the trend of the last runs from the history.
"""

from __future__ import annotations

from html import escape
from itertools import groupby
from typing import Any

from vigil.record import CheckRecord as CheckResult
from vigil.reports.results import RunResults
from vigil.severity import SEVERITIES

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1f23;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:20px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
.meta{color:#555;margin-bottom:16px}
table{border-collapse:collapse;background:#fff;width:100%}td,th{padding:6px 10px;border-bottom:1px solid #e3e5e8;text-align:left}
.ready{color:#126b2b;font-weight:600}.notready{color:#b3261e;font-weight:700}
.failure{background:#fff;border-left:5px solid #b3261e;border-radius:4px;padding:10px 14px;margin:10px 0}
.sev2{border-left-color:#d9480f}.sev3{border-left-color:#e0a800}.sev4{border-left-color:#868e96}
.id{font-family:ui-monospace,Menlo,monospace;font-size:13px;color:#333}
.msg{font-weight:600;margin:6px 0}.badge{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;background:#b3261e;font-size:12px}
.badge.sev2{background:#d9480f}.badge.sev3{background:#b08900}.badge.sev4{background:#868e96}
pre{background:#f1f3f5;padding:8px;overflow-x:auto;font-size:12.5px;margin:6px 0}
ol{margin:6px 0 6px 20px;padding:0}details{background:#fff;padding:8px 12px;margin:8px 0}
.ok{color:#126b2b}.trend rect.bad{fill:#b3261e}.trend rect.good{fill:#2f9e44}
"""


def render_html(run: RunResults, history: list[dict[str, Any]]) -> str:
    failures = run.failures()
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>Readiness {escape(run.started_at)}</title><style>{STYLE}</style></head>",
        "<body><main>",
        "<h1>Readiness report</h1>",
        f"<div class='meta'>Started {escape(run.started_at)}, took {run.duration_s:g} s,"
        f" exit status {run.exit_status}. {_filters(run)}</div>",
        _verdicts(run),
        _notes(run),
        f"<h2 id='failures'>Failures ({len(failures)})</h2>"
        if failures
        else "<h2>No failures</h2>",
    ]
    for environment, by_env in groupby(failures, key=lambda c: c.environment):
        parts.append(f"<h3>{escape(environment)}</h3>")
        for result in by_env:
            parts.append(_failure(result))
    passing = [c for c in run.checks if not c.failing]
    parts.append(
        f"<details id='passing'><summary>Passing and skipped checks ({len(passing)})</summary>"
        "<table><tr><th>check</th><th>outcome</th><th>severity</th><th>runbook</th></tr>"
        + "".join(
            f"<tr><td class='id'>{escape(c.id)}</td><td class='ok'>{escape(c.outcome)}"
            f"{': ' + escape(c.message) if c.message else ''}</td>"
            f"<td>{escape(c.severity or '')}</td><td>{escape(c.runbook or '')}</td></tr>"
            for c in passing
        )
        + "</table></details>"
    )
    parts.append(_trend(history))
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _notes(run: RunResults) -> str:
    noted = sorted({(c.environment, c.target, n) for c in run.checks for n in c.notes})
    items = "".join(f"<li>{escape(e)} / {escape(t)}: {escape(n)}</li>" for e, t, n in noted)
    return f"<div class='notes'><b>Notes</b><ul>{items}</ul></div>" if noted else ""


def _verdicts(run: RunResults) -> str:
    head = "".join(f"<th>{s}</th>" for s in SEVERITIES)
    rows = []
    for env in run.environments:
        verdict = f"<span class='{'ready' if env.ready else 'notready'}'>{env.verdict}</span>"
        cells = "".join(f"<td>{env.failed_by_severity[s] or ''}</td>" for s in SEVERITIES)
        rows.append(
            f"<tr><td>{escape(env.name)}</td><td>{verdict}</td>{cells}"
            f"<td>{env.counts['passed']}</td><td>{env.counts['failed'] + env.counts['error']}</td></tr>"
        )
    return (
        f"<table><tr><th>environment</th><th>verdict</th>{head}<th>passed</th>"
        f"<th>failed</th></tr>{''.join(rows)}</table>"
    )


def _failure(result: CheckResult) -> str:
    severity = escape(result.severity or "sev1")
    runbook = escape(result.runbook or "no runbook entry")
    if result.runbook_url:
        runbook = f"<a href='{escape(result.runbook_url, quote=True)}'>{runbook}</a>"
    title = f", {escape(result.runbook_title)}" if result.runbook_title else ""
    steps = "".join(f"<li>{escape(step)}</li>" for step in result.remediation)
    evidence = (
        f"<div>Evidence:</div><pre>{escape(chr(10).join(result.evidence))}</pre>"
        if result.evidence
        else ""
    )
    return (
        f"<div class='failure {severity}'><span class='badge {severity}'>{severity}</span> "
        f"<span class='id'>{escape(result.id)}</span>"
        f"<div class='msg'>{escape(result.message or result.outcome)}</div>"
        f"<div>Runbook: {runbook}{title}</div>"
        + (f"<div>What to do:</div><ol class='remediation'>{steps}</ol>" if steps else "")
        + evidence
        + "</div>"
    )


def _trend(history: list[dict[str, Any]]) -> str:
    runs = history[-30:]
    if not runs:
        return ""
    worst = max(1, *(r["counts"].get("failed", 0) + r["counts"].get("error", 0) for r in runs))
    bars = []
    for index, run in enumerate(runs):
        failed = run["counts"].get("failed", 0) + run["counts"].get("error", 0)
        height = 4 + 56 * failed / worst
        cls = "bad" if failed else "good"
        bars.append(
            f"<rect class='{cls}' x='{index * 22}' y='{64 - height:.1f}' width='18'"
            f" height='{height:.1f}'><title>{escape(run['time'])}: {failed} failing</title></rect>"
        )
    return (
        f"<h2>Trend (last {len(runs)} runs, failing checks per run)</h2>"
        f"<svg class='trend' width='{len(runs) * 22}' height='66' role='img'>{''.join(bars)}</svg>"
    )


def _filters(run: RunResults) -> str:
    shown = ", ".join(f"{escape(k)} {escape(str(v))}" for k, v in run.filters.items() if v)
    return f"Filters: {shown}." if shown else ""
