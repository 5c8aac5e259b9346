"""Stress: a healthy fleet checked many times; any failure is a false failure, shown whole.

Builds the fleet of `bench/fleet.py` (N HTTP services answering after L ms, on 127.0.0.1,
two checks each) and runs `pytest checks` against it `--runs` times. Every check should pass
(a skipped one is counted too: a status route skips only when its service did not answer);
for any that does not, prints the run, the check and its full message and evidence, so the
cause of a false failure can be read off.

    .venv/bin/python bench/stress.py --services 5000 --runs 10   # 10,000 checks
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import (
    PER_PORT,
    ROOT,
    SlowFleet,
    pytest_command,
    raise_open_files_limit,
    write_fleet_environments,
)

SHOWN = 50  # checks shown whole per run


def stress(services: int, runs: int, latency_s: float) -> int:
    """Run the healthy fleet `runs` times; return how many checks did not pass in all."""
    raise_open_files_limit()
    fleet = SlowFleet(-(-services // PER_PORT), latency_s)
    false_failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        paths = write_fleet_environments(directory, fleet.ports, services, {})
        for run in range(1, runs + 1):
            started = time.monotonic()
            result = subprocess.run(
                pytest_command(directory, paths), cwd=ROOT, capture_output=True, text=True
            )
            seconds = time.monotonic() - started
            report = json.loads((directory / "reports" / "results.json").read_text())
            bad = [c for c in report["checks"] if c["outcome"] != "passed"]
            false_failures += len(bad)
            print(
                f"run {run}: {len(report['checks'])} checks in {seconds:.2f} s,"
                f" exit {result.returncode}, not passed: {len(bad)}"
            )
            for check in bad[:SHOWN]:
                print(f"  {check['id']}: {check['outcome']}: {check['message']}")
                for line in check.get("evidence", []):
                    print(f"    {line}")
            if len(bad) > SHOWN:
                print(f"  ... and {len(bad) - SHOWN} more (results.json of the run has them all)")
    return false_failures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=300)
    args = parser.parse_args()
    failures = stress(args.services, args.runs, args.latency_ms / 1000)
    print(f"false failures: {failures} in {args.runs} runs of {2 * args.services:,} checks")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
