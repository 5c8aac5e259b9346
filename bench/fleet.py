"""Benchmark: `pytest checks` against fleets of slow HTTP services, beside its floor.

For each size N (`--services`), builds on 127.0.0.1 a fleet of N HTTP services that answer
after L ms (asyncio servers, up to 500 services behind one port, one environment per port),
and times, medians of `--runs` runs, side by side:

- vigil: `pytest checks --env ...` as users run it (two checks per service: the health check
  and the check that it is not rate limiting, `test_status_routed[...:429]`);
- floor: bare pytest running as many no-op tests as Vigil ran checks, plus L (what any
  pytest-based tool pays);
- curl: `curl --parallel --parallel-max 256` over the same URLs (no pytest at all);
- with `--xdist N`, vigil under `-n N` (each xdist worker probes every target: slower);
- peak memory of the pytest process;
and once, a hanging fleet: `--hanging` targets that accept connections and never answer,
`timeout_s: 2`, which should cost one timeout, not rounds of them.

    .venv/bin/python bench/fleet.py --services 30 500 2500 5000 --runs 3 --xdist 2
    .venv/bin/python bench/fleet.py --services 500 --hanging 1000 --runs 1 --with-data

`bench/stress.py` runs the healthy fleet many times and reports any failure with its cause.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PER_PORT = 500
# As a user's shell runs them: Python writes its bytecode caches (a CI image may switch that
# off, which makes every run compile every module again, pytest's and Vigil's alike).
USERS_ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


class SlowFleet:
    """Asyncio HTTP servers in a background thread; every request is answered after
    `latency_s`. Each server stands for one environment of up to PER_PORT services."""

    def __init__(self, servers: int, latency_s: float) -> None:
        self.latency_s = latency_s
        self.loop = asyncio.new_event_loop()
        self.ports: list[int] = []
        ready = threading.Event()
        threading.Thread(target=self._run, args=(servers, ready), daemon=True).start()
        ready.wait(30)

    def _run(self, servers: int, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        for _ in range(servers):
            server = self.loop.run_until_complete(
                asyncio.start_server(self._answer, "127.0.0.1", 0, backlog=4096)
            )
            self.ports.append(server.sockets[0].getsockname()[1])
        ready.set()
        self.loop.run_forever()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(self.latency_s)
                body = b'{"status": "ok"}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class HangingFleet:
    """Listening sockets that accept connections (the kernel does) and never answer."""

    def __init__(self, count: int) -> None:
        self.sockets = []
        for _ in range(count):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)
            self.sockets.append(listener)

    @property
    def ports(self) -> list[int]:
        return [s.getsockname()[1] for s in self.sockets]

    def close(self) -> None:
        for listener in self.sockets:
            listener.close()


def raise_open_files_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def write_fleet_environments(
    directory: Path, ports: list[int], total: int, data: dict[str, str], timeout_s: float = 5
) -> list[Path]:
    """One environment per port, PER_PORT services each, `total` services in all."""
    paths = []
    for index, port in enumerate(ports):
        count = min(PER_PORT, total - index * PER_PORT)
        if count <= 0:
            break
        lines = [f"name: env{index:02d}", f"timeout_s: {timeout_s:g}", "http:", "  services:"]
        for number in range(count):
            lines += [
                f"    - name: svc{number:03d}",
                f"      url: http://127.0.0.1:{port}/svc{number:03d}/health",
            ]
        if "dsn" in data:
            lines += ["postgres:", "  - name: main", f"    dsn: {data['dsn']}"]
            lines += ["    allow_privileged_role: true"]  # the superuser, on a throwaway cluster
        if "redis" in data:
            lines += ["redis:", "  - name: cache", f"    url: {data['redis']}"]
        path = directory / f"env{index:02d}.yaml"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def write_hanging_environment(directory: Path, ports: list[int]) -> Path:
    lines = ["name: hanging", "timeout_s: 2", "http:", "  services:"]
    for number, port in enumerate(ports):
        lines += [f"    - name: h{number:04d}", f"      url: http://127.0.0.1:{port}/health"]
    path = directory / "hanging.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_floor_module(directory: Path, count: int, fail: bool = False) -> Path:
    """`count` no-op tests (or failing ones, each with a one-line message)."""
    path = directory / "floor" / "test_floor.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "    assert n < 0, f'target {n} did not answer within 2 s'\n" if fail else "    pass\n"
    path.write_text(
        "import pytest\n\n\n"
        f"@pytest.mark.parametrize('n', range({count}))\n"
        f"def test_noop(n):\n{body}"
    )
    return path


@dataclass
class Timed:
    seconds: float
    status: int
    peak_mib: float


def timed(command: list[str], cwd: Path = ROOT) -> Timed:
    """Wall seconds, exit status and peak RSS of a command run in its own process."""
    wrapper = (
        "import resource, subprocess, sys, time; t = time.monotonic();"
        " r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL);"
        " print(time.monotonic() - t, r.returncode,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=USERS_ENVIRONMENT,
    ).stdout.split()
    return Timed(float(out[0]), int(out[1]), int(out[2]) / 1024)


def median_of(runs: int, command: Callable[[], Timed]) -> Timed:
    command()  # a first run writes the bytecode caches a user's second run finds
    results = [command() for _ in range(runs)]
    return Timed(
        statistics.median(r.seconds for r in results),
        max(r.status for r in results),
        max(r.peak_mib for r in results),
    )


def pytest_command(directory: Path, paths: list[Path], *extra: str) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "checks",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--report-dir={directory / 'reports'}",
        *extra,
    ]
    for path in paths:
        command += ["--env", str(path)]
    return command


def curl_command(directory: Path, urls: list[str]) -> list[str]:
    config = directory / "curl.conf"
    config.write_text("".join(f'url = "{url}"\noutput = "/dev/null"\n' for url in urls))
    return [
        "curl",
        "--parallel",
        "--parallel-immediate",
        "--parallel-max",
        "256",
        "-s",
        "--max-time",
        "5",
        "-K",
        str(config),
    ]


@dataclass
class Row:
    services: int
    checks: int
    vigil: Timed
    floor: float
    curl: Timed | None
    xdist: Timed | None
    failing: list[dict[str, Any]]


def measure_size(
    sized: Path, fleet: SlowFleet, count: int, data: dict[str, str], args: argparse.Namespace
) -> Row:
    """Vigil, the floor and curl for a fleet of `count` services."""
    sized.mkdir()
    paths = write_fleet_environments(sized, fleet.ports, count, data)
    vigil = median_of(args.runs, lambda: timed(pytest_command(sized, paths)))
    results = json.loads((sized / "reports" / "results.json").read_text())
    failing = [c for c in results["checks"] if c["outcome"] in ("failed", "error")]
    xdist = None
    if args.xdist:
        xdist_command = pytest_command(sized, paths, "-n", str(args.xdist))
        xdist = median_of(args.runs, lambda: timed(xdist_command))
    floor_path = write_floor_module(sized, len(results["checks"]))
    floor_command = [
        sys.executable,
        "-m",
        "pytest",
        str(floor_path),
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    floor_run = median_of(args.runs, lambda: timed(floor_command, cwd=sized))
    floor = floor_run.seconds + args.latency_ms / 1000
    urls = [
        f"http://127.0.0.1:{fleet.ports[i // PER_PORT]}/svc{i % PER_PORT:03d}/health"
        for i in range(count)
    ]
    curl = None
    if not args.no_curl:
        curl = median_of(args.runs, lambda: timed(curl_command(sized, urls)))
    return Row(count, len(results["checks"]), vigil, floor, curl, xdist, failing)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, nargs="+", default=[30, 500])
    parser.add_argument("--latency-ms", type=float, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--hanging", type=int, default=0, help="also time this many hanging targets"
    )
    parser.add_argument(
        "--with-data", action="store_true", help="a real PostgreSQL and Redis per env"
    )
    parser.add_argument("--no-curl", action="store_true")
    parser.add_argument(
        "--xdist", type=int, default=0, help="also time the fleet with `-n N` (pytest-xdist)"
    )
    args = parser.parse_args()
    raise_open_files_limit()
    biggest = max(args.services)
    fleet = SlowFleet(-(-biggest // PER_PORT), args.latency_ms / 1000)
    stack = _data_targets() if args.with_data else None
    data = stack[0] if stack else {}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        for count in args.services:
            rows.append(measure_size(directory / f"n{count}", fleet, count, data, args))
        hanging_row = None
        if args.hanging:
            hanging = HangingFleet(args.hanging)
            path = write_hanging_environment(directory, hanging.ports)
            hanging_row = median_of(args.runs, lambda: timed(pytest_command(directory, [path])))
            hanging.close()
            # Its floor: bare pytest failing as many tests as Vigil failed checks, plus 2 s.
            checks = len(json.loads((directory / "reports" / "results.json").read_text())["checks"])
            failing = write_floor_module(directory / "failing", checks, fail=True)
            command = [sys.executable, "-m", "pytest", str(failing), "-q", "--tb=short"]
            command += ["-p", "no:cacheprovider"]
            hanging_floor = median_of(args.runs, lambda: timed(command, cwd=failing.parent.parent))
            hanging_floor.seconds += 2.0
    if stack:
        stack[1]()
    print(f"latency {args.latency_ms:g} ms; medians of {args.runs}; cores {os.cpu_count()}")
    print(
        "| services | checks | vigil | floor | vigil / floor | curl --parallel |"
        f" vigil -n {args.xdist or '-'} | vigil peak memory | failed |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for row in rows:
        curl_text = f"{row.curl.seconds:.2f} s" if row.curl else "-"
        xdist_text = f"{row.xdist.seconds:.2f} s" if row.xdist else "-"
        print(
            f"| {row.services:,} | {row.checks:,} | {row.vigil.seconds:.2f} s | {row.floor:.2f} s"
            f" | {row.vigil.seconds / row.floor:.2f} | {curl_text} | {xdist_text}"
            f" | {row.vigil.peak_mib:.0f} MiB | {len(row.failing)} |"
        )
        for check in row.failing[:3]:
            print(f"  {check['id']}: {check['outcome']}: {check['message'][:200]}")
    if hanging_row:
        print(
            f"hanging fleet: {args.hanging} targets that never answer, timeout_s 2:"
            f" {hanging_row.seconds:.2f} s, peak {hanging_row.peak_mib:.0f} MiB"
            f" (exit {hanging_row.status}); floor, bare pytest failing {checks:,} tests"
            f" + 2 s: {hanging_floor.seconds:.2f} s"
        )


def _data_targets() -> tuple[dict[str, str], Callable[[], None]] | None:
    """A real PostgreSQL and Redis, shared by every environment (started by the sandbox code;
    PostgreSQL with room for one connection per environment)."""
    from vigil.sandbox.postgres import MONITOR_ROLE, PostgresServer
    from vigil.sandbox.redis import RedisSandbox

    postgres, redis = PostgresServer(max_connections=200), RedisSandbox("healthy")
    postgres.start()
    postgres.install_monitor_role("bench-monitor-pw")
    variables = redis.start()

    def stop() -> None:
        redis.stop()
        postgres.stop()

    dsn = postgres.dsn(MONITOR_ROLE, "bench-monitor-pw", "postgres")
    return {"dsn": dsn, "redis": variables["SANDBOX_REDIS_URL"]}, stop


if __name__ == "__main__":
    main()
