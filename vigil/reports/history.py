"""`history.jsonl`: one line per run, appended whole, bounded to the most recent runs.

A line carries the run's time, duration, exit status, environments and their verdicts, the
counts, the failing ids (as schema 1 had them), whether the run was partial, and every
check's outcome in one letter (`vigil.reports.changes.encode`), from which the next runs
compute what changed.

Writers take a lock file beside the history (`.history.jsonl.lock`), so concurrent runs on
one report directory never lose a line. A line is appended with one write; the file is
never rewritten in place: trimming to the last `MAX_RUNS` writes a new file and renames it
over the old one, so a run killed at any moment leaves the old history or the new one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vigil.reports import changes
from vigil.reports.files import write_atomically
from vigil.reports.results import RunResults

MAX_RUNS = 500


def history_line(run: RunResults) -> dict[str, Any]:
    counts = {
        k: sum(e.counts[k] for e in run.environments)
        for k in ("passed", "failed", "error", "skipped")
    }
    return {
        "time": run.started_at,
        "duration_s": run.duration_s,
        "exit_status": run.exit_status,
        "environments": [e.name for e in run.environments],
        "not_ready": [e.name for e in run.environments if not e.ready],
        "verdicts": {e.name: e.verdict for e in run.environments},
        "counts": counts,
        "failed": [c.id for c in run.failures()],
        "partial": run.partial,
        "outcomes": changes.encode(run.checks),
    }


def read_history(path: Path) -> list[dict[str, Any]]:
    """The runs kept in `path`, oldest first; a torn or foreign line is skipped."""
    return [run for _, run in _lines(path)]


def _lines(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Each whole line of the history with the run it holds."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    kept = []
    for line in text.splitlines():
        try:
            run = json.loads(line)
        except ValueError:
            continue
        if isinstance(run, dict):
            kept.append((line, run))
    return kept


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def append_history(path: Path, run: RunResults, keep: int = MAX_RUNS) -> list[dict[str, Any]]:
    """Append this run as one whole line, trimming to the last `keep` runs by writing a new
    file and renaming it; returns the kept runs, oldest first."""
    line = history_line(run)
    text = json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n"
    with _locked(path):
        kept = [*_lines(path), (text.rstrip("\n"), line)]
        runs = [run for _, run in kept]
        if len(kept) > keep:
            write_atomically(path, "".join(raw + "\n" for raw, _ in kept[-keep:]))
            return runs[-keep:]
        descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if _ends_torn(descriptor):
                text = "\n" + text  # a killed writer's half line must not swallow this one
            data = text.encode()
            while data:  # one write for any line of a sane size; a loop in case it is not
                data = data[os.write(descriptor, data) :]
        finally:
            os.close(descriptor)
    return runs


def _ends_torn(descriptor: int) -> bool:
    size = os.fstat(descriptor).st_size
    return size > 0 and os.pread(descriptor, 1, size - 1) != b"\n"
