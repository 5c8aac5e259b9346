"""`readiness.md`: for pull requests and chat. Verdict per environment, then each failure."""

from __future__ import annotations

from vigil.record import CheckRecord as CheckResult
from vigil.reports.results import RunResults
from vigil.severity import SEVERITIES


def render_markdown(run: RunResults) -> str:
    lines = [
        f"# Readiness report, {run.started_at}",
        "",
        f"Run took {run.duration_s:g} s; exit status {run.exit_status}."
        + (f" Filters: {_filters(run)}." if _filters(run) else ""),
        "",
        "| environment | verdict | " + " | ".join(SEVERITIES) + " | passed | failed | errors |",
        "| --- | --- | " + " | ".join("---:" for _ in SEVERITIES) + " | ---: | ---: | ---: |",
    ]
    for env in run.environments:
        verdict = env.verdict if env.ready else f"**{env.verdict}**"
        severities = " | ".join(str(env.failed_by_severity[s]) for s in SEVERITIES)
        lines.append(
            f"| {env.name} | {verdict} | {severities} | {env.counts['passed']}"
            f" | {env.counts['failed']} | {env.counts['error']} |"
        )
    noted = sorted({(c.environment, c.target, n) for c in run.checks for n in c.notes})
    if noted:
        lines += ["", "Notes:", ""] + [f"- {env} / {target}: {note}" for env, target, note in noted]
    failures = run.failures()
    lines += ["", f"## Failures ({len(failures)})" if failures else "## No failures", ""]
    for result in failures:
        lines += _failure(result)
    return "\n".join(lines).rstrip() + "\n"


def _failure(result: CheckResult) -> list[str]:
    title = result.runbook_title or result.runbook or "no runbook entry"
    runbook = f"[{result.runbook}]({result.runbook_url})" if result.runbook_url else result.runbook
    lines = [
        f"### {result.severity or 'error'}: `{result.id}`",
        "",
        f"**{_inline(result.message) or result.outcome}**",
        "",
    ]
    if result.runbook:
        lines += [f"Runbook: {runbook}, {title}", ""]
    if result.remediation:
        lines += ["What to do:", ""]
        lines += [f"{n}. {_inline(step)}" for n, step in enumerate(result.remediation, 1)]
        lines.append("")
    if result.evidence:
        lines += ["Evidence:", "", "```", *result.evidence, "```", ""]
    return lines


def _inline(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _filters(run: RunResults) -> str:
    return ", ".join(f"{k} {v}" for k, v in run.filters.items() if v)
