"""The embedded sandbox: a small platform of real services on 127.0.0.1 to run the suite on.

`ensure(root, scenario)` returns the variables `environments/sandbox.yaml` needs (the URLs
of the services, which listen on free ports), starting the sandbox in the background if it is
not running. `stop(root)` stops it. The running sandbox is described by `.vigil/sandbox.json`
under the project root; `vigil sandbox up|down|status` drives it by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vigil.errors import SandboxError

SCENARIOS = ("healthy", "incident")
DEFAULT_SCENARIO = "healthy"
START_TIMEOUT_S = 90.0


def state_dir(root: Path) -> Path:
    return root / ".vigil"


def read_state(root: Path) -> dict[str, Any] | None:
    """The running sandbox's state, or None when none is running."""
    path = state_dir(root) / "sandbox.json"
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(state.get("pid", 0))):
        path.unlink(missing_ok=True)
        return None
    return state


def ensure(root: Path, scenario: str | None) -> tuple[dict[str, str], bool]:
    """Variables of a running sandbox of `scenario` (any running one if None), and whether
    this call started it (the caller then stops it)."""
    with _lock(root):
        state = read_state(root)
        if state and scenario in (None, state["scenario"]):
            return dict(state["variables"]), False
        if state:
            _stop(root, state)
        state = _start(root, scenario or DEFAULT_SCENARIO)
        return dict(state["variables"]), True


def stop(root: Path) -> bool:
    """Stop the running sandbox; False if none was running."""
    with _lock(root):
        state = read_state(root)
        if state is None:
            return False
        _stop(root, state)
        return True


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    directory = state_dir(root)
    directory.mkdir(parents=True, exist_ok=True)  # --sandbox-home may name a new directory
    with open(directory / "sandbox.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start(root: Path, scenario: str) -> dict[str, Any]:
    directory = state_dir(root)
    state_file = directory / "sandbox.json"
    state_file.unlink(missing_ok=True)
    log = open(directory / "sandbox.log", "w")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil.sandbox",
            "serve",
            "--scenario",
            scenario,
            "--state",
            str(state_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=root,
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (directory / "sandbox.log").read_text()[-2000:]
            raise SandboxError(
                f"the sandbox exited during start-up (code {process.returncode}):\n{tail}"
            )
        state = read_state(root)
        if state and state.get("pid") == process.pid:
            return state
        time.sleep(0.05)
    process.kill()
    raise SandboxError(
        f"the sandbox did not become ready within {START_TIMEOUT_S:g} s;"
        f" see {directory / 'sandbox.log'}"
    )


def _stop(root: Path, state: dict[str, Any]) -> None:
    pid = int(state["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    (state_dir(root) / "sandbox.json").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def placeholders(names: Iterable[str]) -> dict[str, str]:
    """Stand-in values for the sandbox's variables when it is not running: enough to load
    `environments/sandbox.yaml` and name its targets (`--collect-only` starts nothing)."""
    values = {}
    for name in names:
        if name.endswith("_DSN"):
            values[name] = "postgresql://vigil@127.0.0.1:1/sandbox"
        elif name.endswith("REDIS_URL"):
            values[name] = "redis://127.0.0.1:1"
        elif name.endswith("_URL"):
            values[name] = "http://127.0.0.1:1"
        elif name.endswith("_PORT"):
            values[name] = "1"
        else:
            values[name] = "not-started"
    return values
