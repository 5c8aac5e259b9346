"""Masking secrets in free text: URLs, libpq keywords, tokens, headers; the values a run was
given as secrets, however encoded; and control characters from a target, made inert."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SuiteRun, write_env
from tests.sentinels import Sentinel, find_leaks
from tests.servers import Endpoint, HttpServer
from vigil.environment import load_environment
from vigil.redact import MASK, Redactor, configured_secrets, inert, redact_text, redact_url
from vigil.settings import Model


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://app:s3cret@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("redis://u:p@ssw0rd-tail@127.0.0.1:9/0", "redis://u:***@127.0.0.1:9/0"),
        ("redis://:onlypass@h:6379/0", "redis://:***@h:6379/0"),
        ("host=db password=a1;tail user=u", "host=db password=*** user=u"),
        ("password='ab\\'cd ef' host=x", "password=*** host=x"),
        ("http://h/x?access_token=abc&b=1", "http://h/x?access_token=***&b=1"),
        ("X-Api-Key: abc123", "X-Api-Key: ***"),
        ("Authorization: Bearer abcdefgh12345", "Authorization: Bearer ***"),
        ("{'password': 'abc', 'host': 'h'}", "{'password': ***, 'host': 'h'}"),
        ("tokens_total=5 passed", "tokens_total=5 passed"),
    ],
)
def test_secrets_are_masked(text: str, masked: str) -> None:
    assert redact_text(text) == masked


def test_a_user_name_alone_in_a_url_is_masked_as_a_token() -> None:
    assert redact_url("redis://tok3n@h:6379/0") == "redis://***@h:6379/0"


@pytest.mark.parametrize(
    "prose",
    [
        "JWT_SECRET: 2 different values: value 1 in web-secrets",
        "secret/api-token: does not exist",
        "password reset emails are queued",
    ],
)
def test_prose_about_secrets_stays_readable(prose: str) -> None:
    assert redact_text(prose) == prose


def test_the_redactor_masks_configured_secrets_in_every_encoding() -> None:
    """A value that came from `${VAR}` is masked wherever it shows up, raw or URL-encoded,
    even where no pattern would recognise it as a secret."""
    clean = Redactor(["p@ss word/+1", "tok-7f3a9c"])
    text = (
        "login p@ss word/+1 failed; GET /x?k=p%40ss%20word%2F%2B1 and k=p%40ss+word%2F%2B1;"
        " header tok-7f3a9c"
    )
    assert clean(text) == "login *** failed; GET /x?k=*** and k=***; header ***"


def test_the_redactor_keeps_short_values_but_still_masks_patterns() -> None:
    # MIN_SECRET_CHARS: a value under 4 characters is not masked by value.
    clean = Redactor(["on", "1"])  # masking "on" would ruin every report
    assert clean("connection on port 1") == "connection on port 1"
    assert clean("redis://u:on@h:6379/0") == "redis://u:***@h:6379/0"


def test_control_characters_from_a_target_are_made_inert() -> None:
    """A body or an error message cannot clear the screen, retitle the terminal or rewrite a
    line: escapes, bell, carriage return and line separators are shown, not obeyed."""
    hostile = "ok\x1b[2J\x1b]0;pwned\x07\rdone\u2028x\nnext\tcol"
    shown = inert(hostile)
    assert shown.startswith("ok\\x1b[2J\\x1b]0;pwned\\x07\\x0ddone")
    assert shown.endswith("x\nnext\tcol")  # newlines and tabs are kept
    assert not any(ch in shown for ch in "\x1b\x07\r\u2028")
    one_line = Redactor()(hostile, newlines=False)
    assert "\n" not in one_line and "\t" not in one_line and one_line.endswith("x next col")


# --- URL passwords that parsers cannot read, and credentials in query strings ----------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # A raw `/`, `?`, `#`, `@`, `:` or `%` in a password: masked to the URL's last `@`.
        ("postgresql://app:pa/ss@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("redis://:a/b#c?d@h:6379/0", "redis://:***@h:6379/0"),
        ("http://svc:x:y@z%/w@127.0.0.1:9/health", "http://svc:***@127.0.0.1:9/health"),
        ('psql "postgresql://a:#p/w@db/app" -c "select 1"',
         'psql "postgresql://a:***@db/app" -c "select 1"'),
        # A port is not a password, whatever follows it.
        ("http://h:8080/x?mail=a@b.example", "http://h:8080/x?mail=a@b.example"),
        ("refused by 127.0.0.1:5432 (no one)", "refused by 127.0.0.1:5432 (no one)"),
        # Credential-like query parameters, up to the next `&`.
        ("GET https://h/p?X-Amz-Credential=AK/2024/s3&X-Amz-Signature=f00d&a=1",
         "GET https://h/p?X-Amz-Credential=***&X-Amz-Signature=***&a=1"),
        ("https://h/p?key=k1&apikey=k2&api_key=k3&sig=s&token=t&page=2",
         "https://h/p?key=***&apikey=***&api_key=***&sig=***&token=***&page=2"),
        ("https://h/cb#access_token=t0k&state=xyz", "https://h/cb#access_token=***&state=xyz"),
        ("https://h/p?PASSWORD=a&Client_Secret=b", "https://h/p?PASSWORD=***&Client_Secret=***"),
        ("https://h/p?sort_by=name&keys=3", "https://h/p?sort_by=name&keys=3"),
        # What URL parsers print of a port they cannot read: the start of such a password.
        ("invalid URL: Invalid port: 'p4ss'", "invalid URL: Invalid port: '***'"),
        ("Port could not be cast to integer value as 'p4ss'",
         "Port could not be cast to integer value as '***'"),
        ('invalid integer value "p4ss" for connection option "port"',
         'invalid integer value "***" for connection option "port"'),
        ("Invalid port: '5432'", "Invalid port: '5432'"),
    ],
)  # fmt: skip
def test_url_passwords_and_query_credentials_are_masked_by_pattern(text: str, masked: str) -> None:
    assert redact_text(text) == masked


# --- what an environment file registers as secrets -------------------------------------------


def _secrets_of(tmp_path: Path, text: str, variables: dict[str, str] | None = None) -> set[str]:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return set(load_environment(path, variables or {}).secrets)


def test_a_loaded_file_registers_every_secret_it_configures(tmp_path: Path) -> None:
    basic = base64.b64encode(b"probe:basic-pw-9").decode()
    text = f"""
http:
  services:
    - name: api
      url: "https://user:http%2Fpw%231@api.example.com/health?access_token=query-tok-1&page=2"
      detailed_url: https://tok3n-as-user@api.example.com/detailed?X-Amz-Signature=amz-sig-1
      headers:
        Authorization: Bearer bearer-tok-1
        Cookie: "session=cookie-val-1; csrf=csrf-val-1"
        X-Vault-Token: vault-tok-1
        X-Auth: "Basic {basic}"
        Accept: application/json
postgres:
  - name: url
    dsn: postgresql://app:pg%2Fpw%401@db.example.com:5432/app
  - name: keywords
    dsn: "host=db user=app password='kw pw\\\\'1' dbname=app"
redis:
  - name: cache
    url: redis://:${{REDIS_PW}}@cache.example.com:6379/0
    queues: {{"payment:retry:queue": 100}}
prometheus:
  url: https://prom.example.com?key=prom-key-1
  headers: {{Authorization: "Bearer ${{PROM_TOKEN}}"}}
kubernetes:
  snapshot: dump.yaml
  required_secrets: {{jwt-secret: [JWT_SECRET]}}
  shared_secret_keys: [JWT_SECRET]
status_pages:
  - name: provider
    url: https://status.example.com/api/v2/summary.json?api_key=status-key-1
"""
    found = _secrets_of(tmp_path, text, {"REDIS_PW": "redis-pw-1", "PROM_TOKEN": "prom-tok-1"})
    assert found >= {
        "http/pw#1",  # a password with `/` and `#` (percent-encoded in the file), as meant
        "user:http/pw#1",  # what a Basic header of that URL encodes
        "query-tok-1",
        "tok3n-as-user",  # a token as the whole userinfo of a web URL
        "amz-sig-1",
        "bearer-tok-1",
        "Bearer bearer-tok-1",
        "cookie-val-1",  # each cookie's value, as a server may echo one alone
        "csrf-val-1",
        "vault-tok-1",
        "probe:basic-pw-9",
        "basic-pw-9",  # decoded from a Basic header written in the file
        "pg/pw@1",
        "kw pw'1",  # libpq keyword value, quotes and escapes removed
        "redis-pw-1",  # from ${REDIS_PW}
        "prom-key-1",
        "prom-tok-1",
        "status-key-1",
    }, sorted(found)
    # Names and plain values are not secrets: masking them would garble every report.
    for plain in ("application/json", "JWT_SECRET", "jwt-secret", "payment:retry:queue", "app",
                  "2", "dump.yaml", "db.example.com"):  # fmt: skip
        assert plain not in found, plain


class _Slack(Model):
    webhook_url: str


class _PagerDuty(Model):
    routing_key: str
    url: str = "https://events.example.com/v2/enqueue"


class _Webhook(Model):
    url: str


class _Notify(Model):
    """The shape of issue 14's `notify:` settings, to show the walk is generic."""

    slack: _Slack
    pagerduty: _PagerDuty
    webhook: _Webhook
    labels: dict[str, str] = {}


def test_notifier_credentials_are_found_by_field_name() -> None:
    notify = _Notify(
        slack=_Slack(webhook_url="https://hooks.example.com/services/T0/B0/slack-secret-1"),
        pagerduty=_PagerDuty(routing_key="pd-routing-key-1"),
        webhook=_Webhook(url="https://hooks.example.com/vigil/hook-secret-1"),
        labels={"token": "not-a-field-just-data"},
    )
    found = configured_secrets(notify)
    assert found == {
        "https://hooks.example.com/services/T0/B0/slack-secret-1",
        "pd-routing-key-1",
        "https://hooks.example.com/vigil/hook-secret-1",
    }


# --- masking by value, in every encoding -----------------------------------------------------


def _encodings(value: str) -> dict[str, str]:
    """`value` as outputs may carry it, alone and inside larger texts, at every alignment."""
    raw = value.encode()
    forms = {
        "raw": f"login {value} failed",
        "quote": f"GET /x?k={quote(value, safe='')}",
        "quote, lower-case hex": "GET /x?k="
        + re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(value, safe="")),
        "quote_plus": f"k={quote_plus(value)}&b=1",
        "json": json.dumps({"echo": value}),
        "html": f"<td>{html.escape(value)}</td>",
        "repr": repr({"echo": value}),
        "Basic header": "Authorization: Basic " + base64.b64encode(b"user:" + raw).decode(),
    }
    for offset in range(3):
        data = b"x" * offset + b'{"password": "' + raw + b'", "n": 1}'
        forms[f"base64 +{offset}"] = "blob " + base64.b64encode(data).decode()
        forms[f"base64url +{offset}"] = base64.urlsafe_b64encode(data).decode().rstrip("=")
    return forms


@pytest.mark.parametrize("suffix", ["", "/@:#%", " '\"<&>\\"])
def test_the_redactor_masks_a_registered_value_in_every_encoding(suffix: str) -> None:
    sentinel = Sentinel.make("redact", suffix)
    clean = Redactor([sentinel.value])
    for label, text in _encodings(sentinel.value).items():
        assert find_leaks(sentinel, {label: text}), f"the search missed {label}"  # not vacuous
        shown = clean(text)
        assert not find_leaks(sentinel, {label: shown}), f"{label}: {shown}"
        assert MASK in shown, label


def test_masking_by_value_keeps_the_text_around_it() -> None:
    clean = Redactor(["s3cret-value"])
    assert clean("a s3cret-value b s3cret%2Dvalue c") == "a *** b s3cret%2Dvalue c"
    blob = base64.b64encode(b"prefix-s3cret-value-suffix").decode()
    masked = clean(f"before {blob} after")
    assert masked.startswith("before ") and masked.endswith(" after") and "***" in masked


def test_values_shorter_than_four_characters_are_masked_only_by_pattern() -> None:
    clean = Redactor(["abc"])
    assert clean("abc and https://u:abc@h/x") == "abc and https://u:***@h/x"


# --- the patterns' shortcut: a text without a pattern's words skips it, with the same result ----

_PATTERN_PIECES = [
    "password", "PASSWORD", "Passwd", "pwd", "token", "sEcReT", "api-key", "api_key", "sig",
    "session", "Bearer ", "Basic ", "invalid port: ", "://", "@", ":", "=", "?", "&", "'", '"',
    " ", "\n", "x", "7", "\u017f", "\u212a", "\u0131", "\u0130", "\u00df", "***",
]  # fmt: skip


def _every_pattern(text: str) -> str:
    """redact_text without its shortcut: every pattern over every text."""
    from vigil import redact

    text = redact._URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)
    text = redact._QUERY_SECRET.sub(lambda m: f"{m['head']}{MASK}", text)
    text = redact._KEYWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    text = redact._BAD_PORT.sub(redact._masked_port, text)
    return redact._BEARER.sub(lambda m: f"{m['head']}{MASK}", text)


@given(st.lists(st.sampled_from(_PATTERN_PIECES) | st.text(max_size=4), max_size=8))
@settings(max_examples=3000, deadline=None)
def test_the_shortcut_never_changes_what_is_masked(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert redact_text(text) == _every_pattern(text)


@pytest.mark.parametrize("word", ["pass", "passwd", "pwd", "token", "secret", "apikey", "api-key",
                                  "sig", "signature", "credential", "auth", "jwt", "sessionid",
                                  "PWD", "\u017fecret", "Kelvin-\u212aEY", "s\u0131g"])  # fmt: skip
@pytest.mark.parametrize("form", ["{}=v4lue", "x?{}=v4lue&y=1", "'{}': 'v4lue'", "a_{} = v4lue"])
def test_every_secret_word_reaches_its_pattern(word: str, form: str) -> None:
    text = form.format(word)
    assert redact_text(text) == _every_pattern(text)


# --- a secret astride a cut is masked before the cut ------------------------------------------


def test_a_secret_astride_the_body_excerpt_cut_is_masked_whole(
    run_suite: Callable[..., SuiteRun], http_server: Callable[..., HttpServer], tmp_path: Path
) -> None:
    """A server echoes the configured token so that the 300-character excerpt cuts it in
    two: the probe masks it by value before cutting (cut first, the first half would be
    shown, and no mask by value could find it afterwards)."""
    token = "tok-9f8e7d6c5b4a3928"
    body = ("x" * 290 + token + " tail").encode()
    service = http_server({"/health": Endpoint(503, body, content_type="text/plain")})
    env = write_env(
        tmp_path,
        "echo",
        f"""
http:
  services:
    - name: api
      url: {service.url("/health")}
      headers: {{X-Token: "${{ECHO_TOKEN}}"}}
""",
    )
    run = run_suite("--env", str(env), env={"ECHO_TOKEN": token})
    results = (run.report_dir / "results.json").read_text()
    assert "xxxxxxxx ***" in results or "xxxxxxxx***" in results, run.output[-2000:]
    for output in (run.output, results, (run.report_dir / "readiness.md").read_text()):
        assert token[:10] not in output
