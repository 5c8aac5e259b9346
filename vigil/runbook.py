"""The runbook catalog: what each symptom means and what to do about it.

`load_catalog(path)` reads a catalog file (by default the built-in one, `checks/runbook.yaml`,
installed as `vigil.checks`) into `RunbookEntry` objects keyed by id. `merged_catalog(overlays)`
lays a team's files over it by id (`runbooks/*.yaml`, the ini option `vigil_catalog`): an entry
with a known id replaces the fields it gives, a new id adds an entry, and `Catalog.origins`
says which file each field came from. `render(text, values)` fills `{placeholder}`s; a
placeholder it cannot fill stays visible as `{name}` and nothing ever raises, so a half-known
target still gets usable steps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vigil.errors import CatalogError
from vigil.family import families
from vigil.settings import SeverityLevel
from vigil.validation import describe, did_you_mean, printable
from vigil.yamlfile import YamlProblem, read_yaml

# Systems of entries that no family observes alone: data-level symptoms, read through SQL
# assertions or Prometheus rules.
EXTRA_SYSTEMS = {"data": "data-level symptoms"}


def systems() -> dict[str, str]:
    """Every system marker and its help: the families' names, then the extra systems."""
    return {**{f.name: f.description for f in families()}, **EXTRA_SYSTEMS}


def _default_catalog() -> Path:
    """The built-in catalog: `vigil.checks`'s runbook.yaml (checks/runbook.yaml here)."""
    try:
        return Path(str(resources.files("vigil.checks") / "runbook.yaml"))
    except ModuleNotFoundError:  # a checkout on sys.path, not installed
        return Path(__file__).resolve().parent.parent / "checks" / "runbook.yaml"


DEFAULT_CATALOG = _default_catalog()
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class RunbookEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    severity: SeverityLevel
    system: str
    symptoms: list[str] = Field(min_length=1)
    diagnosis: list[str] = Field(default_factory=list)
    remediation: list[str] = Field(min_length=1)

    @field_validator("system")
    @classmethod
    def _known_system(cls, value: str) -> str:
        if value not in systems():
            raise ValueError(f"unknown system {value!r} (known: {', '.join(systems())})")
        return value


def render(text: str, values: Mapping[str, object]) -> str:
    """Fill `{name}` placeholders from `values`; unknown ones stay as they are."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None or value == "" else str(value)

    return _PLACEHOLDER.sub(fill, text)


def placeholders(text: str) -> set[str]:
    """The placeholder names a template uses."""
    return set(_PLACEHOLDER.findall(text))


@dataclass(frozen=True)
class Catalog:
    """The merged catalog: entries by id, and for each entry where each field came from."""

    entries: dict[str, RunbookEntry]
    origins: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> field -> file


def load_catalog(path: Path = DEFAULT_CATALOG) -> dict[str, RunbookEntry]:
    """Read and validate a catalog file; raise `CatalogError` naming the entry and field at
    fault."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the runbook catalog: {exc}") from None
    return dict(_load_catalog(path, stat.st_mtime_ns, stat.st_size))


@cache
def _load_catalog(path: Path, mtime_ns: int, size: int) -> dict[str, RunbookEntry]:
    entries: dict[str, RunbookEntry] = {}
    for label, item in _items(path):
        entry = _validated(path, label, item)
        if entry.id in entries:
            raise CatalogError(f"{path}: entry id {entry.id!r} appears twice")
        entries[entry.id] = entry
    return entries


def overlay_files(places: Iterable[Path]) -> list[Path]:
    """The overlay files of `vigil_catalog` places: a file as it is, a directory's `*.yaml`
    and `*.yml` files in name order. A place that does not exist is a `CatalogError`."""
    files: list[Path] = []
    for place in places:
        if place.is_dir():
            files += sorted(p for p in place.iterdir() if p.suffix in (".yaml", ".yml"))
        elif place.is_file():
            files.append(place)
        else:
            raise CatalogError(f"{place}: no such catalog file or directory (vigil_catalog)")
    return files


def merged_catalog(overlays: Iterable[Path] = (), default: Path = DEFAULT_CATALOG) -> Catalog:
    """The default catalog, then the entries families ship (`Family.catalog`), then each
    overlay file in order, merged by id: fields given replace, new ids add."""
    entries = load_catalog(default)
    origins = {key: dict.fromkeys(_given(entry), str(default)) for key, entry in entries.items()}
    layers = [family.catalog for family in families() if family.catalog is not None]
    for path in [*layers, *overlays]:
        seen: set[str] = set()
        for label, item in _items(path):
            entry_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(entry_id, str) and entry_id in seen:
                raise CatalogError(f"{path}: entry id {entry_id!r} appears twice")
            base = entries.get(entry_id) if isinstance(entry_id, str) else None
            merged = (
                {**base.model_dump(), **item}
                if base is not None and isinstance(item, dict)
                else item
            )
            entry = _validated(path, label, merged, partial=base is not None)
            seen.add(entry.id)
            given = set(item) if base is not None else set(_given(entry))
            origins[entry.id] = {
                **(origins.get(entry.id, {}) if base is not None else {}),
                **dict.fromkeys(sorted(given), str(path)),
            }
            entries[entry.id] = entry
    return Catalog(entries, origins)


def _items(path: Path) -> list[tuple[str, Any]]:
    """The entries of a catalog file as written, each with a label for messages."""
    try:
        raw = read_yaml(path)
    except YamlProblem as exc:
        raise CatalogError(f"{path}: cannot read the runbook catalog: {exc.problem}") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CatalogError(f"{path}: expected a list of entries (- id: ..., title: ...)")
    labelled = []
    for index, item in enumerate(raw):
        label = item.get("id", f"[{index}]") if isinstance(item, dict) else f"[{index}]"
        labelled.append((printable(str(label)), item))
    return labelled


def _validated(path: Path, label: str, item: Any, partial: bool = False) -> RunbookEntry:
    try:
        return RunbookEntry.model_validate(item)
    except ValidationError as exc:
        first = describe(exc, RunbookEntry)[0]
        if first.startswith("(top): ") and not partial:
            first = first.replace("(top): ", "(entry): ", 1)
        raise CatalogError(f"{path}: entry {label}: {first}") from None


def _given(entry: RunbookEntry) -> list[str]:
    return [name for name in RunbookEntry.model_fields if name in entry.model_fields_set]


def suggest_entry(entry_id: str, known: Iterable[str]) -> str:
    """ " (did you mean X?)" for a misspelt entry id, or ""."""
    guess = did_you_mean(entry_id, known)
    return f" (did you mean {guess}?)" if guess else ""
