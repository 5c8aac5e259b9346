"""Promises under hostile peers: cut at `timeout_s` whatever the peer does, answers capped,
no traceback, and a run against nothing but hostile peers ends in time and in memory.

Each peer is a real server on 127.0.0.1 (tests/hostile.py). Time bounds are three times the
bound they protect; the exact figures are measured in bench/.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import hostile
from tests.conftest import ROOT, suite_run, write_env
from tests.hostile import RawServer
from tests.probing import fetch, load_targets, observe
from tests.servers import SilentPort

TIMEOUT_S = 2.0
MAX_RUN_MIB = 500


@pytest.fixture
def serve() -> Iterator[Callable[[hostile.Talk], RawServer]]:
    started: list[RawServer] = []

    def start(talk: hostile.Talk) -> RawServer:
        server = RawServer(talk)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def _timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


# --- HTTP (and what is built on it: status pages, Prometheus) -----------------------------


def test_headers_dripped_one_byte_at_a_time_are_cut_at_the_total_time(
    serve: Callable[[hostile.Talk], RawServer],
) -> None:
    server = serve(hostile.http_headers_drip(0.5))
    response, seconds = _timed(lambda: fetch(server.url("/health"), timeout_s=TIMEOUT_S))
    assert response.error is not None and response.status is None
    assert response.error.startswith(f"no complete response within {TIMEOUT_S:g} s")
    assert seconds < 3 * TIMEOUT_S


def test_a_body_that_trickles_is_cut_at_the_total_time(
    serve: Callable[[hostile.Talk], RawServer],
) -> None:
    server = serve(hostile.http_body_trickle(0.05))
    response, seconds = _timed(lambda: fetch(server.url("/health"), timeout_s=TIMEOUT_S))
    assert response.error is not None
    assert response.error.startswith(f"no complete response within {TIMEOUT_S:g} s")
    assert seconds < 3 * TIMEOUT_S


def test_a_gzip_bomb_is_decompressed_no_further_than_one_mebibyte(
    serve: Callable[[hostile.Talk], RawServer],
) -> None:
    server = serve(hostile.http_gzip_bomb())
    response = fetch(server.url("/health"), timeout_s=10)
    assert response.error is None, response.error
    assert response.status == 200 and response.truncated
    assert response.json_error == "the body is longer than 1024 KiB; not read as JSON"
    assert len(response.text) <= 1 << 20


def test_a_hundred_thousand_headers_are_refused_not_read(
    serve: Callable[[hostile.Talk], RawServer],
) -> None:
    server = serve(hostile.http_many_headers())
    response = fetch(server.url("/health"), timeout_s=TIMEOUT_S)
    assert response.error is not None and response.status is None
    assert "did not speak valid HTTP" in response.error, response.error


def test_json_nested_a_hundred_thousand_deep_is_not_json_not_a_traceback(
    serve: Callable[[hostile.Talk], RawServer], tmp_path: Path
) -> None:
    server = serve(hostile.http_json(hostile.deep_json()))
    [target] = load_targets(
        tmp_path,
        "http_service",
        f"http:\n  services:\n    - name: api\n      url: {server.url('/health')}\n"
        f"      expect_json: {{status: ok}}\n      detailed_url: {server.url('/detail')}\n",
    )
    response = observe("http_response", target)
    assert response.error is None and response.status == 200
    assert response.json_body is None
    assert response.json_error == "the body is not JSON Vigil reads (nested deeper than 64)"
    report = observe("http_components", target)
    assert report.error == "the body is not JSON Vigil reads (nested deeper than 64)"


# --- Redis ---------------------------------------------------------------------------------


def _redis(tmp_path: Path, url: str) -> Any:
    [target] = load_targets(
        tmp_path,
        "redis_server",
        f"timeout_s: {TIMEOUT_S}\nredis:\n  - name: cache\n    url: {url}\n",
    )
    return _timed(lambda: observe("redis_status", target))


def test_a_redis_that_drips_its_answer_is_cut_at_the_total_time(
    serve: Callable[[hostile.Talk], RawServer], tmp_path: Path
) -> None:
    server = serve(hostile.redis_drip(0.1))
    status, seconds = _redis(tmp_path, f"redis://127.0.0.1:{server.port}/0")
    assert status.failure == "timeout"
    assert status.error.startswith(f"no answer within {TIMEOUT_S:g} s from 127.0.0.1:")
    assert seconds < 3 * TIMEOUT_S


@pytest.mark.parametrize("talk", [hostile.redis_huge_info, hostile.redis_endless_line])
def test_a_redis_reply_larger_than_the_cap_is_refused_unread(
    serve: Callable[[hostile.Talk], RawServer],
    tmp_path: Path,
    talk: Callable[[], hostile.Talk],
) -> None:
    server = serve(talk())
    status, seconds = _redis(tmp_path, f"redis://127.0.0.1:{server.port}/0")
    assert status.failure == "protocol", status.error
    assert "sent a reply larger than 4 MiB; the rest was not read" in status.error
    assert seconds < 3 * TIMEOUT_S


# --- TLS -----------------------------------------------------------------------------------


def test_a_tls_handshake_dripped_one_byte_at_a_time_is_cut_at_the_total_time(
    serve: Callable[[hostile.Talk], RawServer], tmp_path: Path
) -> None:
    server = serve(hostile.tls_drip(0.3))
    [target] = load_targets(
        tmp_path,
        "certificate",
        f"timeout_s: {TIMEOUT_S}\ntls:\n  - host: 127.0.0.1\n    port: {server.port}\n",
    )
    observation, seconds = _timed(lambda: observe("tls_certificate", target))
    assert observation.error is not None
    assert "TLS handshake" in observation.error or "handshake" in observation.error
    assert seconds < 3 * TIMEOUT_S


# --- a whole environment of hostile peers, as a process ------------------------------------

MEASURE = """
import json, resource, subprocess, sys, time
started = time.monotonic()
result = subprocess.run(sys.argv[2:])
json.dump({"seconds": time.monotonic() - started, "status": result.returncode,
           "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss},
          open(sys.argv[1], "w"))
sys.exit(result.returncode)
"""


def test_every_target_hostile_at_once_ends_in_time_and_in_memory(
    serve: Callable[[hostile.Talk], RawServer], tmp_path: Path
) -> None:
    """Dripping HTTP, a trickling body, a gzip bomb, 100,000 headers, deep JSON, a dripping and
    a 200 MB Redis, a stalling PostgreSQL, a dripping Kubernetes API and TLS handshake: every
    check fails, explained, the run ends within its bound and stays under 500 MiB."""
    stall = SilentPort()
    servers = {
        "drip": serve(hostile.http_headers_drip(0.5)),
        "trickle": serve(hostile.http_body_trickle(0.05)),
        "bomb": serve(hostile.http_gzip_bomb()),
        "headers": serve(hostile.http_many_headers()),
        "deep": serve(hostile.http_json(hostile.deep_json())),
        "redis-drip": serve(hostile.redis_drip(0.1)),
        "redis-huge": serve(hostile.redis_huge_info()),
        "kube": serve(hostile.http_headers_drip(0.5)),
        "tls": serve(hostile.tls_drip(0.3)),
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: x, cluster: {{server: '{servers['kube'].url('')}'}}}}]\n"
        "users: [{name: x, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: x, user: x}}]\n"
    )
    http = "".join(
        f"    - name: {name}\n      url: {servers[name].url('/health')}\n"
        "      expect_json: {status: ok}\n"
        for name in ("drip", "trickle", "bomb", "headers", "deep")
    )
    env = write_env(
        tmp_path,
        "hostile",
        f"timeout_s: {TIMEOUT_S:g}\nhttp:\n  services:\n{http}"
        "redis:\n"
        f"  - {{name: drip, url: 'redis://127.0.0.1:{servers['redis-drip'].port}/0'}}\n"
        f"  - {{name: huge, url: 'redis://127.0.0.1:{servers['redis-huge'].port}/0'}}\n"
        f"postgres:\n  - {{name: db, dsn: 'postgresql://app:pw@127.0.0.1:{stall.port}/app'}}\n"
        f"kubernetes:\n  kubeconfig: {kubeconfig}\n  context: x\n  namespaces: [shop]\n"
        f"tls:\n  - {{host: 127.0.0.1, port: {servers['tls'].port}, name: edge}}\n",
    )
    figures = tmp_path / "figures.json"
    try:
        run = suite_run(
            tmp_path,
            "--env",
            str(env),
            prefix=[sys.executable, "-c", MEASURE, str(figures)],
            timeout=120,
        )
    finally:
        stall.close()
    measured = json.loads(figures.read_text())
    outcomes = run.outcomes()
    # The bomb and the deep JSON answer 200: their status checks pass, their body fails; the
    # other services' 429 routes skip (no answer: the health check reports it).
    answered = {
        f"{check}[hostile/{name}{route}]"
        for name in ("bomb", "deep")
        for check, route in (("test_health_endpoint", ""), ("test_status_routed", ":429"))
    }
    assert {k for k, v in outcomes.items() if v == "passed"} == answered, outcomes
    skipped = {k for k, v in outcomes.items() if v == "skipped"}
    assert all(k.startswith("test_status_routed[") for k in skipped), skipped
    assert len(outcomes) > 30 and set(outcomes.values()) <= {"passed", "failed", "skipped"}
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output
    # The promise is timeout_s + 3 s; the test allows three times that, plus start-up.
    assert measured["seconds"] < run.budget(TIMEOUT_S + 3), measured
    assert measured["peak_kib"] < MAX_RUN_MIB * 1024, measured
    assert (ROOT / "checks").is_dir()


def test_the_process_exits_within_its_deadline_whatever_is_stuck(
    serve: Callable[[hostile.Talk], RawServer], tmp_path: Path
) -> None:
    """A Kubernetes API that drips forever and a kubeconfig credential command that never
    returns, with targets whose own timeout is far away: `--deadline 3` ends the process."""
    api = serve(hostile.http_headers_drip(0.5))
    stuck = tmp_path / "get-token"
    stuck.write_text("#!/bin/sh\nexec sleep 600\n")
    stuck.chmod(0o755)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: drip\n"
        f"clusters: [{{name: c, cluster: {{server: '{api.url('')}'}}}}]\n"
        "users:\n"
        "  - {name: token, user: {token: t}}\n"
        "  - name: stuck\n"
        "    user:\n"
        f"      exec: {{apiVersion: client.authentication.k8s.io/v1, command: '{stuck}',"
        " interactiveMode: Never}\n"
        "contexts:\n"
        "  - {name: drip, context: {cluster: c, user: token}}\n"
        "  - {name: stuck, context: {cluster: c, user: stuck}}\n"
    )
    drip = write_env(
        tmp_path,
        "drip",
        f"timeout_s: 60\nkubernetes:\n  kubeconfig: {kubeconfig}\n  context: drip\n"
        "  namespaces: [shop]\n",
    )
    stuck_env = write_env(
        tmp_path,
        "stuck",
        f"timeout_s: 60\nkubernetes:\n  kubeconfig: {kubeconfig}\n  context: stuck\n"
        "  namespaces: [shop]\n",
    )
    figures = tmp_path / "figures.json"
    run = suite_run(
        tmp_path,
        "--env",
        str(drip),
        "--env",
        str(stuck_env),
        "--deadline",
        "3",
        prefix=[sys.executable, "-c", MEASURE, str(figures)],
        timeout=120,
    )
    measured = json.loads(figures.read_text())
    outcomes = run.outcomes()
    assert outcomes and set(outcomes.values()) == {"failed"}, outcomes
    assert "not evaluated: deadline" in run.output
    # The promise is --deadline + 3 s; the test allows three times that, plus start-up.
    assert measured["seconds"] < run.budget(3 + 3), measured
