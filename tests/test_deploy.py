"""deploy/: the CronJob and the image definition refer to options and files that exist."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ROOT, run_in_process


def test_cronjob_runs_one_pod_per_environment_with_real_options(
    pytester: pytest.Pytester,
) -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "cronjob.yaml").read_text()))
    cronjob = next(d for d in documents if d["kind"] == "CronJob")
    job = cronjob["spec"]["jobTemplate"]["spec"]
    container = job["template"]["spec"]["containers"][0]
    environments = next(e["value"] for e in container["env"] if e["name"] == "VIGIL_ENVIRONMENTS")
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] == len(environments.split())
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    script = container["args"][0]
    used = set(re.findall(r"(--[a-z][a-z-]+)", script))
    assert {"--env", "--deadline", "--report-dir", "--junitxml", "--pushgateway"} <= used
    shown = run_in_process(pytester, "-p", "vigil.plugin", "--help")
    assert shown.ret == pytest.ExitCode.OK
    help_text = shown.stdout.str()
    assert "Vigil smoke and readiness checks" in help_text  # the plugin's options are listed
    aliases = {"--junitxml": "--junit-xml"}  # pytest lists only the first spelling
    for option in used:
        assert aliases.get(option, option) in help_text, f"{option} is not a pytest option"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/app/environments", "/reports", "/tmp"} <= mounts
    assert any(d["kind"] == "PersistentVolumeClaim" for d in documents)


def test_image_copies_what_the_suite_needs() -> None:
    text = (ROOT / "deploy" / "Containerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", text, flags=re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"COPY {path}: no such file in the project"
    assert "USER 10001" in text and 'ENTRYPOINT ["pytest", "checks"' in text
