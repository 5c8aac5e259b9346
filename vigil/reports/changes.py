"""Memory across runs: each check of this run compared with its earlier observations.

Pure functions over records and history lines (`vigil.reports.history` reads and writes the
file): what changed since the previous observation of each check (`new`, `still`,
`resolved`), since when it has been failing, whether it flaps, and the age of a failure as a
person reads it ("2 h 14 min"). A check that a run did not observe (left out by `-k` or
`--lf`, skipped, or cut by the deadline) keeps its streak: only observations count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

from vigil.record import Change, CheckRecord, Outcome

# One letter per check and run in history.jsonl.
PASSED, PASSED_ON_RETRY, FAILED, ERROR, SKIPPED, CUT = "p", "r", "f", "e", "s", "d"
FAILING_CODES = frozenset({FAILED, ERROR})
OBSERVED_CODES = frozenset({PASSED, PASSED_ON_RETRY, FAILED, ERROR})
FLAP_WINDOW = 10  # observations
FLAP_CHANGES = 4  # outcome changes within the window that make a check flapping


def outcome_code(record: CheckRecord) -> str:
    """The letter history.jsonl keeps for a check in one run."""
    if record.deadline_missed:
        return CUT  # the deadline, not the target, decided: not an observation
    if record.outcome == Outcome.PASSED:
        return PASSED_ON_RETRY if record.attempts > 1 else PASSED
    return {Outcome.FAILED: FAILED, Outcome.ERROR: ERROR}.get(record.outcome, SKIPPED)


def split_id(test_id: str) -> tuple[str, str]:
    """`test_x[env/target]` -> (`test_x`, `env/target`); an id without brackets -> (id, '')."""
    if test_id.endswith("]") and "[" in test_id:
        check, param = test_id[:-1].split("[", 1)
        return check, param
    return test_id, ""


def join_id(check: str, param: str) -> str:
    return f"{check}[{param}]" if param else check


def encode(records: Iterable[CheckRecord]) -> dict[str, dict[str, list[str]]]:
    """Per-check outcomes, compactly: {check: {letter: [parameters]}} (each check name once)."""
    encoded: dict[str, dict[str, list[str]]] = {}
    for record in records:
        check, param = split_id(record.id)
        encoded.setdefault(check, {}).setdefault(outcome_code(record), []).append(param)
    return encoded


def decode(line: Mapping[str, Any]) -> dict[str, str]:
    """Each check's letter in one history line. Lines written before per-check outcomes were
    kept list only the failing ids: every other check of their environments counts as passed."""
    outcomes = line.get("outcomes")
    if isinstance(outcomes, dict):
        return {
            join_id(check, param): code
            for check, by_code in outcomes.items()
            if isinstance(by_code, dict)
            for code, params in by_code.items()
            if isinstance(params, list)
            for param in params
        }
    return {str(test_id): FAILED for test_id in line.get("failed", [])}


def _old_line_passes(line: Mapping[str, Any], test_id: str) -> bool:
    """Whether a line without per-check outcomes saw `test_id` pass."""
    if "outcomes" in line or line.get("partial"):
        return False
    environment = split_id(test_id)[1].split("/", 1)[0]
    return environment in line.get("environments", [])


def observations(
    history: Sequence[Mapping[str, Any]], ids: Iterable[str]
) -> dict[str, list[tuple[str, str]]]:
    """For each id, its (time, letter) observations in the history, oldest first."""
    wanted = set(ids)
    seen: dict[str, list[tuple[str, str]]] = {test_id: [] for test_id in wanted}
    for line in history:
        time = str(line.get("time", ""))
        letters = decode(line)
        for test_id in wanted:
            code = letters.get(test_id)
            if code is None and _old_line_passes(line, test_id):
                code = PASSED
            if code in OBSERVED_CODES:
                seen[test_id].append((time, code))
    return seen


def remember(
    records: Sequence[CheckRecord], history: Sequence[Mapping[str, Any]], now: str
) -> None:
    """Set `change`, `failing_since` and `flapping` on each record from the earlier runs in
    `history` (oldest first); `now` is this run's start, the first time of a new streak."""
    past = observations(history, (r.id for r in records))
    for record in records:
        seen = past.get(record.id, [])
        code = outcome_code(record)
        window = [c in FAILING_CODES for _, c in seen]
        if code in OBSERVED_CODES:
            window.append(code in FAILING_CODES)
        window = window[-FLAP_WINDOW:]
        record.flapping = sum(a != b for a, b in pairwise(window)) >= FLAP_CHANGES
        record.change, record.failing_since = None, None
        if code not in OBSERVED_CODES:
            continue  # not observed this time: nothing changed, as far as this run knows
        before = seen[-1][1] if seen else None
        if code in FAILING_CODES:
            record.change = Change.STILL if before in FAILING_CODES else Change.NEW
            since = now
            for time, letter in reversed(seen):
                if letter not in FAILING_CODES:
                    break
                since = time
            record.failing_since = since
        elif before in FAILING_CODES:
            record.change = Change.RESOLVED


def counts(records: Iterable[CheckRecord]) -> dict[str, int]:
    """How many checks are new, still failing, resolved, flapping, or passed only on a retry."""
    total = {"new": 0, "still": 0, "resolved": 0, "flapping": 0, "flaky": 0}
    for record in records:
        if record.change is not None:
            total[str(record.change)] += 1
        total["flapping"] += record.flapping
        total["flaky"] += record.flaky
    return total


def failing_for(since: str | None, now: str) -> str:
    """A failing streak's age for a table: '' when not failing, 'new' when it began now."""
    if not since:
        return ""
    return "new" if since == now else age(since, now)


def age(since: str | None, now: str) -> str:
    """How long from `since` to `now` (ISO times), as a person says it: '2 h 14 min'."""
    if not since:
        return ""
    try:
        seconds = int((datetime.fromisoformat(now) - datetime.fromisoformat(since)).total_seconds())
    except (TypeError, ValueError):
        return ""
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    minutes = seconds // 60
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
