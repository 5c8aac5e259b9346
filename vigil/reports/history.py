"""`history.jsonl`: one line per run, appended, bounded to the most recent runs."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

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
        "counts": counts,
        "failed": [c.id for c in run.failures()],
    }


def append_history(path: Path, run: RunResults, keep: int = MAX_RUNS) -> list[dict[str, Any]]:
    """Append this run and trim to the last `keep` runs; returns the kept runs, oldest first."""
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        runs = []
        for line in handle:
            try:
                runs.append(json.loads(line))
            except ValueError:
                continue  # a torn line from a crashed writer is dropped, not fatal
        runs = [*runs, history_line(run)][-keep:]
        handle.seek(0)
        handle.truncate()
        handle.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in runs))
    return runs
