"""Where the catalog came from: the source runbooks' symptoms, read from docs/runbook-sources.md.

That document lists, per source runbook, each symptom with the level the source gives it, the
entries that detect it with their severity, and whether (and why) the catalog departs from the
source's level. `read_sources` reads those tables; `coverage_lines` is what
`vigil runbook coverage` prints from them. Nothing here raises on a malformed document: a row
it cannot read is left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vigil.runbook import RunbookEntry

_SOURCE = re.compile(r"^### Runbook ([A-Z])\b")
_ENTRY = re.compile(r"`([a-z0-9][a-z0-9-]*)` \((sev[1-4])\)")
_LEVEL = re.compile(r"→ (sev[1-4])")


@dataclass(frozen=True)
class SourceRow:
    """One symptom of one source runbook and the entries that detect it."""

    source: str  # "A" to "E"
    symptom: str
    level: str  # as written: "P1 → sev2", "impact", "process"
    entries: tuple[tuple[str, str], ...]  # (entry id, severity as written)
    departure: str  # "—", "— (why the levels may differ)" or "yes: why"

    @property
    def normalised(self) -> str | None:
        """The source's level in catalog terms (sev1..sev4), if it gives one."""
        found = _LEVEL.search(self.level)
        return found.group(1) if found else None


def read_sources(path: Path) -> list[SourceRow]:
    """The symptom rows of every "Runbook X" table of the sources document."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    rows: list[SourceRow] = []
    source = None
    for line in lines:
        heading = _SOURCE.match(line)
        if heading:
            source = heading.group(1)
            continue
        if line.startswith("## "):
            source = None
        if source is None or not line.startswith("| ") or line.startswith("| ---"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] == "Section / symptom":
            continue
        rows.append(
            SourceRow(source, cells[0], cells[1], tuple(_ENTRY.findall(cells[2])), cells[3])
        )
    return rows


def coverage_lines(path: Path, catalog: Mapping[str, RunbookEntry]) -> list[str]:
    """Each source symptom with its entries, their severity and any departure, for
    `vigil runbook coverage`; an entry the catalog does not know is flagged."""
    rows = read_sources(path)
    if not rows:
        return []
    lines = ["", f"Source symptoms ({path.name}): source, symptom, source level, entries"]
    for row in rows:
        entries = ", ".join(
            f"{entry} {catalog[entry].severity if entry in catalog else '(unknown entry)'}"
            for entry, _ in row.entries
        )
        departure = f"  [departs: {row.departure[5:]}]" if row.departure.startswith("yes") else ""
        lines.append(f"{row.source}  {row.symptom}  ({row.level})  {entries or '-'}{departure}")
    return lines
