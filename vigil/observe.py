"""Observe once, assert many: a per-run cache of probe results, filled concurrently.

Checks ask `observations.get(observer, target)`; the first caller runs the probe, later
callers (other checks on the same target) wait for and share its result. `prefetch` starts
every probe the selected checks will need at once, so a run lasts about as long as its
slowest probe rather than the sum of them. Probes never raise for an unhealthy target; an
unexpected exception is kept and re-raised to every check that needs that observation.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

Observer = Callable[[Any], Any]


class DeadlineReached(Exception):
    """The run's deadline passed before an observation was made."""


class Observations:
    def __init__(self, max_workers: int = 64, deadline_at: float | None = None) -> None:
        self.deadline_at = deadline_at  # time.time() after which nothing more is awaited
        self._futures: dict[tuple[str, str], Future[Any]] = {}
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Future[Any], Observer, Any] | None] = (
            queue.SimpleQueue()
        )
        self._max_workers = max_workers
        self._workers: list[threading.Thread] = []

    def _future(self, name: str, observer: Observer, target: Any) -> Future[Any]:
        key = (name, target.id)
        with self._lock:
            future = self._futures.get(key)
            if future is None:
                future = Future()
                self._futures[key] = future
                self._queue.put((future, observer, target))
                if len(self._workers) < self._max_workers:
                    # Daemon threads, unlike a ThreadPoolExecutor's: a probe still waiting on a
                    # hung system when the deadline ends the run must not hold the exit.
                    worker = threading.Thread(target=self._work, daemon=True, name="vigil-probe")
                    worker.start()
                    self._workers.append(worker)
            return future

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            future, observer, target = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(observer(target))
            except BaseException as exc:  # kept for every check that needs this observation
                future.set_exception(exc)

    def get(self, name: str, observer: Observer, target: Any) -> Any:
        """The observation of `target` by `observer`, made at most once per run.

        Raises `DeadlineReached` if the run's deadline passes before it is available."""
        future = self._future(name, observer, target)
        if self.deadline_at is None:
            return future.result()
        try:
            return future.result(timeout=max(0.0, self.deadline_at - time.time()))
        except FutureTimeout:
            raise DeadlineReached from None

    def prefetch(self, wanted: Iterable[tuple[str, Observer, Any]]) -> int:
        """Start every wanted observation now, in parallel; returns how many were started."""
        count = 0
        for name, observer, target in wanted:
            self._future(name, observer, target)
            count += 1
        return count

    def close(self) -> None:
        """Cancel what has not started and let idle workers end."""
        with self._lock:
            for future in self._futures.values():
                future.cancel()
            for _ in self._workers:
                self._queue.put(None)
