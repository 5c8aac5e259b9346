"""Who to escalate to, and when: a per-environment matrix rendered into sev1 remediation.

An environment file may say, as the source runbooks' escalation matrices do, whom to page if
a sev1 is not mitigated after so many minutes:

    escalation:
      - {after_min: 5, contact: "engineering lead (@eng-lead, +1-555-0100)"}
      - {after_min: 15, contact: DevOps team}
      - {after_min: 30, contact: CTO}

`escalation_step(steps)` is the one remediation step every sev1 failure of that environment
ends with; nothing is added where no matrix is configured.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from vigil.settings import Model


class EscalationStep(Model):
    """One row of the matrix: after `after_min` minutes without mitigation, `contact`."""

    after_min: float = Field(ge=0)
    contact: str = Field(min_length=1)


def escalation_step(steps: Sequence[EscalationStep]) -> str | None:
    """The escalation as one remediation step, earliest first; None without a matrix."""
    if not steps:
        return None
    ordered = sorted(steps, key=lambda step: step.after_min)
    rows = "; ".join(f"after {step.after_min:g} min, {step.contact}" for step in ordered)
    return f"Escalate while it is not mitigated (minutes since the alert): {rows}."
