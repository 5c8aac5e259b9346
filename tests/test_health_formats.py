"""Health reports in the formats real servers write, served over HTTP with their real status
codes, read through the probe as a run reads them: names, statuses, ranking, timings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.probing import load_targets, observe
from tests.servers import Endpoint, HttpServer
from vigil.families.http.formats import detect, read_report
from vigil.families.http.report import ComponentReport, Level, duration_ms

SAMPLES = Path(__file__).parent / "fixtures" / "health"
Start = Callable[..., HttpServer]


@dataclass(frozen=True)
class Sample:
    file: str
    status: int  # what the server in question answers with this body
    format: str  # what `auto` must recognise it as
    level: Level | None  # the overall level, as the format's own aggregator ranks it
    bad: tuple[str, ...]  # the components that are not OK, by the names the report gives
    content_type: str = "application/json"


SAMPLES_TABLE = [
    # Spring's aggregator ranks UNKNOWN below UP: an UP report with an uninitialised
    # discovery client is healthy, and composites keep their names (db/primary).
    Sample("spring3-up-unknown.json", 200, "spring", Level.OK, ()),
    Sample("spring3-down-nested.json", 503, "spring", Level.DOWN, ("db/secondary", "mail")),
    Sample("spring20-details.json", 503, "spring", Level.DOWN, ("db",)),
    Sample("spring1-top-level.json", 503, "spring", Level.DOWN, ("db",)),
    Sample(
        "health-json-warn.json",
        200,
        "health+json",
        Level.DEGRADED,
        ("cpu:utilization [node 1]",),
        "application/health+json",
    ),
    Sample("aspnet-ui-degraded.json", 200, "aspnet", Level.DEGRADED, ("redis",)),
    Sample("aspnet-plain-degraded.txt", 200, "aspnet", Level.DEGRADED, (), "text/plain"),
    Sample("aspnet-plain-healthy.txt", 200, "aspnet", Level.OK, (), "text/plain"),
    Sample("health-go-partial.json", 200, "health-go", Level.DEGRADED, ("rabbitmq",)),
    Sample("health-go-unavailable.json", 503, "health-go", Level.DOWN, ("mongodb",)),
    Sample("alexliesenfeld-down.json", 503, "alexliesenfeld", Level.DOWN, ("search",)),
    Sample("elasticsearch-red.json", 200, "elasticsearch", Level.DOWN, ()),
    Sample(
        "elasticsearch-yellow-indices.json",
        200,
        "elasticsearch",
        Level.DEGRADED,
        ("index audit-2024.06",),
    ),
    Sample("consul-service-critical.json", 200, "consul", Level.DOWN, ("node-a/service:web-1",)),
    Sample("consul-checks-warning.json", 200, "consul", Level.DEGRADED, ("node-a/service:redis",)),
    Sample("kube-readyz-failed.txt", 500, "kubernetes", Level.DOWN, ("etcd",), "text/plain"),
    Sample("kube-readyz-ok.txt", 200, "kubernetes", Level.OK, (), "text/plain"),
    Sample("vault-active.json", 200, "vault", Level.OK, ()),
    Sample("vault-standby.json", 429, "vault", Level.OK, ()),
    Sample("vault-performance-standby.json", 473, "vault", Level.OK, ()),
    Sample("vault-sealed.json", 503, "vault", Level.DOWN, ()),
    Sample("vault-uninitialized.json", 501, "vault", Level.DOWN, ()),
    Sample("checks-list-slow.json", 200, "checks", Level.OK, ()),
]


def serve(http_server: Start, sample: Sample) -> HttpServer:
    body = (SAMPLES / sample.file).read_bytes()
    return http_server({"/report": Endpoint(sample.status, body, content_type=sample.content_type)})


def report_of(tmp_path: Path, server: HttpServer, extra: str = "") -> ComponentReport:
    [target] = load_targets(
        tmp_path,
        "http_service",
        "http:\n  services:\n    - name: svc\n"
        f"      url: {server.url('/report')}\n      detailed_url: {server.url('/report')}\n"
        + extra,
    )
    report: ComponentReport = observe("http_components", target)
    return report


@pytest.mark.parametrize("sample", SAMPLES_TABLE, ids=[s.file for s in SAMPLES_TABLE])
def test_each_format_is_read_with_its_names_and_ranking(
    http_server: Start, tmp_path: Path, sample: Sample
) -> None:
    server = serve(http_server, sample)
    report = report_of(tmp_path, server)
    assert report.error is None, report.error
    assert report.response.status == sample.status
    assert report.format == sample.format
    assert report.level == sample.level, (report.overall, report.level)
    assert tuple(c.name for c in report.components if not c.healthy) == sample.bad
    assert report.healthy == (sample.level is Level.OK and not sample.bad)


def test_names_of_every_part_survive(http_server: Start, tmp_path: Path) -> None:
    sample = SAMPLES_TABLE[0]
    report = report_of(tmp_path, serve(http_server, sample))
    assert [c.name for c in report.components] == [
        "db/primary",
        "db/secondary",
        "discoveryComposite/discoveryClient",
        "diskSpace",
        "ping",
        "refreshScope",
        "ssl",
    ]
    unknown = report.components[2]
    assert unknown.status == "UNKNOWN" and unknown.healthy
    assert unknown.detail == "Discovery Client not initialized"


def test_response_times_are_read_in_milliseconds(http_server: Start, tmp_path: Path) -> None:
    times = {}
    for name in ("aspnet-ui-degraded.json", "health-json-warn.json", "checks-list-slow.json"):
        sample = next(s for s in SAMPLES_TABLE if s.file == name)
        report = report_of(tmp_path, serve(http_server, sample))
        times[name] = {c.name: c.response_ms for c in report.components}
    aspnet, health_json, checks = times.values()
    assert aspnet["redis"] == 7200  # .NET TimeSpan 00:00:07.2000000
    assert aspnet["npgsql"] == pytest.approx(24.092, abs=0.001)
    assert health_json["cassandra:responseTime"] == 7200  # observedValue, observedUnit ms
    assert health_json["cpu:utilization [node 1]"] is None  # a percentage is no time
    assert checks["manifest-store"] == 7200 and checks["redis"] == 4  # plain milliseconds


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (250, None, 250.0),
        ("450ms", None, 450.0),
        ("1.2s", None, 1200.0),
        ("00:00:07.2000000", None, 7200.0),
        ("1.00:00:00", None, 86_400_000.0),
        (2, "s", 2000.0),
        (85, "percent", None),
        ("fast", None, None),
        (True, None, None),
    ],
)
def test_durations(value: object, unit: object, expected: float | None) -> None:
    assert duration_ms(value, unit) == expected


def test_a_named_format_reads_the_health_url_itself(http_server: Start, tmp_path: Path) -> None:
    """`format:` without `detailed_url`: the health URL's own body is the report, asked once."""
    sample = next(s for s in SAMPLES_TABLE if s.file == "elasticsearch-red.json")
    server = serve(http_server, sample)
    [target] = load_targets(
        tmp_path,
        "http_service",
        "http:\n  services:\n    - name: es\n"
        f"      url: {server.url('/report')}\n      format: elasticsearch\n",
    )
    from vigil.session import ProbeSession

    with ProbeSession() as session:
        response = observe("http_response", target, session)
        report: ComponentReport = observe("http_components", target, session)
    assert response.status == 200 and report.overall == "red" and report.level is Level.DOWN
    assert "4 unassigned shards" in report.note
    assert server.requests == [("GET", "/report")]  # one request for both observations


def test_a_body_of_another_format_is_an_error_not_a_guess(
    http_server: Start, tmp_path: Path
) -> None:
    sample = next(s for s in SAMPLES_TABLE if s.file == "consul-checks-warning.json")
    report = report_of(tmp_path, serve(http_server, sample), "      format: spring\n")
    assert report.error is not None and "spring" in report.error
    text = http_server({"/report": Endpoint(200, b"all good", content_type="text/plain")})
    plain = report_of(tmp_path, text)
    assert plain.error is not None and "'all good'" in plain.error


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": "UP"}, "spring"),
        ({"status": "up", "details": {}}, "alexliesenfeld"),
        ({"status": "pass", "checks": {}}, "health+json"),
        ({"status": "Healthy", "entries": {}}, "aspnet"),
        ({"status": "OK", "failures": {}}, "health-go"),
        ([{"Node": "a", "CheckID": "x", "Status": "passing"}], "consul"),
        ({"initialized": True, "sealed": False}, "vault"),
        ({"overallStatus": "healthy", "checks": []}, "checks"),
        ([1, 2], None),
        ({"items": []}, None),
    ],
)
def test_shapes_are_recognised(body: object, expected: str | None) -> None:
    assert detect(body, "") == expected


def test_hostile_shapes_never_raise() -> None:
    bodies: tuple[object, ...] = (
        {"status": ["UP"]},
        {"status": "UP", "components": {"db": None, "x": {"status": None}}},
        {"checks": {"a": [None, 1, "x"]}},
        {"entries": {"a": []}},
        [None, {"Checks": [None, {}]}],
        {"status": "green", "indicators": {"x": 3}},
    )
    for body in bodies:
        for form in ("auto", "spring", "health+json", "aspnet", "consul", "elasticsearch"):
            read_report(body, "", 200, form)  # a reading or an error, never an exception
