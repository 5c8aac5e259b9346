"""Ready-made Prometheus rules: the runbooks' metric symptoms as presets to switch on.

An environment file enables a preset under `prometheus.presets`, with options or none:

    presets:
      error_ratio: {max: 0.01, selector: 'job="api"'}
      p95_latency: {max_s: 0.5}
      freshness: {timestamp_metric: analytics_last_ingest_timestamp_seconds}

`expand_presets(presets)` validates the options and returns one rule (a plain mapping with the
keys of `PrometheusRule`) per preset, with its PromQL written out and its runbook entry set. A
preset may also be given a list of option mappings (each with its own `name`) to check several
jobs, or two tiers (a lower ceiling naming the warning entry with `runbook:`). Problems raise
`ValueError` naming the preset and the option, with the fix.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_WINDOW = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_FIRING = 'alertstate="firing"'


class _Preset(BaseModel):
    """Options every preset takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    selector: str = ""  # label matchers without braces, e.g. job="api",env="prod"
    window: str = "5m"
    by: list[str] = Field(default_factory=list)
    severity: Literal["sev1", "sev2", "sev3", "sev4"] | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    runbook: str | None = None  # e.g. the warning tier's entry for a second, lower ceiling

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        if not _WINDOW.match(value):
            raise ValueError(f"window must be a PromQL duration such as 5m or 1h, got {value!r}")
        return value

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError(f"selector takes label matchers without braces, got {value!r}")
        return value.strip().strip(",")

    @field_validator("by")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        bad = [label for label in value if not _LABEL.match(label)]
        if bad:
            raise ValueError(f"by takes label names, got {bad}")
        return value

    def series(self, metric: str, *extra: str) -> str:
        """`metric{selector,extra...}`."""
        _metric_name(metric)
        matchers = [m for m in (self.selector, *extra) if m]
        return f"{metric}{{{','.join(matchers)}}}"

    def sum_rate(self, metric: str, *extra: str) -> str:
        grouping = f" by ({', '.join(self.by)})" if self.by else ""
        return f"sum{grouping} (rate({self.series(metric, *extra)}[{self.window}]))"


class ErrorRatio(_Preset):
    """Share of requests answered with a 5xx status."""

    max: float = Field(default=0.05, gt=0, le=1)
    metric: str = "http_requests_total"
    code_label: str = "code"
    error_codes: str = "5.."

    def query(self) -> str:
        errors = f'{self.code_label}=~"{self.error_codes}"'
        return f"{self.sum_rate(self.metric, errors)} / {self.sum_rate(self.metric)}"


class P95Latency(_Preset):
    """A latency quantile (default p95) from a Prometheus histogram."""

    max_s: float = Field(default=0.5, gt=0)
    quantile: float = Field(default=0.95, gt=0, lt=1)
    metric: str = "http_request_duration_seconds"

    def query(self) -> str:
        grouping = ", ".join(["le", *self.by])
        buckets = self.series(f"{self.metric}_bucket")
        return (
            f"histogram_quantile({self.quantile:g}, sum by ({grouping})"
            f" (rate({buckets}[{self.window}])))"
        )


class FailureRatio(_Preset):
    """Failed operations over all operations, from two counters."""

    max: float = Field(default=0.05, gt=0, le=1)
    failures: str
    total: str

    def query(self) -> str:
        return f"{self.sum_rate(self.failures)} / {self.sum_rate(self.total)}"


class PaymentFailureRatio(FailureRatio):
    failures: str = "payment_failures_total"
    total: str = "payment_attempts_total"


class FailureRate(_Preset):
    """Failures per second from one counter; the ceiling has no universal default."""

    max: float = Field(ge=0)
    metric: str = "health_check_failures_total"

    def query(self) -> str:
        return self.sum_rate(self.metric)


class RequestRate(_Preset):
    """Requests per second: a ceiling (`max`) and optionally a floor (`min`)."""

    max: float | None = Field(default=None, gt=0)
    min: float | None = Field(default=None, ge=0)
    metric: str = "http_requests_total"

    @model_validator(mode="after")
    def _bound(self) -> RequestRate:
        if self.max is None and self.min is None:
            raise ValueError("give max (requests per second; there is no universal default)")
        return self

    def query(self) -> str:
        return self.sum_rate(self.metric)


class Freshness(_Preset):
    """Age of the newest data: of the newest sample of `metric`, or the value of a gauge that
    holds a Unix timestamp (`timestamp_metric`, e.g. a worker's last successful run)."""

    max_s: float = Field(default=5400, gt=0)
    metric: str | None = None
    timestamp_metric: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Freshness:
        if (self.metric is None) == (self.timestamp_metric is None):
            raise ValueError("give exactly one of metric or timestamp_metric")
        return self

    def query(self) -> str:
        if self.timestamp_metric:
            return f"time() - max({self.series(self.timestamp_metric)})"
        return f"time() - max(timestamp({self.series(self.metric or '')}))"


class FiringAlerts(_Preset):
    """Alerts of one severity label firing in Prometheus (none is healthy)."""

    max: float = Field(default=0, ge=0)
    alert_severity: str = "critical"

    def query(self) -> str:
        severity = f'severity="{self.alert_severity}"' if self.alert_severity else ""
        return f"count({self.series('ALERTS', _FIRING, severity)})"


Unit = Literal["ratio", "seconds", "per_second", "count"]

# preset name -> (options model, runbook entry, unit of the value)
PRESETS: dict[str, tuple[type[_Preset], str, Unit]] = {
    "error_ratio": (ErrorRatio, "high-error-rate", "ratio"),
    "p95_latency": (P95Latency, "high-api-latency", "seconds"),
    "payment_failure_ratio": (PaymentFailureRatio, "payment-processing-failure", "ratio"),
    "failure_ratio": (FailureRatio, "high-failure-rate", "ratio"),
    "health_check_failures": (FailureRate, "health-check-failures", "per_second"),
    "request_rate": (RequestRate, "request-rate-spike", "per_second"),
    "freshness": (Freshness, "metric-ingestion-lag", "seconds"),
    "firing_alerts": (FiringAlerts, "alerts-firing", "count"),
}


def expand_presets(presets: dict[str, Any]) -> list[dict[str, Any]]:
    """One rule mapping per enabled preset; `ValueError` names the preset and option at fault."""
    rules: list[dict[str, Any]] = []
    for key, raw in presets.items():
        if key not in PRESETS:
            raise ValueError(f"unknown preset {key!r} (known: {', '.join(PRESETS)})")
        items = raw if isinstance(raw, list) else [raw]
        for index, options in enumerate(items):
            where = key if not isinstance(raw, list) else f"{key}[{index}]"
            if options is None:
                options = {}
            if not isinstance(options, dict):
                raise ValueError(f"{where}: expected a mapping of options, got {options!r}")
            rules += _rules(key, where, options)
    return rules


def _rules(key: str, where: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    model, runbook, unit = PRESETS[key]
    try:
        preset = model.model_validate(options)
        query = preset.query()  # type: ignore[attr-defined]
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "".join(f".{p}" for p in first["loc"])
        if first["type"] == "extra_forbidden":
            known = ", ".join(model.model_fields)
            raise ValueError(f"{where}{option}: unknown option (known: {known})") from None
        if first["type"] == "missing":
            raise ValueError(f"{where}{option}: required option is missing") from None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{where}{option}: {message}") from None
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    common: dict[str, Any] = {
        "name": preset.name or key,
        "query": query,
        "runbook": preset.runbook or runbook,
        "unit": unit,
        "severity": preset.severity,
        "timeout_s": preset.timeout_s,
    }
    if isinstance(preset, RequestRate):
        rules = []
        if preset.max is not None:
            rules.append(common | {"max": preset.max})
        if preset.min is not None:
            floor = common | {"name": f"{common['name']}-floor", "runbook": "request-rate-drop"}
            rules.append(floor | {"min": preset.min})
        return rules
    bound = getattr(preset, "max_s", None)
    if bound is None:
        bound = preset.max  # type: ignore[attr-defined]
    return [common | {"max": bound, "allow_empty": isinstance(preset, FiringAlerts)}]


def _metric_name(metric: str) -> None:
    if not _METRIC.match(metric):
        raise ValueError(f"{metric!r} is not a metric name")
