"""The trend in readiness.html: per environment, an inline SVG bar chart of its failing checks
in its last 30 runs (from the history), the count on the left axis and the run dates below.
No script: each bar's exact time and count are in its <title>."""

from __future__ import annotations

from html import escape
from typing import Any

from vigil.reports.results import RunResults
from vigil.reports.view import TrendPoint, trend


def trends(run: RunResults, history: list[dict[str, Any]]) -> str:
    charts = [
        _chart(env.name, trend(history, env.name)) for env in run.environments if not env.problems
    ]
    charts = [chart for chart in charts if chart]
    if not charts:
        return ""
    # A few environments' charts are shown; a fleet's would push the findings far down.
    return (
        f"<details id='trend'{' open' if len(charts) <= OPEN_CHARTS else ''}>"
        "<summary><b>Failing checks, last 30 runs</b></summary>" + "".join(charts) + "</details>"
    )


WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 600, 120, 34, 22, 8
OPEN_CHARTS = 4


def _chart(name: str, points: list[TrendPoint]) -> str:
    """An inline SVG bar chart: one bar per run (red failing, green ready, grey partial),
    the count on the left axis, the run dates below."""
    if not points:
        return ""
    worst = max(1, *(p.failing for p in points))
    slot = (WIDTH - LEFT) / max(len(points), 30)
    plot = HEIGHT - BOTTOM - TOP
    bars = []
    for index, point in enumerate(points):
        height = max(2.0, plot * point.failing / worst)
        kind = "p" if point.partial else ("b" if point.failing else "g")
        x = LEFT + index * slot
        label = f"{point.time}: {point.failing} failing, {point.verdict or 'not run'}"
        bars.append(
            f"<rect class='{kind}' x='{x:.1f}' y='{TOP + plot - height:.1f}'"
            f" width='{slot * 0.75:.1f}' height='{height:.1f}'>"
            f"<title>{escape(label)}</title></rect>"
        )
    ticks = sorted({0, len(points) // 2, len(points) - 1})
    dates = "".join(
        f"<text x='{LEFT + i * slot:.1f}' y='{HEIGHT - 6}'>"
        f"{escape(_short_time(points[i].time))}</text>"
        for i in ticks
    )
    axis = (
        f"<text x='2' y='{TOP + 8}'>{worst}</text><text x='2' y='{TOP + plot}'>0</text>"
        f"<line x1='{LEFT - 3}' y1='{TOP}' x2='{LEFT - 3}' y2='{TOP + plot}' stroke='#999'/>"
        f"<line x1='{LEFT - 3}' y1='{TOP + plot}' x2='{WIDTH}' y2='{TOP + plot}' stroke='#999'/>"
    )
    return (
        f"<div class='trend'><h3>{escape(name)}</h3>"
        f"<svg viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label='failing checks per run in"
        f" {escape(name, quote=True)}'>{axis}{''.join(bars)}{dates}</svg>"
        "<div class='hint'>red: failing checks in a run; green: ready; grey: a partial run (times"
        " in UTC)</div></div>"
    )


def _short_time(iso: str) -> str:
    """'2026-11-27T08:44:17+00:00' -> '11-27 08:44'."""
    return f"{iso[5:10]} {iso[11:16]}" if len(iso) >= 16 else iso
