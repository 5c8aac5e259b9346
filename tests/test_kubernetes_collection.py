"""Which Kubernetes checks an environment file collects: a check whose setting is absent is
not collected (README, "Environment files")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import SuiteRun, write_env

FIXTURE = Path(__file__).parent / "fixtures" / "kubernetes" / "shop-incident.yaml"


def collected(run_suite: Callable[..., SuiteRun], env: Path) -> str:
    run = run_suite("--env", str(env), "--collect-only", "-q")
    assert run.returncode == 0, run.output[-3000:]
    return run.output


def test_shared_secrets_check_is_collected_for_a_key_required_twice(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    env = write_env(
        tmp_path,
        "twice",
        f"kubernetes:\n  snapshot: {FIXTURE}\n  namespaces: [shop]\n"
        "  required_secrets: {web-secrets: [JWT_SECRET], search-secrets: [JWT_SECRET]}\n",
    )
    assert "test_shared_secrets_consistent[twice/shop]" in collected(run_suite, env)


def test_shared_secrets_check_is_not_collected_without_a_shared_key(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    env = write_env(
        tmp_path,
        "alone",
        f"kubernetes:\n  snapshot: {FIXTURE}\n  namespaces: [shop]\n"
        "  required_secrets: {web-secrets: [JWT_SECRET]}\n",
    )
    output = collected(run_suite, env)
    assert "test_required_secrets_present[alone/shop]" in output
    assert "test_shared_secrets_consistent" not in output
