"""Text from targets is inert in every output (issue 11, item 5).

Real servers on 127.0.0.1 send what a hostile or broken system could: ESC sequences that
clear the screen (`ESC[2J`) or retitle the window (`ESC]0;`), `<script>`, newlines and code
fences in a health body, in component names, in a status page's incident and component
names, in a Kubernetes pod's name, its container's message and its events; an environment
file names a target with a newline in it. Every output is read back: the terminal,
readiness.md (rendered by a CommonMark renderer), readiness.html (parsed), results.json,
history.jsonl, the JUnit XML and the Allure results. None carries a control character; the
Markdown renders no forged heading, list item, fence or script; the HTML holds no script.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import ROOT, SuiteRun, write_env
from tests.servers import Endpoint, HttpServer
from vigil.kube_standin import KubeStandIn
from vigil.sandbox.kube_builders import event, owner, pod, waiting
from vigil.sandbox.status_page import StatusPageServer, summary_document

CLEAR, TITLE, BELL = "\x1b[2J", "\x1b]0;pwned", "\x07"
ESCAPES = f"{CLEAR}{TITLE}{BELL}"
SCRIPT = "<script>alert(1)</script>"
FORGE = "\n```\n# FORGED heading\n1. FORGED step\n"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MARKDOWN_IT = ROOT / ".tools" / "node_modules" / ".bin" / "markdown-it"


def hostile(label: str) -> str:
    return f"{label} {ESCAPES}{SCRIPT}{FORGE}{label} end"


@pytest.fixture
def status_page() -> Iterator[StatusPageServer]:
    components = {hostile("component"): "major_outage"}
    incident = (hostile("incident"), hostile("update"), [hostile("component")])
    server = StatusPageServer({"provider": summary_document("provider", components, [incident])})
    yield server
    server.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Path]:
    now = datetime.now(UTC)
    name = f"payments-{TITLE}{BELL}-x"
    crashing = pod(
        name,
        "payments",
        owner("ReplicaSet", "payments-1"),
        now,
        30,
        containers=[waiting("payments", now, "CrashLoopBackOff", hostile("container"), 6)],
        ready=False,
    )
    events = [event(crashing, "BackOff", hostile("event"), now, 1, count=9)]
    server = KubeStandIn([crashing, *events])
    yield server.write_kubeconfig(tmp_path / "kubeconfig", "hostile")
    server.close()


@pytest.fixture
def hostile_run(
    run_suite: Callable[..., SuiteRun],
    http_server: Callable[..., HttpServer],
    status_page: StatusPageServer,
    cluster: Path,
    tmp_path: Path,
) -> tuple[SuiteRun, Path]:
    body = hostile("body").encode()
    components = {
        "overallStatus": "degraded",
        "checks": [{"name": hostile("cache"), "status": "down"}],
    }
    service = http_server(
        {
            "/health": Endpoint(503, body, content_type="text/plain"),
            "/detailed": Endpoint(200, components),
        }
    )
    env = write_env(
        tmp_path,
        "hostile",
        f"""
timeout_s: 4
vars: {{namespace: platform, context: hostile}}
http:
  services:
    - name: "evil\\n2. FORGED step"
      url: {service.url("/health")}
      expect_json: {{status: ok}}
      detailed_url: {service.url("/detailed")}
status_pages:
  - name: provider
    url: {status_page.url("provider")}
kubernetes:
  kubeconfig: {cluster}
  context: hostile
  namespaces: [platform]
""",
    )
    allure = tmp_path / "allure-results"
    run = run_suite("--env", str(env), f"--alluredir={allure}")
    return run, allure


def test_no_output_carries_a_control_character(hostile_run: tuple[SuiteRun, Path]) -> None:
    run, allure = hostile_run
    assert run.returncode == 1, run.output
    failed = run.failed()
    for expected in (
        "test_health_endpoint[hostile/evil\\n2. FORGED step]",
        "test_components_healthy[hostile/evil\\n2. FORGED step]",
        "test_provider_operational[hostile/provider]",
        "test_no_crash_looping_pods[hostile/platform]",
        "test_no_recent_warning_events[hostile/platform]",
    ):
        assert expected in failed, (expected, failed)
    outputs = {"terminal": run.output}
    for path in [*run.report_dir.iterdir(), run.junit_path, *allure.iterdir()]:
        assert path is not None
        outputs[path.name] = path.read_text(errors="strict")
    for name, text in outputs.items():
        assert not CONTROL.search(text), (name, CONTROL.findall(text)[:5])
        # JSON and XML writers would escape a control character rather than drop it.
        assert "\\u001b" not in text and "\\u0007" not in text and "#x1B" not in text, name
    # What the ESC sequences were is still there for a person to read, shown as text.
    assert "\\x1b[2J" in outputs["readiness.md"] and "\\x1b]0;pwned\\x07" in outputs["terminal"]
    assert "\\\\x1b[2J" in outputs["results.json"]


def test_the_terminal_shows_target_text_on_its_own_lines_only(
    hostile_run: tuple[SuiteRun, Path],
) -> None:
    run, _ = hostile_run
    for line in run.output.splitlines():
        assert not line.lstrip().startswith(("# FORGED", "1. FORGED", "2. FORGED", "```")), line
    assert "cache \\x1b[2J" in run.output  # a component's name, escaped, in the message
    assert "Declare an incident for evil 2. FORGED step in hostile" in run.output


class Elements(HTMLParser):
    """Every element of an HTML document with the text directly inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)
        self.found.append((tag, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self.open and self.found:
            tag, text = self.found[-1]
            self.found[-1] = (tag, text + data)


def _elements(html: str) -> list[tuple[str, str]]:
    parser = Elements()
    parser.feed(html)
    return parser.found


def test_markdown_renders_no_forged_heading_step_fence_or_script(
    hostile_run: tuple[SuiteRun, Path],
) -> None:
    run, _ = hostile_run
    markdown = (run.report_dir / "readiness.md").read_text()
    rendered = subprocess.run(
        [str(MARKDOWN_IT)],
        input=markdown,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    elements = _elements(rendered)
    tags = {tag for tag, _ in elements}
    assert "script" not in tags and "<script" not in rendered
    for tag, text in elements:
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6", "li"):
            assert not text.strip().startswith("FORGED"), (tag, text)
    # Each finding is one heading: nothing a target sent opened another one.
    findings = json.loads((run.report_dir / "results.json").read_text())["checks"]
    groups = {(c["target"], c["runbook"]) for c in findings if c["outcome"] == "failed"}
    assert sum(1 for tag, _ in elements if tag == "h3") == len(groups)
    # The hostile body, fenced, came through whole: every forged line inside one code block.
    codes = [text for tag, text in elements if tag == "code"]
    assert any("# FORGED heading" in text and "```" in text for text in codes)


def test_html_holds_no_script_and_shows_the_text(hostile_run: tuple[SuiteRun, Path]) -> None:
    run, _ = hostile_run
    html = (run.report_dir / "readiness.html").read_text()
    tags = {tag for tag, _ in _elements(html)}
    assert "script" not in tags and "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_junit_and_allure_carry_the_cleaned_text(hostile_run: tuple[SuiteRun, Path]) -> None:
    run, allure = hostile_run
    assert run.junit is not None
    failures = [f.get("message", "") for f in run.junit.iter("failure")]
    assert any("cache \\x1b[2J" in message for message in failures), failures
    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    components = next(r for r in results if r["name"].startswith("test_components_healthy"))
    assert "cache \\x1b[2J" in components["statusDetails"]["message"]
    message = components["statusDetails"]["message"]
    # The component name's newlines are gone (read as one line of words, or shown as \n).
    assert "# FORGED heading" in message and "\n" not in message
    assert "<script>" not in components.get("description", "")
