"""The runbook catalog: what each symptom means and what to do about it.

`load_catalog(path)` reads `checks/runbook.yaml` into `RunbookEntry` objects keyed by id.
`render(text, values)` fills `{placeholder}`s; a placeholder it cannot fill stays visible as
`{name}` and nothing ever raises, so a half-known target still gets usable steps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vigil.errors import CatalogError
from vigil.family import families
from vigil.settings import SeverityLevel

# Systems of entries that no family observes alone: data-level symptoms, read through SQL
# assertions or Prometheus rules.
EXTRA_SYSTEMS = {"data": "data-level symptoms"}


def systems() -> dict[str, str]:
    """Every system marker and its help: the families' names, then the extra systems."""
    return {**{f.name: f.description for f in families()}, **EXTRA_SYSTEMS}


DEFAULT_CATALOG = Path(__file__).resolve().parent.parent / "checks" / "runbook.yaml"
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


@cache
def load_catalog(path: Path = DEFAULT_CATALOG) -> dict[str, RunbookEntry]:
    """Read and validate the catalog; raise `CatalogError` naming the entry and field at fault."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the runbook catalog: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, list):
        raise CatalogError(f"{path}: expected a list of entries")
    entries: dict[str, RunbookEntry] = {}
    for index, item in enumerate(raw):
        label = item.get("id", f"[{index}]") if isinstance(item, dict) else f"[{index}]"
        try:
            entry = RunbookEntry.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(entry)"
            raise CatalogError(f"{path}: entry {label}: {where}: {first['msg']}") from None
        if entry.id in entries:
            raise CatalogError(f"{path}: entry id {entry.id!r} appears twice")
        entries[entry.id] = entry
    return entries
