"""Environment files never crash a run (issue 11, item 3): a deep, huge, self-referencing or
unreadable file is that file's failed `environment[NAME]` check with one line naming the file
and the key; the other environments run; there is no INTERNALERROR, and it is quick."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SuiteRun, run_in_process, write_env
from tests.servers import Endpoint, HttpServer
from vigil.environment import load_environment
from vigil.errors import ConfigError

# Nine levels of nine aliases: 9**9 values once expanded, from a file of 500 bytes.
ALIAS_BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)
PASSWORD = "Zq/9xk2Lw"  # a generated password with an unencoded `/`

BROKEN: dict[str, str | bytes] = {
    "deep-lists": "http: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep-mappings": "vars: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "\n",
    "deep-blocks": "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n",
    "aliases": ALIAS_BOMB,
    "self": "vars: &v {a: *v}\n",
    "port": "postgres:\n  - name: main\n    dsn: postgresql://app:secret@127.0.0.1:54x2/app\n",
    "password": f"postgres:\n  - name: main\n    dsn: postgresql://app:{PASSWORD}@127.0.0.1:5432/a\n",
    "url": "http:\n  services:\n    - name: api\n      url: http://[::1/health\n",
    "date": "vars:\n  since: 2026-13-45\n",
    "tagged": "timeout_s: !!int soon\n",
    "python": "vars: !!python/object/apply:os.system ['true']\n",
    "binary": b"timeout_s: 3\n\xff\xfe\n",
    "key": "? [a, b]\n: 1\n",
}

# What each problem line must say, beside the file's name.
EXPECTED = {
    "deep-lists": "nest",
    "deep-mappings": "nest",
    "deep-blocks": "k0: nested more than 64 levels deep",
    "aliases": "YAML aliases expand to more than",
    "self": "vars: a value contains itself",
    "port": "postgres[0].dsn: the host or port cannot be read",
    "password": "postgres[0].dsn: the host or port cannot be read",
    "url": "http.services[0].url: the host or port cannot be read",
    "date": "line 2: not valid YAML: cannot read '2026-13-45' as a date",
    "tagged": "line 1: not valid YAML: cannot read 'soon' as a whole number",
    "python": "line 1: not valid YAML: could not determine a constructor",
    "binary": "not UTF-8",
    "key": "line 1: not valid YAML: found unhashable key",
}


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / f"{name}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_file_is_one_line_naming_file_and_key(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, BROKEN[name])
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_environment(path, {})
    seconds = time.monotonic() - started
    assert caught.value.source == str(path)
    assert len(caught.value.problems) == 1, caught.value.problems
    line = caught.value.problems[0]
    assert EXPECTED[name] in line and "\n" not in line
    assert PASSWORD[:3] not in str(caught.value)  # the start of a password is never shown
    assert seconds < 3 * 2.0, f"{name} took {seconds:.1f} s"  # 3x a bound of 2 s per file


def test_a_50_mb_file_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as handle:
        handle.write("vars:\n")
        line = "  k{}: " + "x" * 80 + "\n"
        for number in range(50 * 1024 * 1024 // len(line)):
            handle.write(line.format(number))
    assert path.stat().st_size >= 50_000_000
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_environment(path, {})
    assert caught.value.problems == ["(top): the file is larger than 1024 KiB; not read"]
    assert time.monotonic() - started < 3 * 0.5  # it reads 1 MiB, not 50


def test_the_shapes_still_allowed(tmp_path: Path) -> None:
    """Anchors used a few times, merge keys and multi-host DSNs still load."""
    text = (
        "redis:\n"
        "  - &first {name: a, url: 'redis://127.0.0.1:6379/0', max_memory_usage: 0.8}\n"
        "  - {<<: *first, name: b}\n"
        "postgres:\n"
        "  - {name: db, dsn: 'postgresql://app@10.0.0.1:5432,10.0.0.2:5433/app'}\n"
    )
    environment = load_environment(write(tmp_path, "shapes", text), {})
    assert [t.spec.max_memory_usage for t in environment.targets["redis_server"]] == [0.8, 0.8]
    assert [t.name for t in environment.targets["database"]] == ["db"]


def test_every_broken_file_is_its_own_failed_check_and_the_good_one_runs(
    tmp_path: Path,
    run_suite: Callable[..., SuiteRun],
    http_server: Callable[..., HttpServer],
) -> None:
    """One run with every broken file and a good one: each broken file is its failed
    `environment[NAME]` check naming the file; the good environment is checked; no
    INTERNALERROR; two files with one `name:` are both reported and the others run."""
    server = http_server({"/health": Endpoint(200, {"status": "ok"})})
    good = write_env(
        tmp_path,
        "good",
        f"http:\n  services:\n    - name: api\n      url: {server.url('/health')}\n",
    )
    broken = [write(tmp_path, name, content) for name, content in BROKEN.items()]
    twins = [
        write_env(tmp_path, name, f"name: twin\nvars: {{which: {name}}}\n")
        for name in ("twin-a", "twin-b")
    ]
    args = [f"--env={path}" for path in [good, *broken, *twins]]
    run = run_suite(*args)
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output, run.output[-3000:]
    outcomes = run.outcomes()
    assert outcomes["test_health_endpoint[good/api]"] == "passed"
    for path in [*broken, *twins]:
        assert outcomes[f"environment[{path.stem}]"] == "failed", path
        assert str(path) in run.output
    for name, expected in EXPECTED.items():
        assert f"{tmp_path / name}.yaml: " in run.output and expected in run.output, name
    assert "is also the name of" in run.output
    assert PASSWORD[:3] not in run.output
    assert run.returncode == 1
    assert run.seconds < run.budget(2.0)  # a file is read in well under 2 s


def test_env_all_skips_files_that_are_not_environments(pytester: pytest.Pytester) -> None:
    """A cluster dump or an unrelated YAML file next to the environment files is passed
    over by `--env all`, with a note saying why, while a broken environment file is not."""
    pytester.makeconftest('pytest_plugins = ["vigil.plugin"]')
    pytester.mkdir("checks")
    environments = pytester.mkdir("environments")
    (environments / "staging.yaml").write_text("vars: {a: b}\n")
    (environments / "broken.yaml").write_text("http: [\n")
    (environments / "dump.yaml").write_text("apiVersion: v1\nkind: List\nitems: []\n")
    (environments / "notes.yaml").write_text("htp:\n  services: []\nowner: team\n")
    (pytester.path / "checks" / "test_x.py").write_text("def test_nothing():\n    pass\n")
    result = run_in_process(pytester, "checks", "--env", "all", "-p", "no:cacheprovider")
    output = result.stdout.str()
    assert "dump.yaml: skipped, not an environment file (apiVersion/kind at the top" in output
    assert "notes.yaml: skipped, not an environment file (no known top-level key;" in output
    assert "did you mean htp -> http?" in output
    result.assert_outcomes(passed=1, failed=1)  # the check, and environment[broken]
    assert "INTERNALERROR" not in output
