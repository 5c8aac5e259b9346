"""Connecting to Kubernetes cannot hang the run: a stuck kubeconfig credential command fails
the environment's checks within their timeout, naming the command, and the process still
exits at once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import suite_run, write_env
from tests.probing import observe, targets_of
from tests.servers import free_port
from vigil.environment import load_environment
from vigil.families.kubernetes.probe import import_apis
from vigil.session import CLOSE_TIMEOUT_S, ProbeSession

COMMAND_S = 300  # how long the credential command sleeps: far longer than any run here


def started_commands(pid_file: Path, at_least: int = 1) -> list[str]:
    """The pids the credential command wrote, once `at_least` of them started (10 s at most:
    a busy machine may start the command after the observation gave up on it)."""
    waited = time.monotonic() + 10
    while time.monotonic() < waited:
        pids = pid_file.read_text().split() if pid_file.exists() else []
        if len(pids) >= at_least:
            return pids
        time.sleep(0.05)
    return pid_file.read_text().split() if pid_file.exists() else []


@pytest.fixture
def stuck_kubeconfig(tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig whose user gets its token from a command that never returns in time."""
    pid_file = tmp_path / "credential.pid"
    command = tmp_path / "get-token"
    command.write_text(f"#!/bin/sh\necho $$ >> {pid_file}\nexec sleep {COMMAND_S}\n")
    command.chmod(0o755)
    kubeconfig = tmp_path / "kubeconfig"
    exec_user = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(command)}
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"exec": exec_user}}],
    }
    kubeconfig.write_text(yaml.safe_dump(document))
    yield kubeconfig
    # The credential command outlives the run that started it; end it (and only it) here.
    for pid in pid_file.read_text().split() if pid_file.exists() else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)


def names_the_command(error: str | None, timeout_s: float) -> bool:
    return (
        error is not None
        and "the kubeconfig's credential command (" in error
        and "get-token, users[].user.exec in" in error
        and f"did not finish within {timeout_s:g} s" in error  # timeout_s: the total time
    )


def test_stuck_credential_command_cannot_hold_the_run(
    tmp_path: Path, stuck_kubeconfig: Path
) -> None:
    """About the process: its exit must not wait for the command (a process of its own)."""
    env = write_env(
        tmp_path,
        "stuck",
        f"timeout_s: 2\nkubernetes:\n  kubeconfig: {stuck_kubeconfig}\n  namespaces: [shop]\n",
    )
    run = suite_run(tmp_path, "--env", str(env), timeout=COMMAND_S / 2)
    # The process ended although the command it started still runs (COMMAND_S).
    assert run.seconds < COMMAND_S / 5, f"{run.seconds:.1f} s\n{run.output[-3000:]}"
    assert len(started_commands(tmp_path / "credential.pid")) == 1  # one attempt
    outcomes = run.outcomes()
    assert outcomes and set(outcomes.values()) == {"failed"}, run.output[-3000:]
    assert "test_no_crash_looping_pods[stuck/shop]" in outcomes
    assert "test_nodes_ready[stuck/cluster]" in outcomes
    assert "Traceback" not in run.output
    assert "cannot list namespace shop: " in run.output  # its other checks are behind it
    assert "the kubeconfig's credential command (" in run.output, run.output[-3000:]
    assert "get-token, users[].user.exec in" in run.output
    assert "did not finish within 2 s" in run.output  # timeout_s is the total time


def test_one_attempt_per_environment_and_close_does_not_wait(
    tmp_path: Path, stuck_kubeconfig: Path
) -> None:
    env = write_env(
        tmp_path,
        "stuck",
        f"timeout_s: 1\nkubernetes:\n  kubeconfig: {stuck_kubeconfig}\n  namespaces: [shop, ops]\n",
    )
    environment = load_environment(env, {})
    namespaces = targets_of("k8s_namespace", environment)
    cluster = targets_of("k8s_cluster", environment)[0]
    import_apis()  # once per run, outside any target's time (Observation.prepare)
    session = ProbeSession()  # one run: the environment's three targets share its connection
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            looks = [pool.submit(observe, "k8s_objects", t, session) for t in namespaces]
            looks.append(pool.submit(observe, "k8s_cluster_state", cluster, session))
            errors = [look.result().error for look in looks]
        observed_in = time.monotonic() - started
    finally:
        closing = time.monotonic()
        session.close()  # the command still runs: close() leaves it to its thread
        closed_in = time.monotonic() - closing
    # All three end at their timeout together; none waits for the command, nor does close().
    assert observed_in < 3 * cluster.timeout_s
    assert closed_in < 3 * CLOSE_TIMEOUT_S
    assert len(started_commands(tmp_path / "credential.pid")) == 1  # one attempt, three targets
    with ProbeSession() as next_run:  # a new run makes its own attempt
        observe("k8s_objects", namespaces[0], next_run)
    assert len(started_commands(tmp_path / "credential.pid", at_least=2)) == 2
    assert len(errors) == 3 and all(names_the_command(e, 1) for e in errors), errors
