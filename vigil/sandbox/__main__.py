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

from vigil.sandbox import SCENARIOS
from vigil.sandbox.http_platform import HttpPlatform
from vigil.sandbox.postgres import PostgresSandbox
from vigil.sandbox.redis import RedisSandbox


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m vigil.sandbox")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--scenario", choices=SCENARIOS, default="healthy")
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    components = [
        HttpPlatform(args.scenario),
        PostgresSandbox(args.scenario),
        RedisSandbox(args.scenario),
    ]
    variables: dict[str, str] = {}
    try:
        for component in components:
            variables.update(component.start())
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
        for component in reversed(components):
            component.stop()
        args.state.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
