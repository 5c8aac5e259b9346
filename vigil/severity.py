"""Severity: four ordered levels, sev1 (outage, data at risk) to sev4 (minor).

`Severity` is a `str` enum so that it is its own marker name and JSON value (`"sev1"`), and it
orders by how severe it is: `Severity.SEV1.at_least(Severity.SEV2)` is true. The source
runbooks' own names are accepted as aliases where a person writes a level by hand.
"""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"

    @property
    def rank(self) -> int:
        """1 for sev1 (most severe) to 4 for sev4."""
        return int(self.value[-1])

    def at_least(self, threshold: Severity) -> bool:
        """True when this level is `threshold` or more severe (sev1 is at least sev2)."""
        return self.rank <= threshold.rank

    @property
    def meaning(self) -> str:
        return _MEANING[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """`sev2`, `SEV2`, `SEV-2`, `P1`, `high`... -> Severity.SEV2; ValueError otherwise."""
        key = str(text).strip().lower().replace("-", "").replace(" ", "")
        if key in ALIASES:
            return ALIASES[key]
        raise ValueError(
            f"unknown severity {text!r}: use sev1, sev2, sev3 or sev4"
            " (SEV1-SEV4, P0-P3 and critical/high/medium/low are accepted too)"
        )


SEVERITIES: tuple[Severity, ...] = tuple(Severity)

_MEANING = {
    Severity.SEV1: "outage, or data at risk",
    Severity.SEV2: "major degradation",
    Severity.SEV3: "partial degradation, warning",
    Severity.SEV4: "minor",
}

# The levels the source runbooks use, as written by hand in environment files and overlays.
ALIASES: dict[str, Severity] = {
    **{f"sev{n}": Severity(f"sev{n}") for n in range(1, 5)},
    "p0": Severity.SEV1,
    "p1": Severity.SEV2,
    "p2": Severity.SEV3,
    "p3": Severity.SEV4,
    "critical": Severity.SEV1,
    "high": Severity.SEV2,
    "medium": Severity.SEV3,
    "warning": Severity.SEV3,
    "low": Severity.SEV4,
    "info": Severity.SEV4,
}
