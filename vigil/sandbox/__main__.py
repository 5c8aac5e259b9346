"""`python -m vigil.sandbox serve --scenario S --state FILE`: run the sandbox in the foreground.

Writes FILE (pid, scenario, variables) once every component is ready; stops every
component and removes FILE on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path
from typing import Protocol

from vigil.runbook import DEFAULT_CATALOG
from vigil.sandbox import SCENARIOS
from vigil.sandbox.http_platform import HttpPlatform
from vigil.sandbox.kubernetes import KubernetesCluster
from vigil.sandbox.postgres import PostgresSandbox
from vigil.sandbox.prometheus import SandboxPrometheus
from vigil.sandbox.redis import RedisSandbox
from vigil.sandbox.status_page import StatusPages
from vigil.sandbox.tls_endpoint import TlsEndpoint


class Component(Protocol):
    def start(self) -> dict[str, str]: ...

    def stop(self) -> None: ...


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m vigil.sandbox")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--scenario", choices=SCENARIOS, default="healthy")
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    prometheus = SandboxPrometheus(args.scenario)
    components: list[Component] = [
        prometheus,  # first: its ~6 s until the first scrape overlaps the others' start-up
        HttpPlatform(args.scenario),
        PostgresSandbox(args.scenario),
        RedisSandbox(args.scenario),
        KubernetesCluster(args.scenario),
        TlsEndpoint(args.scenario),
        StatusPages(args.scenario),
    ]
    started: list[Component] = []
    # Links in reports open the rendered catalog of this checkout, wherever the reports are.
    catalog_page = DEFAULT_CATALOG.parents[1] / "docs" / "runbook.md"
    variables: dict[str, str] = {"SANDBOX_RUNBOOK_URL": catalog_page.as_uri()}
    try:
        for component in components:
            variables.update(component.start())
            started.append(component)
        # Rules over Prometheus have no data until its first scrapes; a run started right
        # after the sandbox would see "no data" failures that are not the scenario's.
        prometheus.wait_until_scraped()
        temporary = args.state.with_suffix(".tmp")
        temporary.touch(mode=0o600)  # it holds the sandbox's own database and Redis passwords
        temporary.write_text(
            json.dumps(
                {"pid": os.getpid(), "scenario": args.scenario, "variables": variables}, indent=2
            )
        )
        temporary.replace(args.state)
        print(f"sandbox ready ({args.scenario}): {len(variables)} variables", flush=True)
        stopping.wait()
    finally:
        for component in reversed(started):
            component.stop()
        args.state.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
