"""Observe once, assert many: a per-run cache of probe results, filled concurrently.

Checks ask `observations.get(observer, target)`; the first caller runs the probe, later
callers (other checks on the same target) wait for and share its result. `prefetch` starts
every probe the selected checks will need at once, so a run lasts about as long as its
slowest probe rather than the sum of them. Probes never raise for an unhealthy target; an
unexpected exception is kept and re-raised to every check that needs that observation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

Observer = Callable[[Any], Any]


class Observations:
    def __init__(self, max_workers: int = 64) -> None:
        self._futures: dict[tuple[str, str], Future[Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="vigil-probe")

    def _future(self, name: str, observer: Observer, target: Any) -> Future[Any]:
        key = (name, target.id)
        with self._lock:
            future = self._futures.get(key)
            if future is None:
                future = self._pool.submit(observer, target)
                self._futures[key] = future
            return future

    def get(self, name: str, observer: Observer, target: Any) -> Any:
        """The observation of `target` by `observer`, made at most once per run."""
        return self._future(name, observer, target).result()

    def prefetch(self, wanted: Iterable[tuple[str, Observer, Any]]) -> int:
        """Start every wanted observation now, in parallel; returns how many were started."""
        count = 0
        for name, observer, target in wanted:
            self._future(name, observer, target)
            count += 1
        return count

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
