"""Benchmark: how long `pytest checks` takes against a fleet, against its floor.

Builds, on 127.0.0.1, K environments x S HTTP services that each answer after L ms (one
asyncio server per environment, one path per service), plus one PostgreSQL and one Redis
target per environment when `--with-data` is given, and reports for `pytest checks`:

- wall: the run as users run it (`pytest checks --env ...`);
- floor: L plus the start-up and collection time of the same command (`--collect-only`);
- ratio: wall / floor;
- serial: `--probe-concurrency 1` (one probe at a time), for fleets small enough to wait for;
- curl loop: what the source runbooks do, one `curl` per service in a shell loop;
- peak memory of the pytest process.

    .venv/bin/python bench/fleet.py --envs 3 --services 20 --latency-ms 300
    .venv/bin/python bench/fleet.py --envs 20 --services 50 --latency-ms 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class SlowFleet:
    """One asyncio HTTP server per environment; every request is answered after `latency_s`."""

    def __init__(self, environments: int, latency_s: float) -> None:
        self.latency_s = latency_s
        self.loop = asyncio.new_event_loop()
        self.ports: list[int] = []
        ready = threading.Event()
        threading.Thread(target=self._run, args=(environments, ready), daemon=True).start()
        ready.wait(10)

    def _run(self, environments: int, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        for _ in range(environments):
            server = self.loop.run_until_complete(
                asyncio.start_server(self._answer, "127.0.0.1", 0, backlog=4096)
            )
            self.ports.append(server.sockets[0].getsockname()[1])
        ready.set()
        self.loop.run_forever()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
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


def write_environments(
    directory: Path, fleet: SlowFleet, services: int, data: dict[str, str]
) -> list[Path]:
    paths = []
    for index, port in enumerate(fleet.ports):
        lines = [f"name: env{index:02d}", "timeout_s: 5", "http:", "  services:"]
        for number in range(services):
            lines += [
                f"    - name: svc{number:02d}",
                f"      url: http://127.0.0.1:{port}/svc{number:02d}/health",
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


def timed(command: list[str]) -> tuple[float, int, int]:
    """Wall seconds, exit status and peak RSS (KiB) of a command run in its own process."""
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
        check=True,
        cwd=ROOT,
    ).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--envs", type=int, default=3)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=300)
    parser.add_argument(
        "--with-data",
        action="store_true",
        help="add a real PostgreSQL and Redis target to every environment",
    )
    parser.add_argument(
        "--serial-limit",
        type=int,
        default=200,
        help="skip the serial baseline above this many services",
    )
    parser.add_argument(
        "--curl-sample",
        type=int,
        default=100,
        help="time the curl loop on this many services and scale up",
    )
    args = parser.parse_args()

    fleet = SlowFleet(args.envs, args.latency_ms / 1000)
    stack = _data_targets() if args.with_data else None
    data = stack[0] if stack else {}
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        paths = write_environments(directory, fleet, args.services, data)
        base = [
            sys.executable,
            "-m",
            "pytest",
            "checks",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--report-dir={directory / 'reports'}",
        ]
        for path in paths:
            base += ["--env", str(path)]
        collect, _, _ = timed([*base, "--collect-only"])
        wall, status, peak_kib = timed(base)
        results = json.loads((directory / "reports" / "results.json").read_text())
        failing = [c for c in results["checks"] if c["outcome"] != "passed"]
        floor = args.latency_ms / 1000 + collect
        total = args.envs * args.services
        serial = (
            timed([*base, "--probe-concurrency", "1"])[0] if total <= args.serial_limit else None
        )
        urls = [
            f"http://127.0.0.1:{port}/svc{n:02d}/health"
            for port in fleet.ports
            for n in range(args.services)
        ]
        sample = urls[: args.curl_sample]
        loop = (
            "for u in "
            + " ".join(map(shlex.quote, sample))
            + '; do curl -s -o /dev/null --max-time 5 "$u"; done'
        )
        curl = timed(["bash", "-c", loop])[0] * len(urls) / len(sample)
    if stack:
        stack[1]()
    print(
        f"fleet: {args.envs} environments x {args.services} services, latency "
        f"{args.latency_ms:g} ms{', + PostgreSQL and Redis per environment' if stack else ''}"
    )
    print("| measure | seconds |\n| --- | ---: |")
    print(f"| pytest checks (wall, exit {status}) | {wall:.2f} |")
    print(f"| floor (latency + start-up and collection {collect:.2f} s) | {floor:.2f} |")
    print(f"| ratio wall / floor | {wall / floor:.2f} |")
    print(f"| serial (--probe-concurrency 1) | {f'{serial:.2f}' if serial else 'skipped'} |")
    measured = "" if len(urls) <= args.curl_sample else f" ({args.curl_sample} measured, scaled)"
    print(f"| curl loop, one service after another{measured} | {curl:.2f} |")
    print(f"| peak memory of the pytest process | {peak_kib / 1024:.0f} MiB |")
    print(f"checks run: {len(results['checks'])}, not passed: {len(failing)}")
    for check in failing[:5]:
        print(f"  {check['id']}: {check['outcome']}: {check['message'][:150]}")


def _data_targets() -> tuple[dict[str, str], Callable[[], None]] | None:
    """A real PostgreSQL and Redis, shared by every environment (started by the sandbox code;
    PostgreSQL with room for one connection per environment)."""
    from vigil.sandbox.postgres import PostgresServer
    from vigil.sandbox.redis import RedisSandbox

    postgres, redis = PostgresServer(max_connections=200), RedisSandbox("healthy")
    postgres.start()
    variables = redis.start()

    def stop() -> None:
        redis.stop()
        postgres.stop()

    return {"dsn": postgres.admin_dsn("postgres"), "redis": variables["SANDBOX_REDIS_URL"]}, stop


if __name__ == "__main__":
    main()
