"""readiness.html as a cron reader sees it, in headless Chromium at desktop and phone width:
what changed first, one row per environment and target, a broken environment file as a
BROKEN row with its problems listed, a trend per environment with dates on its axis, and no
horizontal overflow at either width. The screenshots are left beside the report."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import HEADLESS
from tests.conftest import SuiteRun, write_env
from tests.servers import Endpoint, HttpServer, free_port

CHROMIUM = [*HEADLESS, "--hide-scrollbars"]
WIDTHS = {"desktop": (1280, 1400), "phone": (390, 844)}

# A page beside the report that shows it in a frame of the given width (headless Chromium
# will not lay out a window narrower than 500 px) and writes down where each part of it
# landed and whether anything is wider than the frame. The report itself runs no script.
PROBE = """<!DOCTYPE html><html><body style='margin:0'>
<iframe id='page' src='readiness.html' style='border:0;width:WIDTHpx;height:HEIGHTpx'></iframe>
<script>
document.getElementById('page').addEventListener('load', (event) => {
  const win = event.target.contentWindow, doc = win.document;
  const box = (selector) => {
    const el = doc.querySelector(selector);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return {top: r.top + win.scrollY, left: r.left, right: r.right, height: r.height};
  };
  const wide = [...doc.querySelectorAll('body *')]
    .filter((el) => el.getBoundingClientRect().right > win.innerWidth + 1)
    .map((el) => el.tagName + '.' + el.className).slice(0, 5);
  const out = document.createElement('pre');
  out.id = 'measured';
  out.textContent = JSON.stringify({
    innerWidth: win.innerWidth, scrollWidth: doc.documentElement.scrollWidth, wide,
    changes: box('#changes'), targets: box('#targets'), failures: box('#failures'),
    trend: box('#trend'), broken: box('.problems'),
  });
  document.body.appendChild(out);
});
</script></body></html>"""


@pytest.fixture
def cron_reports(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> Path:
    """Three scheduled runs into one directory: payments healthy, then failing, then healthy
    again while a broken environment file appears beside the good one; search and a
    component of the gateway fail all along."""
    payments = http_server({"/health": Endpoint(200, {"status": "ok"})})
    detailed = {
        "overallStatus": "degraded",
        "checks": [{"name": "a-component-with-a-rather-long-name-that-wraps", "status": "down"}],
    }
    gateway = http_server(
        {"/health": Endpoint(200, {"status": "ok"}), "/d": Endpoint(200, detailed)}
    )
    services = "".join(
        f"    - {{name: svc-{n}, url: '{gateway.url('/health')}'}}\n" for n in range(6)
    )
    env = write_env(
        tmp_path,
        "production",
        f"""
runbook_url: https://runbooks.example.com/platform/with/a/long/path/to/every/entry
vars: {{namespace: shop-production-eu-west-1, context: production-eu-west-1}}
timeout_s: 2
http:
  services:
    - name: payments
      url: {payments.url("/health")}
      expect_json: {{status: ok}}
    - name: gateway
      url: {gateway.url("/health")}
      detailed_url: {gateway.url("/d")}
    - name: search
      url: http://127.0.0.1:{free_port()}/health
      severity: sev2
{services}""",
    )
    broken = write_env(tmp_path, "staging", "timeout_s: -1\nhttp: {services: [{url: x}]}\n")
    reports = tmp_path / "reports"
    for health, files in (
        (Endpoint(200, {"status": "ok"}), [env]),
        (Endpoint(503, {"status": "error"}), [env]),
        (Endpoint(200, {"status": "ok"}), [env, broken]),
    ):
        payments.routes["/health"] = health
        args = [a for path in files for a in ("--env", str(path))]
        run_suite(*args, "--report-dir", str(reports))
    return reports


def _measure(page: Path, width: int, height: int, shot: Path) -> dict[str, Any]:
    probe = page.with_name(f"measure-{width}.html")
    probe.write_text(PROBE.replace("WIDTH", str(width)).replace("HEIGHT", str(height)))
    flags = [*CHROMIUM, f"--window-size={width},{height}"]
    profile = page.parent / f"profile-{width}"
    subprocess.run(
        [*flags, f"--user-data-dir={profile}-shot", f"--screenshot={shot}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    dom = subprocess.run(
        [
            *CHROMIUM,
            "--allow-file-access-from-files",  # the probe reads the framed report's layout
            "--window-size=1400,1000",
            f"--user-data-dir={profile}",
            "--dump-dom",
            probe.as_uri(),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    match = re.search(r"<pre id=\"measured\">(.*?)</pre>", dom, flags=re.S)
    assert match, dom[-2000:]
    measured: dict[str, Any] = json.loads(match[1].replace("&quot;", '"'))
    return measured


def test_the_page_reads_what_changed_first_at_desktop_and_phone_width(cron_reports: Path) -> None:
    page = cron_reports / "readiness.html"
    html = page.read_text()
    assert "<script" not in html.lower()
    # What a cron reader needs, in this order.
    assert html.index("id='changes'") < html.index("id='targets'") < html.index("id='failures'")
    for kind in ("New failures (1)", "Resolved (2)", "Still failing (2)"):
        assert f"<b>{kind}</b>" in html
    assert "<span class='broken'>BROKEN</span>" in html
    problems = re.search(r"<ul class='problems'>(.*?)</ul>", html, flags=re.S)
    assert problems is not None and problems[1].count("<li>") == 3  # one item per problem
    # The trend: one chart per environment that loaded, dates on its axis.
    assert html.count("<div class='trend'>") == 1
    assert len(re.findall(r"<text [^>]*>\d\d-\d\d \d\d:\d\d</text>", html)) >= 2
    for name, (width, height) in WIDTHS.items():
        shot = cron_reports / f"readiness-{name}.png"
        seen = _measure(page, width, height, shot)
        assert shot.read_bytes()[16:20] == width.to_bytes(4, "big")  # the PNG's own width
        assert seen["scrollWidth"] <= seen["innerWidth"], (name, seen)
        assert not seen["wide"], (name, seen["wide"])
        for part in ("changes", "targets", "failures", "trend", "broken"):
            box = seen[part]
            assert box is not None and box["height"] > 0, (name, part)
            assert box["left"] >= 0 and box["right"] <= width, (name, part, box)
        assert seen["changes"]["top"] < seen["targets"]["top"] < seen["failures"]["top"]
