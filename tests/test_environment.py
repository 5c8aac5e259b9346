"""The environment model: the v1 contract, variable expansion, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.environment import expand_variables, load_environment
from vigil.errors import ConfigError
from vigil.families.dependencies.spec import StatusPage
from vigil.families.http.spec import HttpSection
from vigil.families.kubernetes.spec import KubernetesSection
from vigil.families.postgres.spec import PostgresTarget
from vigil.families.prometheus.spec import PrometheusSection
from vigil.families.redis.spec import RedisTarget
from vigil.families.tls.spec import TlsTarget
from vigil.plugin.configure import resolve_environment_paths

FULL_V1 = """
name: production
runbook_url: https://runbooks.example.com/platform
vars:
  namespace: platform-production
  replicas: 3
timeout_s: 5
http:
  services:
    - name: auth
      url: https://api.example.com/v1/auth/health
      method: get
      expect_status: [200]
      expect_json: {status: ok}
      max_latency_ms: 2000
      detailed_url: https://api.example.com/health/detailed
      severity: sev1
      ca_bundle: /etc/ssl/internal-ca.pem
postgres:
  - name: main
    dsn: ${DATABASE_URL}
    max_connection_usage: 0.8
    critical_connection_usage: 0.95
    long_query_s: 300
    idle_in_transaction_s: 600
    assertions:
      - name: payouts-stuck-pending
        query: select count(*) from payouts where status = 'pending'
        max: 0
        runbook: payment-processing-failure
redis:
  - name: cache
    url: ${REDIS_URL}
    max_memory_usage: 0.9
    max_latency_ms: 50
    queues: {"payment:retry:queue": 100}
kubernetes:
  context: prod-cluster
  namespaces: [platform-production]
  max_restarts: 5
  required_secrets: {jwt-secret: [JWT_SECRET]}
tls:
  - host: api.example.com
    port: 443
    name: public-api
    warn_days: 30
    critical_days: 7
    ca_bundle: /etc/ssl/internal-ca.pem
prometheus:
  url: http://prometheus:9090
  rules:
    - name: api-5xx-ratio
      query: sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))
      max: 0.01
      runbook: high-failure-rate
status_pages:
  - name: payment-provider
    url: https://status.payments.example.com/api/v2/summary.json
"""

SECRETS = {
    "DATABASE_URL": "postgresql://app:s3cret@db:5432/app",
    "REDIS_URL": "redis://cache:6379/0",
}


def write(tmp_path: Path, text: str, name: str = "env") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str, variables: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_environment(write(tmp_path, text), variables or {})
    assert caught.value.source.endswith("env.yaml")
    return caught.value.problems


def test_the_whole_v1_example_loads(tmp_path: Path) -> None:
    env = load_environment(write(tmp_path, FULL_V1), SECRETS)
    spec = env.spec
    assert env.name == "production"
    assert spec.vars == {"namespace": "platform-production", "replicas": "3"}
    http: HttpSection = spec.section("http")
    postgres: list[PostgresTarget] = spec.section("postgres")
    redis: list[RedisTarget] = spec.section("redis")
    kubernetes: KubernetesSection = spec.section("kubernetes")
    tls: list[TlsTarget] = spec.section("tls")
    prometheus: PrometheusSection = spec.section("prometheus")
    status_pages: list[StatusPage] = spec.section("status_pages")
    assert http.services[0].method == "GET"
    assert postgres[0].dsn == SECRETS["DATABASE_URL"]
    assert postgres[0].assertions[0].max == 0
    assert redis[0].queues == {"payment:retry:queue": 100}
    assert kubernetes.required_secrets == {"jwt-secret": ["JWT_SECRET"]}
    assert tls[0].display_name == "public-api"
    assert prometheus.rules[0].max == 0.01
    assert status_pages[0].name == "payment-provider"
    assert (
        env.link("http-service-down") == "https://runbooks.example.com/platform#http-service-down"
    )
    made = {kind: [t.name for t in targets] for kind, targets in env.targets.items() if targets}
    assert made == {
        "http_service": ["auth"],
        "http_status_route": ["auth:429"],  # its 429 belongs to rate-limit-exceeded
        "database": ["main"],
        "sql_assertion": ["main/payouts-stuck-pending"],
        "redis_server": ["cache"],
        "k8s_namespace": ["platform-production"],
        "k8s_cluster": ["prod-cluster"],
        "certificate": ["public-api"],
        "prometheus_server": ["prometheus"],
        "prometheus_rule": ["api-5xx-ratio"],
        "status_page": ["payment-provider"],
    }


def test_name_defaults_to_the_file_stem_and_sections_are_optional(tmp_path: Path) -> None:
    env = load_environment(write(tmp_path, "timeout_s: 3\n", name="staging"), {})
    assert env.name == "staging"
    assert env.spec.timeout_s == 3
    assert env.spec.section("http") is None and env.spec.section("postgres") is None
    assert env.all_targets() == []


def test_empty_file_is_an_environment_with_nothing_to_check(tmp_path: Path) -> None:
    env = load_environment(write(tmp_path, ""), {})
    assert env.spec.section("http") is None and env.all_targets() == []


def test_variables_expand_with_defaults() -> None:
    tree = {"a": "${X}", "b": ["${Y:-fallback}", "pre-${X}-post"], "c": 3}
    expanded, problems = expand_variables(tree, {"X": "1"})
    assert problems == []
    assert expanded == {"a": "1", "b": ["fallback", "pre-1-post"], "c": 3}


def test_unset_variable_names_the_key_path(tmp_path: Path) -> None:
    found = problems(tmp_path, FULL_V1, {"REDIS_URL": "redis://x"})
    assert found == [
        "postgres[0].dsn: environment variable DATABASE_URL is not set"
        " (set it, or write ${DATABASE_URL:-default})"
    ]


def test_unknown_key_names_the_key_path(tmp_path: Path) -> None:
    text = "http:\n  services:\n    - name: a\n      url: http://x/h\n      expect_stauts: [200]\n"
    assert problems(tmp_path, text) == [
        "http.services[0].expect_stauts: unknown key; did you mean expect_status?"
    ]


def test_missing_required_key(tmp_path: Path) -> None:
    assert problems(tmp_path, "redis:\n  - name: cache\n") == [
        "redis[0].url: required key is missing"
    ]


def test_wrong_type_shows_the_value(tmp_path: Path) -> None:
    found = problems(tmp_path, "timeout_s: soon\n")
    assert len(found) == 1 and found[0].startswith("timeout_s: ") and "'soon'" in found[0]


def test_bad_severity_override(tmp_path: Path) -> None:
    text = "http:\n  services:\n    - name: a\n      url: http://x/h\n      severity: sev9\n"
    found = problems(tmp_path, text)
    assert found and all(p.startswith("http.services[0].severity") for p in found)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "http:\n  services: [\n")
    assert len(found) == 1 and "not valid YAML" in found[0] and found[0].startswith("line ")


def test_not_a_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path, "- a\n- b\n") == ["(top): expected a mapping of sections, got a list"]


def test_duplicate_target_names(tmp_path: Path) -> None:
    text = "redis:\n  - {name: c, url: 'redis://a'}\n  - {name: c, url: 'redis://b'}\n"
    assert problems(tmp_path, text) == ["redis: name 'c' is used twice"]


def test_a_password_in_a_bad_url_is_not_repeated(tmp_path: Path) -> None:
    text = "http:\n  services:\n    - name: a\n      url: ftp://u:hunter2secret@x/\n"
    found = problems(tmp_path, text)
    assert found and "hunter2secret" not in " ".join(found)


def test_values_from_variables_are_the_secrets_but_public_ones(tmp_path: Path) -> None:
    text = "postgres:\n  - name: main\n    dsn: postgresql://app:${PW}@${HOST}:5432/app\n"
    variables = {"PW": "s3cret-pw", "HOST": "db.internal", "UNUSED": "never-read"}
    env = load_environment(write(tmp_path, text), variables, public=["HOST"])
    assert env.secrets == {"s3cret-pw"}
    assert env.targets["database"][0].spec.dsn == "postgresql://app:s3cret-pw@db.internal:5432/app"


def test_a_file_over_one_mebibyte_is_not_read(tmp_path: Path) -> None:
    padding = "# " + "x" * 1000 + "\n"
    found = problems(tmp_path, "timeout_s: 3\n" + padding * 1100)
    assert found == ["(top): the file is larger than 1024 KiB; not read"]


def test_env_arguments_resolve_names_paths_and_all(tmp_path: Path) -> None:
    for name in ("production", "staging", "prod.example"):
        write(tmp_path, "", name)
    other = write(tmp_path, "", "elsewhere")
    assert resolve_environment_paths(["all"], tmp_path) == [
        tmp_path / "elsewhere.yaml",
        tmp_path / "production.yaml",
        tmp_path / "staging.yaml",
    ]
    assert resolve_environment_paths(["staging", str(other), "staging"], tmp_path) == [
        tmp_path / "staging.yaml",
        other,
    ]
    with pytest.raises(pytest.UsageError, match="there is no"):
        resolve_environment_paths(["nope"], tmp_path)


def test_the_shipped_example_file_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "environments" / "production.example.yaml"
    variables = {
        "DATABASE_URL": "postgresql://u:p@127.0.0.1/d",
        "DATABASE_REPLICA_URL": "postgresql://u:p@127.0.0.1/d",
        "REDIS_MONITOR_PASSWORD": "s3cret-monitor",
        "AUTH_HEALTH_TOKEN": "t0ken",
        "PROMETHEUS_TOKEN": "t0ken",
    }
    env = load_environment(example, variables)
    assert env.name == "production"
    sections = ("http", "postgres", "redis", "kubernetes", "tls", "prometheus", "status_pages")
    assert all(env.spec.section(name) for name in sections)
