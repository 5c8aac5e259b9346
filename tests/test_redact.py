"""Masking secrets in free text: URLs, libpq keywords, tokens, headers; the values a run was
given as secrets, however encoded; and control characters from a target, made inert."""

from __future__ import annotations

import pytest

from vigil.redact import Redactor, inert, redact_text, redact_url


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
