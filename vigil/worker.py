"""Probes in a process of their own: the run's probe session, forked off the pytest process.

pytest runs the checks in one thread; probes, thousands at once, would share that thread's
interpreter lock with them. `ProbeWorker` forks a child process that holds the run's
`ProbeSession` (its event loop, pools and threads) and answers observation requests over a
socket pair, so probing uses the machine's second core while pytest asserts on the first.
It offers the session's own interface (`observe_all`, `result`, `forget`, `close`); results
come back pickled. The child knows the run's targets because it is a fork of the process
that loaded them.

Hostile systems cannot hold the run: the child is killed at `close()` if it does not end
within its grace, and a child that dies makes every pending observation an error instead of
a wait. Where `os.fork` is missing, the plugin uses an in-process `ProbeSession` instead.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import pickle
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterable
from functools import partial
from typing import Any, TypeVar

from vigil.family import Observation, observations
from vigil.session import CLOSE_TIMEOUT_S, DeadlineReached, Probes, ProbeSession
from vigil.targets import Target

T = TypeVar("T")
Key = tuple[str, str]  # (observation fixture, "kind:env/target")
_HEADER = struct.Struct("!Q")


class WorkerGone(Exception):
    """The probe process ended before answering."""


def run_probes(
    targets: Iterable[Target[Any]],
    *,
    deadline_at: float | None = None,
    max_in_flight: int | None = None,
) -> Probes:
    """The run's probes: in a process of their own where the system can fork, else here."""
    if hasattr(os, "fork"):
        return ProbeWorker(targets, deadline_at=deadline_at, max_in_flight=max_in_flight)
    return ProbeSession(deadline_at=deadline_at, max_in_flight=max_in_flight)


def _travels(observation: Observation[Any]) -> bool:
    """Built-in families' observations come back from the child by pickle; a team's classes
    (from a conftest, say) may not be importable by name, so their probes run here."""
    return getattr(observation.probe, "__module__", "").startswith("vigil.families.")


def _key(observation: Observation[Any], target: Target[Any]) -> Key:
    return (observation.fixture, f"{target.kind}:{target.id}")


def _send(sock: socket.socket, lock: threading.Lock, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    with lock:
        sock.sendall(_HEADER.pack(len(data)) + data)


def _receive(sock: socket.socket) -> Any:
    header = _read_exactly(sock, _HEADER.size)
    return pickle.loads(_read_exactly(sock, _HEADER.unpack(header)[0]))


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class ProbeWorker:
    """The run's probe session in a forked child process."""

    def __init__(
        self,
        targets: Iterable[Target[Any]],
        *,
        deadline_at: float | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self.deadline_at = deadline_at
        self._max_in_flight = max_in_flight
        self._targets = {f"{t.kind}:{t.id}": t for t in targets}
        self._futures: dict[Key, concurrent.futures.Future[Any]] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._pid = 0
        self._closed = False
        self._local: ProbeSession | None = None

    # --- the session's interface ---------------------------------------------------------

    def observe_all(
        self, wanted: Iterable[tuple[Observation[Any], Target[Any]]]
    ) -> list[concurrent.futures.Future[Any]]:
        futures, new = [], []
        with self._lock:
            if self._closed:
                raise RuntimeError("the probe session is closed")
            for observation, target in wanted:
                if not _travels(observation):
                    futures.append(self._here().observe(observation, target))
                    continue
                key = _key(observation, target)
                future = self._futures.get(key)
                if future is None:
                    future = self._futures[key] = concurrent.futures.Future()
                    new.append(key)
                futures.append(future)
            if new:
                _send(self._started(), self._send_lock, ("observe", new))
        return futures

    def prepare(self, wanted: Iterable[Observation[Any]]) -> None:
        """Start the child now and have it prepare (import its clients) while pytest collects."""
        names = sorted({o.fixture for o in wanted if o.prepare is not None and _travels(o)})
        with self._lock:
            if self._closed:
                return
            _send(self._started(), self._send_lock, ("prepare", [(name, "") for name in names]))

    def observe(
        self, observation: Observation[T], target: Target[Any]
    ) -> concurrent.futures.Future[T]:
        return self.observe_all([(observation, target)])[0]

    def result(self, observation: Observation[T], target: Target[Any]) -> T:
        future = self.observe(observation, target)
        timeout = None if self.deadline_at is None else max(0.0, self.deadline_at - time.time())
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise DeadlineReached from None

    def forget(self, observation: Observation[Any], target: Target[Any]) -> None:
        if not _travels(observation):
            self._here().forget(observation, target)
            return
        key = _key(observation, target)
        with self._lock:
            self._futures.pop(key, None)
            if self._sock is not None:
                _send(self._sock, self._send_lock, ("forget", [key]))

    def __enter__(self) -> ProbeWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _here(self) -> ProbeSession:
        """The session in this process, for the families whose observations cannot travel."""
        if self._local is None:
            self._local = ProbeSession(
                deadline_at=self.deadline_at, max_in_flight=self._max_in_flight
            )
        return self._local

    # --- the child -----------------------------------------------------------------------

    def _started(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            parent.close()
            _serve(child, self._targets, self.deadline_at, self._max_in_flight)
        child.close()
        self._sock, self._pid = parent, pid
        threading.Thread(target=self._read, daemon=True, name="vigil-probe-results").start()
        return parent

    def _read(self) -> None:
        assert self._sock is not None
        try:
            while True:
                key, ok, payload = _receive(self._sock)
                with self._lock:
                    future = self._futures.get(key)
                if future is None or future.done():
                    continue  # forgotten meanwhile: a retry asked again
                if ok:
                    future.set_result(payload)
                else:
                    future.set_exception(payload)
        except (EOFError, OSError):
            pass
        with self._lock:
            pending = [f for f in self._futures.values() if not f.done()]
        for future in pending:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(WorkerGone("the probe process ended before answering"))

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S + 1.0) -> None:
        """Ask the child to close its session; kill it if it is not gone within `timeout_s`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sock, pid = self._sock, self._pid
        if self._local is not None:
            self._local.close()
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)  # end of requests: the child closes and exits
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        sock.close()


def _serve(
    sock: socket.socket,
    targets: dict[str, Target[Any]],
    deadline_at: float | None,
    max_in_flight: int | None,
) -> None:
    """The child: observe what the parent asks, send each result when it is ready."""
    status = 0
    try:
        _quiet()
        declared = {name: observation for name, (_, observation) in observations().items()}
        send_lock = threading.Lock()
        session = ProbeSession(deadline_at=deadline_at, max_in_flight=max_in_flight)

        def deliver(key: Key, future: concurrent.futures.Future[Any]) -> None:
            try:
                message = (key, True, future.result())
            except BaseException as exc:
                message = (key, False, exc)
            try:
                _send(sock, send_lock, message)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                failure = RuntimeError(f"the observation could not be sent back: {exc}")
                with contextlib.suppress(OSError):
                    _send(sock, send_lock, (key, False, failure))
            except OSError:
                pass  # the parent is gone

        try:
            while True:
                command, keys = _receive(sock)
                if command == "prepare":
                    session.prepare(declared[name] for name, _ in keys)
                    continue
                for key in keys:
                    observation, target = declared[key[0]], targets[key[1]]
                    if command == "forget":
                        session.forget(observation, target)
                        continue
                    future = session.observe(observation, target)
                    future.add_done_callback(partial(deliver, key))
        except (EOFError, OSError):
            pass
        session.close()
    except BaseException:
        status = 1
    finally:
        os._exit(status)


def _quiet() -> None:
    """The child writes nothing where the parent's output goes (pytest captures it)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for descriptor in (1, 2):
        with contextlib.suppress(OSError):
            os.dup2(devnull, descriptor)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
