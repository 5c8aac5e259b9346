"""The probe session: all I/O of a run, owned by one object and closed once.

One asyncio event loop runs in a daemon thread for the whole run. Every observation a check
needs is made at most once per run (observe once, assert many) as a task on that loop,
bounded by the target's `timeout_s` as a **total** time: connecting, TLS, the request and
every byte of the answer. A probe still running at its timeout is cancelled and its
observation replaced by the family's `unobserved(target, reason)`. Probes written for a
blocking client (the Kubernetes client) run on daemon threads; at the timeout the session
stops waiting for them, and a thread stuck on a socket cannot hold the process at exit.

Connection pools and clients are the session's `shared` resources, made on first use and
closed by `close()`. The run's `--deadline` is the session's: after it, checks whose
observation has not arrived fail as "not evaluated: deadline" (`DeadlineReached`).

How many probes are in flight at once is bounded by the file descriptors the process may
open (raised to the hard limit), not by a fixed number, so a fleet of hanging targets costs
one timeout rather than rounds of them.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import inspect
import resource
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable, Iterable
from functools import partial
from typing import Any, Protocol, TypeVar, cast

from vigil.family import Observation
from vigil.targets import Target

T = TypeVar("T")
FDS_PER_PROBE = 2  # a socket, and room for a TLS or DNS helper
FDS_RESERVED = 128  # pytest, reports, logs, the sandbox
CLOSE_TIMEOUT_S = 2.0


def own_budget(timeout_s: float) -> float:
    """The time a probe gives its own steps: a little less than the session's cut, so that the
    probe's precise reason ("the credential command did not finish") arrives first."""
    return timeout_s - min(0.5, 0.2 * timeout_s)


class DeadlineReached(Exception):
    """The run's deadline passed before an observation was made."""


def descriptor_budget(reserved: int = FDS_RESERVED) -> int:
    """Probes that may be in flight at once: the open-files limit (the soft limit raised to
    the hard one where allowed) minus what is open already and a reserve, per probe."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    limit = soft if soft != resource.RLIM_INFINITY else 65536
    with contextlib.suppress(OSError):
        import os

        limit -= len(os.listdir("/proc/self/fd"))
    return max(1, (limit - reserved) // FDS_PER_PROBE)


class Probes(Protocol):
    """What the plugin needs of a run's probes: a `ProbeSession`, or a `vigil.worker.ProbeWorker`
    holding one in a process of its own."""

    deadline_at: float | None

    def observe_all(
        self, wanted: Iterable[tuple[Observation[Any], Target[Any]]]
    ) -> list[concurrent.futures.Future[Any]]: ...

    def prepare(self, wanted: Iterable[Observation[Any]]) -> None: ...

    def result(self, observation: Observation[T], target: Target[Any]) -> T: ...

    def forget(self, observation: Observation[Any], target: Target[Any]) -> None: ...

    def close(self) -> None: ...


class ProbeSession:
    """Owns every connection, thread and the event loop of a run; `close()` releases them."""

    def __init__(
        self, *, deadline_at: float | None = None, max_in_flight: int | None = None
    ) -> None:
        self.deadline_at = deadline_at  # time.time() after which nothing more is awaited
        self.max_in_flight = max_in_flight or descriptor_budget()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._slots: asyncio.Semaphore | None = None
        self._futures: dict[tuple[str, str], concurrent.futures.Future[Any]] = {}
        self._shared: dict[Hashable, Any] = {}
        self._prepared: dict[Callable[[], object], asyncio.Future[object]] = {}
        self._queues: dict[Hashable, asyncio.Semaphore] = {}
        self._admission = Admission()
        self._lock = threading.Lock()
        self._closed = False

    # --- observations ------------------------------------------------------------------

    def observe(
        self, observation: Observation[T], target: Target[Any]
    ) -> concurrent.futures.Future[T]:
        """Start observing `target` (once per run); the future holds the observation."""
        return self.observe_all([(observation, target)])[0]

    def observe_all(
        self, wanted: Iterable[tuple[Observation[Any], Target[Any]]]
    ) -> list[concurrent.futures.Future[Any]]:
        """Start every wanted observation now, concurrently, in one hand-over to the loop."""
        futures: list[concurrent.futures.Future[Any]] = []
        new: list[tuple[Observation[Any], Target[Any], concurrent.futures.Future[Any]]] = []
        with self._lock:
            if self._closed:
                raise RuntimeError("the probe session is closed")
            for observation, target in wanted:
                key = (observation.fixture, f"{target.kind}:{target.id}")
                future = self._futures.get(key)
                if future is None:
                    future = self._futures[key] = concurrent.futures.Future()
                    new.append((observation, target, future))
                futures.append(future)
            if new:
                loop = self._running_loop()
                loop.call_soon_threadsafe(self._spawn, new)
        return futures

    def prepare(self, wanted: Iterable[Observation[Any]]) -> None:
        """Start the preparations (client imports) of these observations now, so that they
        are done, in the background, by the time the first observation is asked for."""
        steps = {o.prepare for o in wanted if o.prepare is not None}
        if steps:
            loop = self._running_loop()
            for step in steps:
                asyncio.run_coroutine_threadsafe(self._prepare(step), loop)

    def result(self, observation: Observation[T], target: Target[Any]) -> T:
        """The observation of `target`, made at most once per run. Raises `DeadlineReached`
        when the run's deadline passes first; re-raises a probe's unexpected exception."""
        future = self.observe(observation, target)
        if self.deadline_at is None:
            return future.result()
        try:
            return future.result(timeout=max(0.0, self.deadline_at - time.time()))
        except concurrent.futures.TimeoutError:
            raise DeadlineReached from None

    def forget(self, observation: Observation[Any], target: Target[Any]) -> None:
        """Drop a finished observation so that the next `observe` looks again (a retry)."""
        with self._lock:
            self._futures.pop((observation.fixture, f"{target.kind}:{target.id}"), None)

    def _spawn(
        self, jobs: list[tuple[Observation[Any], Target[Any], concurrent.futures.Future[Any]]]
    ) -> None:
        loop = asyncio.get_running_loop()
        for observation, target, future in jobs:
            if not future.set_running_or_notify_cancel():
                continue
            task = loop.create_task(self._observe(observation, target))
            task.add_done_callback(partial(_settle, future))

    async def _observe(self, observation: Observation[T], target: Target[Any]) -> T:
        assert self._slots is not None
        if observation.prepare is not None:
            await self._prepare(observation.prepare)
        queue = observation.queue(target) if observation.queue is not None else None
        # Waiting for a slot, a turn in a queue or admission is not part of the target's time.
        async with contextlib.AsyncExitStack() as held:
            if not observation.derived:
                await held.enter_async_context(self._slots)
                await held.enter_async_context(self._queue(queue))
                await self._admission.admit()
            # A derived observation is bounded by the one it reads, whose clock starts only
            # when it has its turn: a clock of its own would tick through that queue.
            timeout_s = None if observation.derived else target.timeout_s
            probe = cast(Callable[..., Any], observation.probe)
            if observation.blocking:
                work = asyncio.ensure_future(self.blocking(probe, target, self))
            else:
                work = asyncio.ensure_future(probe(target, self))
            try:
                done, _ = await asyncio.wait({work}, timeout=timeout_s)
            except asyncio.CancelledError:
                work.cancel()
                raise
            if work in done:
                return cast(T, work.result())
            # Cut: the probe is cancelled and left to clean up on its own (a client may wait
            # seconds to cancel a query politely); the observation does not wait for it.
            work.cancel()
            work.add_done_callback(_forget)
            return observation.unobserved(
                target, f"no complete answer within {target.timeout_s:g} s (timeout_s)"
            )

    @contextlib.asynccontextmanager
    async def _queue(self, queue: tuple[Hashable, int] | None) -> AsyncIterator[None]:
        """At most so many observations at once per key (one database's session, one origin)."""
        if queue is None:
            yield
            return
        key, capacity = queue
        turn = self._queues.setdefault(key, asyncio.Semaphore(capacity))
        async with turn:
            yield

    async def _prepare(self, prepare: Callable[[], object]) -> None:
        """Run a family's preparation once per run; a failure shows in its probes instead."""
        pending = self._prepared.get(prepare)
        if pending is None:
            pending = self._prepared[prepare] = asyncio.ensure_future(self.blocking(prepare))
        with contextlib.suppress(Exception):
            await asyncio.shield(pending)

    # --- what probes use ---------------------------------------------------------------

    async def blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking call on its own daemon thread. Cancelling the caller (its timeout)
        stops the wait at once; the thread, if stuck, is abandoned and cannot delay the exit."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()

        def deliver(outcome: Callable[[], None]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(outcome)

        def work() -> None:
            try:
                value = function(*args)
            except BaseException as exc:  # handed to the caller, never lost
                error = exc
                deliver(lambda: None if waiter.done() else waiter.set_exception(error))
            else:
                deliver(lambda: None if waiter.done() else waiter.set_result(value))

        threading.Thread(target=work, daemon=True, name="vigil-blocking").start()
        return await waiter

    def shared(self, key: Hashable, make: Callable[[], T]) -> T:
        """A resource shared by the run's probes (a client, a pool, a session to a database),
        made on first use; closed by `close()` through its `aclose()` or `close()`."""
        with self._lock:
            if key not in self._shared:
                self._shared[key] = make()
            return cast(T, self._shared[key])

    def run(self, awaitable: Coroutine[Any, Any, T]) -> T:
        """Run one coroutine on the session's loop and wait for it (the command line, tests):
        the coroutine bounds its own time."""
        return asyncio.run_coroutine_threadsafe(awaitable, self._running_loop()).result()

    def __enter__(self) -> ProbeSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- life cycle ----------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                self._slots = asyncio.Semaphore(self.max_in_flight)
                loop.call_soon(ready.set)
                loop.run_forever()

            self._thread = threading.Thread(target=serve, daemon=True, name="vigil-probes")
            self._thread.start()
            ready.wait()
            self._loop = loop
        return self._loop

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Cancel what is still running, close every shared resource, stop the loop. Waits at
        most `timeout_s`: whatever is stuck then is abandoned with its daemon thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop = self._loop
        for future in self._futures.values():
            future.cancel()
        if loop is None:
            return
        done = asyncio.run_coroutine_threadsafe(self._aclose(timeout_s), loop)
        with contextlib.suppress(Exception):
            done.result(timeout=timeout_s + 0.5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=0.5)
            if not self._thread.is_alive():
                loop.close()

    async def _aclose(self, timeout_s: float) -> None:
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        closing = [_close(resource) for resource in self._shared.values()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*pending, *closing, return_exceptions=True)
        self._shared.clear()


async def _close(resource: Any) -> None:
    closer = getattr(resource, "aclose", None) or getattr(resource, "close", None)
    if closer is None:
        return
    with contextlib.suppress(Exception):
        outcome = closer()
        if inspect.isawaitable(outcome):
            await outcome


class Admission:
    """Starts probes at the pace the event loop keeps up with.

    A burst of thousands of probes started at once would advance in lockstep: each would wait
    for the loop to serve all the others, and a healthy fleet would time out together on a
    busy machine. So a probe's clock starts only when it is admitted: every few milliseconds
    a batch is let in, a full one while the loop answers on time, a small one while it lags.
    Probes that only wait (a hanging target) cost the loop nothing and are all let in within
    a fraction of a second, so a fleet of them still costs one timeout.
    """

    TICK_S = 0.005
    BATCH = 64
    MAX_LAG_S = 0.02

    def __init__(self) -> None:
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._ticker: asyncio.Task[None] | None = None

    async def admit(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.ensure_future(self._tick())
        await waiter

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        lag = 0.0
        while self._waiting:
            batch = self.BATCH if lag < self.MAX_LAG_S else max(1, self.BATCH // 8)
            while batch and self._waiting:
                waiter = self._waiting.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    batch -= 1
            started = loop.time()
            await asyncio.sleep(self.TICK_S)
            lag = loop.time() - started - self.TICK_S


def _forget(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned probe's outcome, so that nothing reports it as lost."""
    if not task.cancelled():
        task.exception()


def _settle(future: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    if future.done():
        return
    if task.cancelled():  # the session closed: nobody may wait on this forever
        future.set_exception(concurrent.futures.CancelledError())
    elif task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())
