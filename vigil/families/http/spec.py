"""Settings of the HTTP family: `http.services[]` in an environment file.

What a status code means depends on what answers it. `kind` says what the URL is (one of our
services, a webhook handler, a CDN edge, object storage, an external dependency) and so
which entry a failure belongs to and which answers are fine; `status_runbooks` sends single
status codes to other entries (429 -> rate-limit-exceeded by default). `format` names the
health-report format the service speaks (see `formats.py`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from vigil.families.http.formats import VAULT_STATUS, HealthFormat
from vigil.families.http.report import Level
from vigil.settings import FileInWorkingDirectory, HttpUrl, Model, TargetSettings

if TYPE_CHECKING:
    from vigil.targets import Target

Kind = Literal["service", "webhook", "cdn", "object_storage", "dependency"]

SERVICE_DOWN = "http-service-down"
# The entry a failing answer of each kind belongs to (its `runbook:` replaces it).
KIND_ENTRY: dict[str, str] = {
    "service": SERVICE_DOWN,
    "webhook": "webhook-delivery-failures",
    "cdn": "cdn-unavailable",
    "object_storage": "object-storage-unavailable",
    "dependency": "dependency-unreachable",
}
# Statuses that belong to another entry than the kind's own, whatever `runbook:` says.
# A 429 from our own service is our rate limiter refusing clients; from a provider it is the
# provider refusing us, which its own entry covers. A provider refusing our credentials
# (401/403) is dependency-unreachable even where `runbook:` names a business entry.
KIND_ROUTES: dict[str, dict[int, str]] = {
    "service": {429: "rate-limit-exceeded"},
    "webhook": {429: "rate-limit-exceeded"},
    "cdn": {},
    "object_storage": {},
    "dependency": dict.fromkeys((401, 403, 429), "dependency-unreachable"),
}
# Entries that say, in a v1 file's `runbook:`, that the URL is someone else's.
IMPLIED_KIND = {
    "dependency-unreachable": "dependency",
    "cdn-unavailable": "cdn",
    "object-storage-unavailable": "object_storage",
}
# A webhook handler answering an unsigned probe with 400/401/403 is up and verifying.
WEBHOOK_REJECTS = (400, 401, 403)
VAULT_HEALTHY = tuple(code for code, (_, level) in VAULT_STATUS.items() if level is Level.OK)


class HttpService(TargetSettings):
    name: str
    url: HttpUrl
    kind: Kind = "service"
    method: str = "GET"  # default POST for kind: webhook
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None  # the request body, sent as is
    json_body: Any = Field(default=None, alias="json")  # the request body as JSON
    expect_status: list[int] | None = None  # default: any 2xx (and see `kind`, `format`)
    expect_json: dict[str, Any] | None = None
    expect_text: str | None = None  # the body must contain this text
    expect_regex: str | None = None  # the body must match this regular expression
    max_latency_ms: float | None = Field(default=None, gt=0)
    detailed_url: HttpUrl | None = None
    format: HealthFormat = "auto"
    max_response_time_ms: float | None = Field(default=None, gt=0)  # per component
    status_runbooks: dict[int, str] = Field(default_factory=dict)
    runbook: str | None = None  # entry for this service failing (default: by `kind`)
    deployment: str | None = None  # the Deployment serving it, for remediation commands
    status_page: HttpUrl | None = None  # the provider's status page, for remediation
    ca_bundle: FileInWorkingDirectory | None = None
    verify: bool = True

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        """A webhook is probed with POST; a kind's own entry is its `runbook` unless given."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        runbook, kind = data.get("runbook"), data.get("kind")
        if kind is None and isinstance(runbook, str) and runbook in IMPLIED_KIND:
            # `runbook: dependency-unreachable` (v1's way to say it) means an external API.
            data["kind"] = IMPLIED_KIND[runbook]
        if not isinstance(data.get("kind"), str) or data["kind"] not in KIND_ENTRY:
            return data  # the model says what is wrong with it
        if data["kind"] == "webhook":
            data.setdefault("method", "POST")
        if data["kind"] != "service" and data.get("runbook") is None:
            data["runbook"] = KIND_ENTRY[data["kind"]]
        return data

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("expect_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("status_runbooks")
    @classmethod
    def _statuses(cls, value: dict[int, str]) -> dict[int, str]:
        wrong = [code for code in value if not 100 <= code <= 599]
        if wrong:
            raise ValueError(f"{wrong[0]} is not an HTTP status code (100-599)")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> HttpService:
        if self.body is not None and self.json_body is not None:
            raise ValueError("give body or json, not both")
        return self

    # --- what the settings mean ----------------------------------------------------------

    @property
    def own_entry(self) -> str:
        """The entry this service failing belongs to: `runbook:`, else its kind's."""
        return self.runbook or SERVICE_DOWN

    def expected(self, status: int) -> bool:
        """Whether an answer with `status` means the service is up."""
        if self.expect_status:
            return status in self.expect_status
        if self.format == "vault":
            return status in VAULT_HEALTHY
        if self.kind == "webhook" and status in WEBHOOK_REJECTS:
            return True
        return 200 <= status < 300

    def expectation(self) -> str:
        """The expected statuses, as a person reads them."""
        if self.expect_status:
            return " or ".join(map(str, self.expect_status))
        if self.format == "vault":
            return " or ".join(map(str, VAULT_HEALTHY)) + " (Vault active or standby)"
        if self.kind == "webhook":
            return "any 2xx, or 400/401/403 refusing the unsigned request"
        return "any 2xx"

    @property
    def routes(self) -> dict[int, str]:
        """Statuses whose failure belongs to another entry than `own_entry`."""
        wanted = {**KIND_ROUTES[self.kind], **self.status_runbooks}
        return {
            status: entry
            for status, entry in sorted(wanted.items())
            if entry != self.own_entry and not self.expected(status)
        }

    @property
    def report_url(self) -> str | None:
        """Where its health report is read: `detailed_url`, else `url` when a `format` is
        named (a body that says more than its status code)."""
        return self.detailed_url or (self.url if self.format != "auto" else None)

    @property
    def text_expectations(self) -> list[str]:
        """`expect_text` and `expect_regex`, as the text check states them."""
        wanted = []
        if self.expect_text is not None:
            wanted.append(f"contains {self.expect_text!r}")
        if self.expect_regex is not None:
            wanted.append(f"matches /{self.expect_regex}/")
        return wanted

    @property
    def content(self) -> bytes | None:
        """The request body to send, if any."""
        if self.json_body is not None:
            return json.dumps(self.json_body).encode()
        return None if self.body is None else self.body.encode()

    @property
    def request_headers(self) -> dict[str, str]:
        """The configured headers, with a JSON content type for a `json:` body."""
        headers = dict(self.headers)
        if self.json_body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return headers


class HttpSection(Model):
    services: list[HttpService] = Field(default_factory=list)


@dataclass(frozen=True)
class StatusRoute:
    """One status of a service that belongs to another entry than the service's own: the
    target of the check that reports it (`checks/test_http.py::test_status_routed`)."""

    service: Target[HttpService]
    status: int
    runbook: str  # the entry this status belongs to
