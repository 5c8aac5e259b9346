"""Reading Kubernetes objects without trusting their shape: timestamps, conditions, fields.

Real dumps are trimmed by hand and hold `spec: null`, a list entry that is null, a count that
is not a number. `Fields` reads one object's fields so that such a field reads as absent and
the object can say so ("spec is null"); nothing here raises on a malformed object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vigil.redact import redact_text

Json = dict[str, Any]


class Fields:
    """One object's fields, read without trusting their shape; `notes` says what was wrong."""

    def __init__(self, raw: Any) -> None:
        self.raw: Json = raw if isinstance(raw, dict) else {}
        self.notes: list[str] = [] if isinstance(raw, dict) else ["the object is not a mapping"]
        self.missing: set[str] = set()  # sections that could not be read: nothing is judged
        # from a section that is not there (no status: no phase, no "not ready")

    def part(self, key: str) -> Json:
        """A top-level section (`metadata`, `spec`, `status`); {} when absent or malformed."""
        value = self.raw.get(key)
        if isinstance(value, dict):
            return value
        self.notes.append(f"{key} is {_shape(value, key in self.raw)}")
        self.missing.add(key)
        return {}

    def mapping(self, parent: Json, key: str, where: str) -> Json:
        """A nested mapping; {} when absent (normal) or malformed (noted)."""
        value = parent.get(key)
        if value is None or isinstance(value, dict):
            return value or {}
        self.notes.append(f"{where}.{key} is {_shape(value, True)}")
        return {}

    def entries(self, parent: Json, key: str, where: str) -> list[Json]:
        """The mappings of a list field, skipping (and noting) entries that are not."""
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.notes.append(f"{where}.{key} is {_shape(value, True)}")
            return []
        kept = [item for item in value if isinstance(item, dict)]
        if len(kept) < len(value):
            self.notes.append(f"{len(value) - len(kept)} of {where}.{key} are null or malformed")
        return kept

    def number(self, parent: Json, key: str, where: str, default: int) -> int:
        """An integer field; `default` when absent, null, or not a number (noted)."""
        value = self.optional(parent, key, where)
        return default if value is None else value

    def optional(self, parent: Json, key: str, where: str) -> int | None:
        """An integer field, or None when absent, null or not a number (noted)."""
        value = parent.get(key)
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            self.notes.append(f"{where}.{key} is not a number")
            return None

    @property
    def partial(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.notes))


def _shape(value: Any, present: bool) -> str:
    if not present:
        return "missing"
    if value is None:
        return "null"
    return f"a {type(value).__name__}, not a mapping"


def object_name(raw: Any) -> str:
    """An object's `kind/name` as well as it can be read, for notes about it."""
    if not isinstance(raw, dict):
        return "an object that is not a mapping"
    metadata = raw.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{str(raw.get('kind') or 'object').lower()}/{name or '(no name)'}"


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as the API writes it (`2024-05-01T10:00:00Z`), or None."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def short_age(since: datetime | None, now: datetime) -> str:
    """kubectl's compact age: 45s, 12m, 5h, 3d."""
    if since is None:
        return "<unknown>"
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit == "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    since: datetime | None = None


def read_conditions(status: Json, fields: Fields | None = None) -> dict[str, Condition]:
    """`status.conditions` by type (malformed entries skipped, noted in `fields`)."""
    fields = fields or Fields({})
    return {
        str(c.get("type")): Condition(
            str(c.get("type")),
            str(c.get("status") or "Unknown"),
            str(c.get("reason") or ""),
            redact_text(str(c.get("message") or "")),
            time_of(c.get("lastTransitionTime")),
        )
        for c in fields.entries(status, "conditions", "status")
    }


def time_of(value: Any) -> datetime | None:
    """A timestamp field (None when absent or not a timestamp)."""
    return parse_time(value) if isinstance(value, str) else None
